import type { CacheEntry } from './entry.js';
import type { CacheEvents } from './events.js';
import type { Counter } from './stats.js';
import type { Lease, TierScope } from './tier.js';

/**
 * What a compute function receives.
 *
 * @example
 * ```ts
 * await cache.compute('user:1', async ({ key, signal }) => (await fetch(url(key), { signal })).json());
 * ```
 */
export interface ComputeContext<T> {
  /** The caller's key. */
  readonly key: string;
  /** Aborted by a hard timeout or by `close()`: pass it on to I/O. */
  readonly signal: AbortSignal;
  /** The stale value being replaced, when there is one. */
  readonly stale: T | undefined;
}

/**
 * A function that produces the value for a key.
 *
 * @example
 * ```ts
 * const render: ComputeFn<string> = async ({ key }) => `<h1>${key}</h1>`;
 * ```
 */
export type ComputeFn<T> = (context: ComputeContext<T>) => T | Promise<T>;

/**
 * One `compute` as it travels the pipeline.
 *
 * @example
 * ```ts
 * const stage: Stage = { handle: (call, next) => call.entry ? Promise.resolve(call.entry.value) : next() };
 * ```
 */
export interface ComputeCall {
  /** The caller's key. */
  readonly key: string;
  /** The key on shared tiers and leases (namespace prefix included). */
  readonly storageKey: string;
  /** Freshness timeout of the value this call stores, ms. */
  readonly ttl: number;
  /** Grand timeout of the value this call stores, ms (>= ttl). */
  readonly maxAge: number;
  /**
   * The best entry the tiers hold: fresh, or stale but before its grand timeout; undefined
   * when there is none. Stages may replace it with a newer one they read.
   */
  entry: CacheEntry | undefined;
  /**
   * Runs the compute function now, stores its result on every tier (committed before this
   * resolves), and resolves with the value. Each call runs the function again.
   */
  run(): Promise<unknown>;
  /** Aborts the signal of the compute started by `run()`, if one is running. */
  abort(reason: Error): void;
}

/**
 * Calls the rest of the pipeline. Calling it twice in one stage is an error.
 *
 * @example
 * ```ts
 * const passThrough: Stage = { handle: (_call, next) => next() };
 * ```
 */
export type Next = () => Promise<unknown>;

/**
 * A policy's working part for one cache: it may answer early, start a background refresh
 * through the host, or call `next`.
 *
 * @example
 * ```ts
 * const logging: Stage = { async handle(call, next) { console.time(call.key); try { return await next(); } finally { console.timeEnd(call.key); } } };
 * ```
 */
export interface Stage {
  handle(call: ComputeCall, next: Next): Promise<unknown>;
}

/**
 * How often a caller waiting for another's compute looks again, besides when news of the key
 * arrives: pauses double from `first` up to `longest`, ms.
 *
 * @example
 * ```ts
 * const poll: PollOptions = { first: 5, longest: 200 };
 * ```
 */
export interface PollOptions {
  readonly first?: number;
  readonly longest?: number;
}

/**
 * What the cache lends its policies. The built-in policies use nothing else, so a user-written
 * policy can do everything they do.
 *
 * @example
 * ```ts
 * const lease = await host.tryLease(call, 10_000);
 * if (lease) try { return await next(); } finally { await host.releaseLease(lease); }
 * ```
 */
export interface PolicyHost {
  /** The cache's clock, wall-clock ms. */
  now(): number;
  /** The cache's random source, uniform in [0, 1). */
  random(): number;
  /** Whether leases coordinate this process only, every process on the host, or every machine. */
  readonly leaseScope: TierScope;
  /** Takes the per-key compute lease unless someone holds it; counts takeovers of expired ones. */
  tryLease(call: ComputeCall, ttl: number): Promise<Lease | undefined>;
  /** Whether this call holds its key's lease already (an outer stage took it): tryLease lends it. */
  holdsLease(call: ComputeCall): boolean;
  /** Releases a lease this caller holds (a no-op if it expired and someone else took it). */
  releaseLease(lease: Lease): Promise<void>;
  /** The current holder of the key's compute lease, if any. */
  leaseHolder(call: ComputeCall): Promise<Lease | undefined>;
  /** Reads the shared tiers, skipping this process's memory: the "look again" of double-checked locking. */
  readShared(call: ComputeCall): Promise<CacheEntry | undefined>;
  /**
   * Waits, without spinning, until the shared tiers hold a fresh entry for the key (resolves
   * with it) or nobody holds its lease any more (resolves undefined). It looks again as soon as
   * a change of the key is heard (a write here, the LMDB change log, the Redis channel) and at
   * the latest after a pause that doubles from `poll.first` (default 2 ms) up to `poll.longest`
   * (default 50 ms). Rejects with LeaseWaitTimeoutError after `maxWait` ms and AbortedError if
   * the cache closes. The caller counts the wait (`count('leaseWaits')`), since only it knows
   * whether waits are shared.
   */
  waitForEntry(call: ComputeCall, maxWait: number, poll?: PollOptions): Promise<CacheEntry | undefined>;
  /**
   * Recomputes the key in the background unless another caller already is (lease) or already
   * did (the entry changed since `call.entry`). Never rejects: failures are counted and emitted.
   */
  refreshInBackground(call: ComputeCall, source: 'xfetch' | 'serve-stale' | string, leaseTtl: number): void;
  /** Observes a promise whose result nobody awaits: a rejection is counted and emitted, never unhandled. */
  watchBackground(call: ComputeCall, source: string, work: Promise<unknown>): void;
  /** Adds one to a counter of `stats()`. */
  count(counter: Counter): void;
  /** Publishes an event to listeners and the diagnostics channel. */
  emit<E extends keyof CacheEvents>(name: E, event: CacheEvents[E]): void;
  /** Resolves after `ms`, or rejects with AbortedError if the cache closes first. */
  sleep(ms: number, key: string): Promise<void>;
}

/**
 * What a policy learns about the pipeline it joins, to refuse combinations that make no sense.
 *
 * @example
 * ```ts
 * check({ policies, index }) { if (policies.slice(0, index).some((p) => p.name === 'barrier')) throw new PolicyConflictError('barrier', 'mine', '...'); }
 * ```
 */
export interface PipelineShape {
  readonly policies: readonly Policy[];
  /** Position of the policy being checked, 0 = outermost. */
  readonly index: number;
  readonly ttl: number;
  readonly maxAge: number;
}

/**
 * A stampede policy: a long-lived object that composes into a pipeline, outermost first.
 * Build one with a factory (`coalesce()`, `barrier()`, ...) or write your own.
 *
 * @example
 * ```ts
 * const negativeCache = (ms: number): Policy => ({
 *   name: 'negative-cache',
 *   create: () => {
 *     const failedAt = new Map<string, number>();
 *     return {
 *       async handle(call, next) {
 *         const at = failedAt.get(call.storageKey);
 *         if (at !== undefined && Date.now() - at < ms) throw new Error('recently failed');
 *         try { return await next(); } catch (e) { failedAt.set(call.storageKey, Date.now()); throw e; }
 *       },
 *     };
 *   },
 * });
 * ```
 */
export interface Policy {
  /** Unique name within a pipeline, used in errors and stats. */
  readonly name: string;
  /** True if the stage must see fresh hits too (xfetch does); otherwise fresh hits skip the pipeline. */
  readonly seesFreshHits?: boolean;
  /** A grand timeout this policy needs entries kept for (serveStale's maxAge). */
  readonly maxAge?: number;
  /** Throws PolicyConflictError or InvalidOptionError if the pipeline makes no sense with this policy in it. */
  check?(shape: PipelineShape): void;
  /** Creates this policy's state for one cache. Called once per cache. */
  create(host: PolicyHost): Stage;
}
