import { isFresh } from './entry.js';
import { types } from 'node:util';
import { HerdcacheError, InvalidOptionError, PolicyConflictError } from './errors.js';
import type { ComputeCall, Policy, PolicyHost, Stage } from './policy.js';

/**
 * A pipeline composed once from policies: `run` sends a call through every stage, outermost
 * first, ending in the traditional-TTL step (fresh entry: return it; otherwise compute).
 *
 * @example
 * ```ts
 * const pipeline = composePipeline([coalesce()], host, new WeakMap(), 1_000, 1_000);
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
 *
 * @example
 * ```ts
 * composePipeline([serveStale({ maxAge: 60_000 }), xfetch(), barrier()], host, stages, 1_000, 1_000);
 * ```
 */
export function composePipeline(
  policies: readonly Policy[],
  host: PolicyHost,
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
  });
  const maxAge = policies.reduce((max, p, index) => Math.max(max, userCode(index, 'reading maxAge', () => p.maxAge) ?? 0), baseMaxAge);
  if (!Number.isFinite(maxAge)) throw new InvalidOptionError('maxAge', `a policy's grand timeout must be a finite number of ms, got ${maxAge}`);
  if (maxAge < ttl) throw new InvalidOptionError('maxAge', `the grand timeout (${maxAge} ms) must not be shorter than ttl (${ttl} ms)`);
  policies.forEach((policy, index) => userCode(index, 'its check', () => policy.check?.({ policies, index, ttl, maxAge })));

  const composed = policies.map((policy, index) => {
    let stage = stages.get(policy);
    if (stage === undefined) stages.set(policy, (stage = userCode(index, 'create()', () => policy.create(host))));
    return stage;
  });
  const seesFreshHits = policies.some((p, index) => userCode(index, 'reading seesFreshHits', () => p.seesFreshHits) === true);
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
        if (called) return Promise.reject(new Error(`policy "${policies[i]?.name}" called next() twice`));
        called = true;
        return dispatch(i + 1);
      });
    };
    return dispatch(0);
  };
  return { policies, seesFreshHits, maxAge, run };
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
