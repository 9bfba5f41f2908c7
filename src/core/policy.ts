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
 * What a policy may publish with `host.emit` under a name it declared in {@link Policy.events}.
 * Listeners receive it as a `policy` event, with the policy's name and the event's.
 *
 * @example
 * ```ts
 * host.emit('failure-served', { key: call.key, detail: { age: 120 } });
 * ```
 */
export interface PolicyEventDetail {
  readonly key?: string;
  readonly detail?: unknown;
}

/**
 * The primitives the cache lends each policy: its clock and random source, the key's compute
 * lease, the shared tiers, news of a key, background work, counters and events. The host names
 * no policy; what a policy needs beyond these is in the policy kit (`takeLease`,
 * `waitForValue`, `refreshInBackground`, `KeyLocks`), built on these alone, so a user-written
 * policy can do everything the built-ins do.
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
  /** True once the cache closed: start no new background work. */
  readonly closed: boolean;
  /**
   * Takes the per-key compute lease unless someone holds it; counts takeovers of expired ones.
   * Not re-entrant: a call asking twice waits for itself (the kit's `takeLease` lends instead).
   */
  tryLease(call: ComputeCall, ttl: number): Promise<Lease | undefined>;
  /** Releases a lease (a no-op if it expired and someone else took it). Never rejects. */
  releaseLease(lease: Lease): Promise<void>;
  /** The current holder of the key's compute lease, if any. */
  leaseHolder(call: ComputeCall): Promise<Lease | undefined>;
  /** Reads the shared tiers, skipping this process's memory: the "look again" of double-checked locking. */
  readShared(call: ComputeCall): Promise<CacheEntry | undefined>;
  /**
   * Resolves after `ms`, or sooner when news of the key arrives (a write here, the LMDB change
   * log, the Redis channel, a lease released elsewhere); rejects with AbortedError if the cache
   * closes. What a waiter sleeps on between two looks.
   */
  awaitNews(call: ComputeCall, ms: number): Promise<void>;
  /**
   * Observes work whose result nobody awaits: close() waits for it to settle, and a rejection is
   * counted in `backgroundErrors` and emitted as `background-error`, never left unhandled.
   */
  watchBackground(call: ComputeCall, source: string, work: Promise<unknown>): void;
  /**
   * Adds one to a counter of `stats()`: a built-in one, or one this policy declared in
   * {@link Policy.counters} (shown in `stats().policies[name]`). Throws InvalidOptionError for
   * any other name.
   */
  count(counter: Counter | (string & {})): void;
  /** Publishes a built-in event to listeners and the diagnostics channel. */
  emit<E extends keyof CacheEvents>(name: E, event: CacheEvents[E]): void;
  /** Publishes an event this policy declared in {@link Policy.events}, as a `policy` event. */
  emit(name: string, event: PolicyEventDetail): void;
  /** Resolves after `ms`, or rejects with AbortedError if the cache closes first. */
  sleep(ms: number, key: string): Promise<void>;
}

/**
 * What a policy does with the calls it sees, declared so that the pipeline can refuse an order in
 * which one policy would keep another from working, whoever wrote them:
 * - a policy that `answersFreshHits` must not sit outside one that `seesFreshHits`;
 * - a policy that `missesStale` (computes on a stale entry) must not sit outside one that `servesStale`.
 *
 * @example
 * ```ts
 * const traits: PolicyTraits = { answersFreshHits: true, missesStale: true }; // barrier's
 * ```
 */
export interface PolicyTraits {
  /** The stage must see fresh hits too (xfetch does); otherwise fresh hits skip the pipeline. */
  readonly seesFreshHits?: boolean;
  /** The stage answers a fresh entry itself, so the stages inside it never see it. */
  readonly answersFreshHits?: boolean;
  /** The stage answers a stale entry (before its grand timeout) without calling next. */
  readonly servesStale?: boolean;
  /** The stage treats a stale entry as a miss and has it computed. */
  readonly missesStale?: boolean;
}

/**
 * What a policy learns about the pipeline it joins, to refuse combinations that make no sense.
 *
 * @example
 * ```ts
 * check({ ttl, maxAge }) { if (maxAge <= ttl) throw new InvalidOptionError('mine', 'needs stale values: compose serveStale({ maxAge })'); }
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
  /** What the policy does with the calls it sees: the pipeline refuses orders that conflict. */
  readonly traits?: PolicyTraits;
  /** A grand timeout this policy needs entries kept for (serveStale's maxAge). */
  readonly maxAge?: number;
  /** Counters of its own, shown (from 0) in `stats().policies[name]`, counted with `host.count`. */
  readonly counters?: readonly string[];
  /** Events of its own, published with `host.emit` and delivered as `policy` events. */
  readonly events?: readonly string[];
  /** Throws PolicyConflictError or InvalidOptionError if the pipeline makes no sense with this policy in it. */
  check?(shape: PipelineShape): void;
  /** Creates this policy's state for one cache. Called once per cache. */
  create(host: PolicyHost): Stage;
}
