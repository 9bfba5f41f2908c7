// What the Redis tier offers beyond the shared-tier contract: its status, leases every machine
// sees, and a way to wait for the connection at start-up (the implementation is tier.ts).
import type { CacheEntry } from '../../core/entry.js';
import type { Invalidation, SharedRead, SharedTier, WriteCondition, WriteOutcome } from '../../core/tier.js';
import type { CircuitState } from './breaker.js';
import type { RedisLeaseStore } from './leases.js';

/**
 * What {@link RedisTier.status} reports.
 *
 * @example
 * ```ts
 * const { connected, circuit, failures } = tier.status();
 * ```
 */
export interface RedisTierStatus {
  /** The command connection is up. */
  readonly connected: boolean;
  /** The change stream is followed: changes from other machines reach this process. */
  readonly subscribed: boolean;
  /** Keys (or prefixes) whose failed write waits to be repaired on Redis. */
  readonly repairsPending: number;
  readonly circuit: CircuitState;
  /** Consecutive command timeouts counted by the breaker. */
  readonly failures: number;
}

/**
 * The Redis tier: a {@link Tier} with cluster-wide leases, a status, and a way to wait for the
 * connection at start-up.
 *
 * @example
 * ```ts
 * const redis = redisTier({ url: process.env.REDIS_URL });
 * const cache = createCache({ tiers: [memoryTier(), lmdbTier(), redis], policies: [barrier()] });
 * await redis.ready();
 * ```
 */
export interface RedisTier extends SharedTier {
  readonly leases: RedisLeaseStore;
  get(key: string): Promise<CacheEntry | undefined>;
  read(key: string): Promise<SharedRead>;
  set(key: string, entry: CacheEntry, bytes?: number, condition?: WriteCondition): Promise<WriteOutcome>;
  delete(key: string, condition?: WriteCondition): Promise<WriteOutcome>;
  clear(prefix: string, condition?: WriteCondition): Promise<WriteOutcome>;
  onInvalidation(listener: (change: Invalidation) => void): () => void;
  onLeaseRelease(listener: (key: string) => void): () => void;
  /** Connection, subscription and circuit state now. */
  status(): RedisTierStatus;
  /**
   * Resolves once the tier is attached, connected and subscribed; rejects with StorageError after
   * `timeout` ms (default 5 000) or if the tier closes. The cache works without waiting: commands
   * wait for the first connection attempt (at most `connectTimeout`), and if Redis cannot be
   * reached the cache serves from its local tiers and takes machine-wide leases.
   */
  ready(timeout?: number): Promise<void>;
}

/**
 * Longest storage key the Redis tier accepts, UTF-8 bytes: keys travel in every invalidation
 * message. (With an LMDB tier in the stack, LMDB's lower limit applies first.)
 *
 * @example
 * ```ts
 * if (Buffer.byteLength(key) > REDIS_MAX_KEY_BYTES) key = sha256(key);
 * ```
 */
export const REDIS_MAX_KEY_BYTES = 8_192;
