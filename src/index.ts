import { types } from 'node:util';
import { Cache } from './core/cache.js';
import { InvalidOptionError } from './core/errors.js';
import { optionsObject, type EngineOptions } from './core/options.js';
import type { Tier } from './core/tier.js';
import { lmdbTier, type LmdbTierOptions } from './tiers/lmdb/tier.js';
import { memoryTier, type MemoryTierOptions } from './tiers/memory/tier.js';

/**
 * Options of {@link createCache}. Everything is optional: `createCache()` gives a memory tier
 * over an LMDB tier in `./.herdcache` (or `HERDCACHE_DIR`), traditional TTL and a 60 s ttl.
 *
 * @example
 * ```ts
 * createCache({ ttl: 1_000, namespace: 'web', memory: { maxEntries: 5_000 }, lmdb: { path: '/var/cache/web' } });
 * ```
 */
export interface CacheOptions extends Partial<EngineOptions> {
  /** Options of the default memory tier; `false` for none. Not with `tiers`. */
  readonly memory?: MemoryTierOptions | false;
  /** Options of the default LMDB tier; `false` for none. Not with `tiers`. */
  readonly lmdb?: LmdbTierOptions | false;
}

/**
 * Creates a cache. With no options: memory (10 000 entries) over LMDB in `./.herdcache`
 * (override with `lmdb.path` or `HERDCACHE_DIR`), ttl 60 s, traditional TTL.
 *
 * @example
 * ```ts
 * import { createCache, serveStale, xfetch, barrier } from 'herdcache';
 * const cache = createCache({ ttl: 1_000, policies: [serveStale({ maxAge: 60_000 }), xfetch(), barrier()] });
 * const html = await cache.compute('landing', () => renderLandingPage());
 * ```
 */
export function createCache(options: CacheOptions = {}): Cache {
  optionsObject('createCache', options);
  const { memory, lmdb, tiers, ...rest } = options;
  if (tiers !== undefined && (memory !== undefined || lmdb !== undefined)) {
    throw new InvalidOptionError('tiers', 'was given together with memory/lmdb options: put those options into memoryTier()/lmdbTier() inside tiers');
  }
  for (const [name, value] of [['memory', memory], ['lmdb', lmdb]] as const) {
    if (value === false || value === undefined) continue;
    if (types.isProxy(value) || typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new InvalidOptionError(name, `must be the options of the default ${name} tier (an object) or false for none`);
    }
  }
  if (tiers !== undefined && !Array.isArray(tiers)) throw new InvalidOptionError('tiers', 'must be an array of tiers, nearest first');
  const chosen: Tier[] = tiers === undefined ? [] : [...tiers];
  if (tiers === undefined) {
    if (memory !== false) chosen.push(memoryTier(memory ?? {}));
    if (lmdb !== false) chosen.push(lmdbTier(lmdb ?? {}));
  }
  return new Cache({ ...rest, tiers: chosen });
}

export { Cache } from './core/cache.js';
export type { ComputeOptions, MemoizeOptions, SetOptions } from './core/memoize.js';
export type { CacheEntry } from './core/entry.js';
export { isFresh, isServable, makeEntry } from './core/entry.js';
// Every error class, and `errors`, which gathers them.
export * from './core/errors.js';
export type { CacheEvents, Listener } from './core/events.js';
export { DIAGNOSTICS_CHANNEL } from './core/events.js';
export type { Clock, RandomSource } from './core/clock.js';
export { DEFAULT_TTL, type EngineOptions } from './core/options.js';
export type { ComputeCall, ComputeContext, ComputeFn, Next, PipelineShape, Policy, PolicyEventDetail, PolicyHost, PolicyTraits, Stage } from './core/policy.js';
export type { CacheStats, Counter } from './core/stats.js';
export type { Invalidation, Lease, LeaseGrant, LeaseStore, MaybePromise, ProcessTier, SharedTier, Tier, TierBase, TierHost, TierReport, TierScope } from './core/tier.js';
export { memoryTier, DEFAULT_MAX_ENTRIES, type MemoryTierOptions } from './tiers/memory/tier.js';
export { lmdbTier, defaultLmdbPath, LMDB_DEFAULTS, LMDB_MAX_KEY_BYTES, type LmdbTierOptions } from './tiers/lmdb/tier.js';
export { ttl } from './policies/ttl.js';
export { coalesce } from './policies/coalesce.js';
export { barrier, type BarrierOptions } from './policies/barrier.js';
export { xfetch, shouldRecomputeEarly, type XFetchOptions } from './policies/xfetch.js';
export { serveStale, type ServeStaleOptions } from './policies/serve-stale.js';
export { timeouts, type TimeoutOptions } from './policies/timeouts.js';
export { giveLease, holdsLease, KeyLocks, POLL_DEFAULTS, refreshInBackground, takeLease, waitForValue, type PollOptions, type RefreshOptions } from './policies/kit/index.js';
export { redisTier, REDIS_DEFAULTS, REDIS_MAX_KEY_BYTES, type CircuitState, type RedisLeaseStore, type RedisTier, type RedisTierOptions, type RedisTierStatus } from './tiers/redis/tier.js';
