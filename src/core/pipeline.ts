import { types } from 'node:util';
import { isFresh } from './entry.js';
import { HerdcacheError, InvalidOptionError, PolicyConflictError, PolicyContractError } from './errors.js';
import { isBuiltInEvent } from './events.js';
import type { PolicyHosts } from './host.js';
import type { ComputeCall, Policy, PolicyTraits, Stage } from './policy.js';
import type { ComputeOptions, SetOptions } from './memoize.js';
import { assertGrandTimeout, callDurations } from './options.js';
import { isCounter } from './stats.js';

/**
 * A pipeline composed once from policies: `run` sends a call through every stage, outermost
 * first, ending in the traditional-TTL step (fresh entry: return it; otherwise compute).
 *
 * @example
 * ```ts
 * const pipeline = composePipeline([coalesce()], createPolicyHosts(engine), new WeakMap(), 1_000, 1_000);
 * await pipeline.run(call);
 * ```
 */
export interface Pipeline {
  readonly policies: readonly Policy[];
  /** True if some stage must see fresh hits (otherwise the cache answers them before the pipeline). */
  readonly seesFreshHits: boolean;
  /** The grand timeout entries stored through this pipeline keep (>= ttl). */
  readonly maxAge: number;
  run(call: ComputeCall): Promise<unknown>;
}


/**
 * Checks and composes policies into a {@link Pipeline}. Stages are created once per policy
 * object and cache (`stages` remembers them), so a policy shared by several pipelines keeps one
 * state: a coalesce() used by the cache and by a per-call override still coalesces together.
 * Each policy is created with its own view of the host (`hosts.forPolicy`). Orders in which one policy keeps
 * another from working are refused from their declared traits (see {@link PolicyTraits}).
 *
 * @example
 * ```ts
 * composePipeline([serveStale({ maxAge: 60_000 }), xfetch(), barrier()], hosts, stages, 1_000, 1_000);
 * ```
 */
export function composePipeline(
  policies: readonly Policy[],
  hosts: PolicyHosts,
  stages: WeakMap<Policy, Stage>,
  ttl: number,
  baseMaxAge: number,
): Pipeline {
  if (types.isProxy(policies) || !Array.isArray(policies)) throw new InvalidOptionError('policies', 'must be an array of policies, outermost first');
  const names = new Map<string, number>();
  policies.forEach((policy: unknown, index) => {
    const p = policy as Partial<Policy> | null;
    const isPolicy = !types.isProxy(p) && typeof p === 'object' && p !== null && userCode(index, 'reading it', () => typeof p.create === 'function' && typeof p.name === 'string');
    if (!isPolicy) {
      throw new InvalidOptionError(`policies[${index}]`, 'is not a policy: build one with ttl(), coalesce(), barrier(), xfetch(), serveStale() or timeouts()');
    }
    const name = (policy as Policy).name;
    if (names.has(name)) throw new PolicyConflictError(name, name, 'the same policy appears twice in one pipeline; keep one');
    names.set(name, index);
    userCode(index, 'reading its declarations', () => checkDeclarations(policy as Policy));
  });
  const maxAge = policies.reduce((max, p, index) => Math.max(max, userCode(index, 'reading maxAge', () => p.maxAge) ?? 0), baseMaxAge);
  if (!Number.isFinite(maxAge)) throw new InvalidOptionError('maxAge', `a policy's grand timeout must be a finite number of ms, got ${maxAge}`);
  assertGrandTimeout('maxAge', maxAge, ttl);
  const traits = policies.map((p, index) => userCode(index, 'reading traits', () => p.traits) ?? {});
  policies.forEach((policy, index) => {
    userCode(index, 'its check', () => policy.check?.({ policies, index, ttl, maxAge }));
    refuseConflicts(policies, traits, index);
  });

  const composed = policies.map((policy, index) => {
    let stage = stages.get(policy);
    if (stage === undefined) stages.set(policy, (stage = userCode(index, 'create()', () => policy.create(hosts.forPolicy(policy)))));
    return stage;
  });
  const seesFreshHits = traits.some((t) => t.seesFreshHits === true);
  const host = hosts.base;
  const terminal = (call: ComputeCall): Promise<unknown> => {
    const entry = call.entry;
    return entry !== undefined && isFresh(entry, host.now()) ? Promise.resolve(entry.value) : call.run();
  };
  if (composed.length === 0) return { policies, seesFreshHits, maxAge, run: terminal };

  const run = (call: ComputeCall): Promise<unknown> => {
    const dispatch = (i: number): Promise<unknown> => {
      const stage = composed[i];
      if (stage === undefined) return terminal(call);
      let called = false;
      return stage.handle(call, () => {
        if (called) return Promise.reject(new PolicyContractError(policies[i]?.name ?? '', 'called next() twice for one call: call it at most once'));
        called = true;
        return dispatch(i + 1);
      });
    };
    return dispatch(0);
  };
  return { policies, seesFreshHits, maxAge, run };
}

/**
 * The orders in which an outer policy keeps an inner one from doing its job, judged from their
 * traits: whoever wrote them, a barrier-like policy is refused outside serveStale as barrier is.
 */
function refuseConflicts(policies: readonly Policy[], traits: readonly PolicyTraits[], inner: number): void {
  const innerName = policies[inner]!.name;
  const outer = (test: (t: PolicyTraits) => boolean | undefined): string | undefined => {
    const at = traits.slice(0, inner).findIndex((t) => test(t) === true);
    return at === -1 ? undefined : policies[at]!.name;
  };
  if (traits[inner]!.servesStale === true) {
    const blocker = outer((t) => t.missesStale);
    if (blocker !== undefined) throw new PolicyConflictError(blocker, innerName, `${blocker} would treat a stale value as a miss before ${innerName} could serve it: put ${innerName} first`);
  }
  if (traits[inner]!.seesFreshHits === true) {
    const blocker = outer((t) => t.answersFreshHits);
    if (blocker !== undefined) throw new PolicyConflictError(blocker, innerName, `${blocker} answers fresh hits before ${innerName} can see them: put ${innerName} first`);
  }
}

/** A policy's own counters and events: names of its own, not the cache's. */
function checkDeclarations(policy: Policy): void {
  for (const [what, names, builtIn] of [['counters', policy.counters, isCounter], ['events', policy.events, isBuiltInEvent]] as const) {
    if (names === undefined) continue;
    if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || n === '')) {
      throw new InvalidOptionError(`${policy.name}.${what}`, 'must be an array of non-empty names');
    }
    const taken = names.find((n: string) => builtIn(n));
    if (taken !== undefined) throw new InvalidOptionError(`${policy.name}.${what}`, `"${taken}" is one of the cache's own: count or emit it without declaring it`);
  }
}

/**
 * Runs a policy's own code at composition; a failure that is not already one of ours becomes an
 * InvalidOptionError naming the policy, keeping the original as its cause.
 */
function userCode<T>(index: number, what: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof HerdcacheError) throw error;
    const wrapped = new InvalidOptionError(`policies[${index}]`, `${what} threw: ${error instanceof Error ? error.message : 'a non-error value'}`);
    Object.defineProperty(wrapped, 'cause', { value: error, configurable: true, writable: true });
    throw wrapped;
  }
}

/**
 * The pipelines of one cache: its own, and one per distinct `policies` array a call passes,
 * composed on first use and kept while the array lives. Stages are shared by every pipeline of
 * the cache, so one policy object keeps one state wherever it appears.
 *
 * @example
 * ```ts
 * const pipelines = new Pipelines([barrier()], hosts, 1_000, 1_000);
 * pipelines.for(options.policies).run(call);
 * ```
 */
export class Pipelines {
  readonly main: Pipeline;
  private readonly byList = new WeakMap<readonly Policy[], Pipeline>();
  private readonly stages = new WeakMap<Policy, Stage>();

  constructor(policies: readonly Policy[], private readonly hosts: PolicyHosts, private readonly ttl: number, baseMaxAge: number) {
    this.main = composePipeline(policies, hosts, this.stages, ttl, baseMaxAge);
  }

  /** The ttl and grand timeout of one call's entry, stored through `pipeline` (see callDurations). */
  durations(options: SetOptions | undefined, pipeline: Pipeline = this.main): { ttl: number; maxAge: number } {
    return callDurations(options, this.ttl, pipeline.maxAge);
  }

  /** Throws now what every call with these options would throw: bad durations, or policies that do not compose. */
  prepare(options: ComputeOptions): void {
    this.durations(options);
    this.for(options.policies);
  }

  /** The cache's pipeline, or the one a call's own `policies` compose into. */
  for(policies: readonly Policy[] | undefined): Pipeline {
    if (policies === undefined) return this.main;
    let pipeline = this.byList.get(policies);
    if (pipeline === undefined) {
      pipeline = composePipeline(policies, this.hosts, this.stages, this.ttl, this.main.maxAge);
      this.byList.set(policies, pipeline);
    }
    return pipeline;
  }
}
