import type { Clock } from './clock.js';
import type { CacheEntry } from './entry.js';

/**
 * Who shares a tier: `process` (one process's memory), `machine` (every process on the host,
 * like an LMDB file) or `cluster` (every machine, like Redis).
 *
 * @example
 * ```ts
 * const scope: TierScope = 'machine';
 * ```
 */
export type TierScope = 'process' | 'machine' | 'cluster';

/**
 * A value or a promise of it: local tiers answer synchronously, remote ones asynchronously.
 *
 * @example
 * ```ts
 * const read: MaybePromise<number> = 1;
 * ```
 */
export type MaybePromise<T> = T | Promise<T>;

/**
 * What happened inside a tier that the cache counts in `stats()` and reports as an event.
 *
 * @example
 * ```ts
 * host.report({ type: 'corrupt', key: 'k' });
 * ```
 */
export type TierReport =
  | { readonly type: 'corrupt'; readonly key: string }
  | { readonly type: 'corrupt-file'; readonly path: string; readonly reason: string; readonly quarantinedTo: string }
  | { readonly type: 'evict'; readonly key: string; readonly cause: 'size' | 'expired' }
  | { readonly type: 'error'; readonly operation: string; readonly error: unknown };

/**
 * What the owning cache gives a tier when it attaches it.
 *
 * @example
 * ```ts
 * tier.attach({ clock: Date.now, report: (r) => console.log(r) });
 * ```
 */
export interface TierHost {
  /** The cache's clock: tiers judge expiry with it. */
  readonly clock: Clock;
  /** Counts and publishes something that happened inside the tier. Never throws. */
  report(report: TierReport): void;
  /**
   * The {@link Tier.site} of the machine tier under the cache, once every tier is attached
   * (undefined without one). A cluster tier sends it with its change messages: processes that
   * share that storage with the writer leave alone the copy the writer itself just replaced.
   */
  readonly site?: string | undefined;
  /** The machine tier's checkpoints, for a cluster tier attached above one. */
  readonly checkpoints?: Checkpoints | undefined;
}

/**
 * A change made by another process or machine, so that the tiers above can drop their copy.
 * `key` is a storage key (namespace prefix included); `prefix` means "every key starting with".
 *
 * @example
 * ```ts
 * const change: Invalidation = { key: '0::user:1' };
 * ```
 */
export type Invalidation = ({ readonly key: string } | { readonly prefix: string }) & {
  /** The writer's {@link TierHost.site}, when a cluster tier carried it. */
  readonly site?: string;
  /**
   * The version the change got on the cluster tier that reported it. Nearer shared tiers drop
   * their copy only if it is older than this, so a newer write this machine already holds stays.
   */
  readonly version?: number;
};

/**
 * What a shared tier read, and where its change counter stood when it read: the basis of a
 * conditional write (see `src/core/coherence.ts`).
 *
 * @example
 * ```ts
 * const { entry, observed } = await tier.read!('0::k');
 * await tier.set('0::k', next, undefined, { unchangedSince: observed });
 * ```
 */
export interface SharedRead {
  /** The unexpired entry, or undefined. */
  readonly entry: CacheEntry | undefined;
  /** The tier's change counter in the same snapshot: a later change of the key has a higher version. */
  readonly observed: number;
  /** The version of the entry itself on this tier (cluster tiers: the order every machine agrees on). */
  readonly version?: number;
}

/**
 * The condition a shared tier checks inside the transaction (LMDB) or script (Redis) that
 * commits a write; a write whose condition fails changes nothing.
 *
 * @example
 * ```ts
 * await lmdb.set(storageKey, entry, undefined, { unchangedSince: observedAtStart, clusterVersion: 42 });
 * ```
 */
export interface WriteCondition {
  /** Refuse if the key was set, deleted or cleared on this tier after this observation. */
  readonly unchangedSince?: number;
  /**
   * The version the write got on the cluster tier (written first). Refuse if this tier already
   * holds the key at this cluster version or a later one: cluster order wins on every machine.
   */
  readonly clusterVersion?: number;
}

/**
 * What a conditional write did: `applied` false means a newer change of the key was committed
 * first and nothing was written. `version` is the version the write got on this tier.
 *
 * @example
 * ```ts
 * const outcome = await tier.set(key, entry, undefined, { unchangedSince: 7 });
 * if (outcome && !outcome.applied) console.log('superseded');
 * ```
 */
export interface WriteOutcome {
  readonly applied: boolean;
  readonly version?: number;
}

/**
 * Small named values a machine tier keeps in its file for the tiers above it (the cluster
 * tier's position in the change stream survives a restart of every process this way).
 *
 * @example
 * ```ts
 * const last = checkpoints.get('redis:herdcache:');
 * await checkpoints.put('redis:herdcache:', '1700000000000-0');
 * ```
 */
export interface Checkpoints {
  get(name: string): string | undefined;
  /** Commits after every write queued before it on the same tier. */
  put(name: string, value: string): Promise<void>;
}

/**
 * A lease: the right to compute one key, with an owner token and an expiry (wall-clock ms).
 *
 * @example
 * ```ts
 * const lease: Lease = { key: '0::page', token: 'b7c1...', expiresAt: Date.now() + 10_000 };
 * ```
 */
export interface Lease {
  readonly key: string;
  readonly token: string;
  readonly expiresAt: number;
}

/**
 * The answer to a lease request: granted (perhaps taking over an expired lease), or refused
 * with the current holder.
 *
 * @example
 * ```ts
 * const grant = await store.acquire('0::page', token, 10_000);
 * if (grant.acquired && grant.tookOver) console.log('previous holder died or overran');
 * ```
 */
export type LeaseGrant =
  | { readonly acquired: true; readonly lease: Lease; readonly tookOver: boolean }
  | { readonly acquired: false; readonly holder: Lease };

/**
 * Leases held where every competing caller can see them. Acquisition is atomic; only the owner
 * token releases; an expired lease may be taken over.
 *
 * @example
 * ```ts
 * const grant = await store.acquire(key, token, 5_000);
 * try { ... } finally { if (grant.acquired) await store.release(key, token); }
 * ```
 */
export interface LeaseStore {
  /** Who the lease protects against: the processes of one host, or every machine. */
  readonly scope: TierScope;
  acquire(key: string, token: string, ttl: number): Promise<LeaseGrant>;
  /** Releases only if `token` still owns the lease; resolves to whether it did. */
  release(key: string, token: string): Promise<boolean>;
  /** The current unexpired holder, if any. */
  holder(key: string): MaybePromise<Lease | undefined>;
}

/**
 * What every storage tier implements, whatever its scope. A tier stores {@link CacheEntry}
 * records under string keys, never returns an entry at or past its `staleUntil`, treats an
 * undecodable record as a miss (reporting it), and never leaves a rejected promise unobserved.
 *
 * @example
 * ```ts
 * const common: TierBase = memoryTier();
 * ```
 */
export interface TierBase {
  /** Short name used in stats and errors, e.g. `memory`, `lmdb`. */
  readonly name: string;
  readonly scope: TierScope;
  /** Longest key in UTF-8 bytes this tier accepts (Infinity if unbounded). */
  readonly maxKeyBytes: number;
  /** Called once by the cache that owns the tier, before any other call. */
  attach(host: TierHost): void;
  get(key: string): MaybePromise<CacheEntry | undefined>;
  /**
   * Stores the entry. `bytes` is the encoded size of the value when the cache measured it
   * (undefined when it did not: a tier that needs it measures it).
   */
  set(key: string, entry: CacheEntry, bytes?: number, condition?: WriteCondition): MaybePromise<WriteOutcome | void>;
  delete(key: string, condition?: WriteCondition): MaybePromise<WriteOutcome | void>;
  /** Deletes every key that starts with `prefix` ('' for all). */
  clear(prefix: string, condition?: WriteCondition): MaybePromise<WriteOutcome | void>;
  /** Number of entries currently held, when cheap to know. */
  size?(): number;
  close(): Promise<void>;
}

/**
 * A tier of one process (memory): it takes the caller's key, answers synchronously, and keeps
 * no transaction, so the cache's own ledger decides its copies (see coherence.ts).
 *
 * @example
 * ```ts
 * const tier: ProcessTier = memoryTier({ maxEntries: 10_000 });
 * tier.attach({ clock: Date.now, report: () => {} });
 * tier.set('k', makeEntry('v', Date.now(), 1_000, 1_000, 0));
 * tier.getSync('k')?.value; // 'v'
 * ```
 */
export interface ProcessTier extends TierBase {
  readonly scope: 'process';
  readonly getSync: (key: string) => CacheEntry | undefined;
  /**
   * The stored record without the expiry check. The cache's hit path checks freshness itself
   * (fresh implies unexpired), which saves a clock read on every hit.
   */
  readonly peekSync?: (key: string) => CacheEntry | undefined;
}

/**
 * A tier shared by processes (`machine`: LMDB) or machines (`cluster`: Redis). It takes the
 * storage key (namespace prefix included), decides each write against what it has committed
 * (`condition`, in the same transaction, resolving with a {@link WriteOutcome}: every write gets
 * a new version; a delete leaves a tombstone that refuses the late store of an older compute),
 * and publishes the changes made elsewhere.
 *
 * @example
 * ```ts
 * const tier: SharedTier = lmdbTier({ path: './.herdcache' });
 * const stop = tier.onInvalidation?.((change) => console.log(change));
 * ```
 */
export interface SharedTier extends TierBase {
  readonly scope: 'machine' | 'cluster';
  /** Synchronous read, on tiers that can (LMDB). */
  readonly getSync?: (key: string) => CacheEntry | undefined;
  /** A read with the tier's change counter (see {@link SharedRead}). */
  read?(key: string): MaybePromise<SharedRead>;
  /** Where the tier's change counter stands now, on tiers that can say synchronously (LMDB). */
  observe?(): number;
  /** Leases, held where competing processes see them. */
  readonly leases?: LeaseStore;
  /** Adds a listener of changes made elsewhere (other processes or machines); returns how to remove it. */
  onInvalidation?(listener: (change: Invalidation) => void): () => void;
  /**
   * Adds a listener of leases released elsewhere, with the storage key; returns how to remove it.
   * A holder that gives up without storing (its compute threw) leaves nothing else to hear: this
   * lets the callers waiting on it look again at once instead of at their next poll.
   */
  onLeaseRelease?(listener: (key: string) => void): () => void;
  /** On machine tiers: an id of the storage itself, the same in every process that opens it. */
  site?(): string;
  /** On machine tiers: named values kept in the file (see {@link Checkpoints}). */
  readonly checkpoints?: Checkpoints;
}

/**
 * The contract every storage tier implements: a process tier or a shared one, told apart by
 * `scope`, so that each may have only the members its scope can honour.
 *
 * @example
 * ```ts
 * const tiers: Tier[] = [memoryTier(), lmdbTier()];
 * ```
 */
export type Tier = ProcessTier | SharedTier;
