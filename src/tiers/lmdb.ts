import { randomBytes } from 'node:crypto';
import { isEntryRecord, type CacheEntry } from '../core/entry.js';
import { InvalidKeyError, InvalidOptionError, StorageError } from '../core/errors.js';
import type { Invalidation, Lease, LeaseGrant, LeaseStore, Tier, TierHost } from '../core/tier.js';
import { acquireEnvironment, countEntries, releaseEnvironment, transact, type ChangeRecord, type LmdbEnvironment } from './lmdb-env.js';
import { sweepEnvironment } from './lmdb-sweep.js';

/**
 * Options of the LMDB tier.
 *
 * @example
 * ```ts
 * lmdbTier({ path: '/var/cache/myapp', maxBytes: 512 * 1024 * 1024, syncInterval: 10 });
 * ```
 */
export interface LmdbTierOptions {
  /** Directory of the LMDB environment. Default: `HERDCACHE_DIR`, else `./.herdcache`. */
  readonly path?: string;
  /** Size bound: past it the sweep evicts expired entries, then the oldest. Default 1 GiB. */
  readonly maxBytes?: number;
  /**
   * How often this process looks for other processes' writes to drop its memory copies, ms.
   * A `set`/`delete` elsewhere is seen here within this bound plus the writer's commit time.
   * Default 20.
   */
  readonly syncInterval?: number;
  /** How often the background sweep runs, ms. Default 1 000. */
  readonly sweepInterval?: number;
}

/**
 * LMDB's longest key with the default page size, bytes (the tier accepts 11 fewer: see below).
 *
 * @example
 * ```ts
 * LMDB_MAX_KEY_BYTES; // 1978
 * ```
 */
export const LMDB_MAX_KEY_BYTES = 1978;
/**
 * What the by-age index adds around a storage key (`[storedAt, key]` in ordered-binary: 10
 * bytes, 11 when the key starts with a control character), so the tier's own limit is lower.
 */
const INDEX_KEY_OVERHEAD = 11;
/**
 * Defaults of {@link LmdbTierOptions}.
 *
 * @example
 * ```ts
 * lmdbTier({ syncInterval: LMDB_DEFAULTS.syncInterval / 2 });
 * ```
 */
export const LMDB_DEFAULTS = { maxBytes: 1024 * 1024 * 1024, syncInterval: 20, sweepInterval: 1_000 } as const;

/**
 * The directory used when no path is given: `HERDCACHE_DIR`, else `./.herdcache`.
 *
 * @example
 * ```ts
 * defaultLmdbPath(); // './.herdcache'
 * ```
 */
export function defaultLmdbPath(): string {
  const fromEnv = process.env['HERDCACHE_DIR'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : './.herdcache';
}

function positive(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(`lmdbTier.${option}`, `must be a positive finite number, got ${String(value)}`);
  }
  return value;
}

/**
 * The machine-wide L2 tier: one LMDB file shared by every process on the host. Reads are
 * synchronous memory-mapped lookups; writes are batched asynchronous transactions; leases for
 * the barrier live here; a change log lets every process drop copies that others replaced.
 *
 * @example
 * ```ts
 * const cache = createCache({ tiers: [memoryTier(), lmdbTier({ path: '/tmp/app-cache' })] });
 * ```
 */
export function lmdbTier(options: LmdbTierOptions = {}): Tier {
  const path = options.path ?? defaultLmdbPath();
  if (typeof path !== 'string' || path === '') throw new InvalidOptionError('lmdbTier.path', 'must be a non-empty directory path');
  const maxBytes = positive('maxBytes', options.maxBytes ?? LMDB_DEFAULTS.maxBytes);
  const syncInterval = positive('syncInterval', options.syncInterval ?? LMDB_DEFAULTS.syncInterval);
  const sweepInterval = positive('sweepInterval', options.sweepInterval ?? LMDB_DEFAULTS.sweepInterval);
  return new LmdbTier(path, maxBytes, syncInterval, sweepInterval);
}

class LmdbTier implements Tier {
  readonly name = 'lmdb';
  readonly scope = 'machine' as const;
  /** The longest storage key that fits the entries db and the by-age index: 1967 bytes. */
  readonly maxKeyBytes = LMDB_MAX_KEY_BYTES - INDEX_KEY_OVERHEAD;
  readonly leases: LeaseStore;

  private readonly instance = randomBytes(6).toString('base64url');
  private host: TierHost = { clock: Date.now, report: () => {} };
  private env: LmdbEnvironment | undefined;
  private listener: ((change: Invalidation) => void) | undefined;
  private releaseListener: ((key: string) => void) | undefined;
  private cursor = 0;
  private changeSeq = 0;
  private timers: NodeJS.Timeout[] = [];
  private sweeping = false;

  constructor(
    private readonly path: string,
    private readonly maxBytes: number,
    private readonly syncInterval: number,
    private readonly sweepInterval: number,
  ) {
    this.leases = {
      scope: 'machine',
      acquire: (key, token, ttl) => this.acquireLease(key, token, ttl),
      release: (key, token) => this.releaseLease(key, token),
      holder: (key) => this.leaseHolder(key),
    };
  }

  attach(host: TierHost): void {
    this.host = host;
    // Map twice the bound so that the sweep has room to work before LMDB reports the map full.
    const env = acquireEnvironment(this.path, Math.max(this.maxBytes * 2, 16 * 1024 * 1024));
    this.env = env;
    if (env.staleReadersCleared > 0) host.report({ type: 'reader-slots-cleared', count: env.staleReadersCleared });
    for (const last of env.changes.getKeys({ reverse: true, limit: 1 })) this.cursor = last[0];
    this.timers = [
      setInterval(() => this.pollChanges(), this.syncInterval),
      setInterval(() => void this.sweep(), this.sweepInterval),
    ];
    for (const timer of this.timers) timer.unref();
  }

  readonly getSync = (key: string): CacheEntry | undefined => {
    const env = this.open();
    let record: unknown;
    try {
      record = env.entries.get(key);
    } catch {
      return this.corrupt(key);
    }
    if (record === undefined) return undefined;
    if (!isEntryRecord(record)) return this.corrupt(key);
    return record.staleUntil <= this.host.clock() ? undefined : record;
  };

  /** Like getSync, on a snapshot renewed first: what callers that look again (the barrier's double check) need. */
  get(key: string): CacheEntry | undefined {
    this.env?.root.resetReadTxn();
    return this.getSync(key);
  }

  set(key: string, entry: CacheEntry): Promise<void> {
    return this.write(key, 'set', (env) => {
      this.unindex(env, key);
      env.entries.put(key, entry);
      env.byAge.put([entry.storedAt, key], entry.staleUntil);
      this.logChange(env, { o: this.instance, t: this.host.clock(), k: key });
    });
  }

  delete(key: string): Promise<void> {
    return this.write(key, 'delete', (env) => {
      this.unindex(env, key);
      env.entries.remove(key);
      this.logChange(env, { o: this.instance, t: this.host.clock(), k: key });
    });
  }

  clear(prefix: string): Promise<void> {
    return this.write(undefined, 'clear', (env) => {
      const doomed: string[] = [];
      for (const key of env.entries.getKeys({ start: prefix })) {
        if (typeof key !== 'string' || !key.startsWith(prefix)) break;
        doomed.push(key);
      }
      for (const key of doomed) {
        this.unindex(env, key);
        env.entries.remove(key);
      }
      this.logChange(env, { o: this.instance, t: this.host.clock(), p: prefix });
    });
  }

  onInvalidation(listener: (change: Invalidation) => void): void {
    this.listener = listener;
  }

  onLeaseRelease(listener: (key: string) => void): void {
    this.releaseListener = listener;
  }

  size(): number {
    return countEntries(this.open());
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    const env = this.env;
    this.env = undefined;
    if (env !== undefined) await releaseEnvironment(env);
  }

  site(): string {
    return this.open().site;
  }

  /** Runs the sweep once now: expired entries, the size bound, old changes, dead leases. */
  async sweep(): Promise<void> {
    const env = this.env;
    if (env === undefined || this.sweeping) return;
    this.sweeping = true;
    try {
      const evicted = await sweepEnvironment(env, this.host.clock(), this.maxBytes);
      for (const e of evicted) this.host.report({ type: 'evict', key: e.key, cause: e.cause });
    } catch (error) {
      this.host.report({ type: 'error', operation: 'sweep', error });
    } finally {
      this.sweeping = false;
    }
  }

  private open(): LmdbEnvironment {
    if (this.env === undefined) throw new StorageError(this.name, 'the LMDB tier is not attached to an open cache');
    return this.env;
  }

  private corrupt(key: string): undefined {
    this.host.report({ type: 'corrupt', key });
    const env = this.env;
    if (env !== undefined) {
      // Remove it only if it is still undecodable when the write lock is held: another process
      // may have replaced it with a good entry meanwhile.
      transact(env.entries, () => {
        let record: unknown;
        try {
          record = env.entries.get(key);
        } catch {
          record = undefined;
        }
        if (!isEntryRecord(record)) env.entries.remove(key);
      }).catch((error: unknown) => this.host.report({ type: 'error', operation: 'remove-corrupt', error }));
    }
    return undefined;
  }

  private unindex(env: LmdbEnvironment, key: string): void {
    let old: unknown;
    try {
      old = env.entries.get(key);
    } catch {
      return;
    }
    if (isEntryRecord(old)) env.byAge.remove([old.storedAt, key]);
  }

  private logChange(env: LmdbEnvironment, change: ChangeRecord): void {
    env.changes.put([env.entries.getWriteTxnId(), this.changeSeq++], change);
  }

  private async write(key: string | undefined, operation: string, action: (env: LmdbEnvironment) => void): Promise<void> {
    const env = this.open();
    // Checked here, before anything is queued: LMDB would only refuse the key inside the commit.
    if (key !== undefined && Buffer.byteLength(key) > this.maxKeyBytes) {
      throw new InvalidKeyError(`the storage key is ${Buffer.byteLength(key)} bytes long, over the LMDB tier's limit of ${this.maxKeyBytes} bytes: hash long keys`, key.slice(0, 64));
    }
    try {
      await transact(env.entries, () => action(env));
    } catch (error) {
      this.host.report({ type: 'error', operation, error });
      if (isMapFull(error)) void this.sweep();
      throw new StorageError(this.name, `${operation} could not be committed${isMapFull(error) ? ' (the map is full: raise maxBytes)' : ''}`, {
        ...(key === undefined ? {} : { key }),
        cause: error,
      });
    }
  }

  private async acquireLease(key: string, token: string, ttl: number): Promise<LeaseGrant> {
    const env = this.open();
    return transact(env.leases, (): LeaseGrant => {
      const now = this.host.clock();
      const current = env.leases.get(key);
      if (current !== undefined && current.expiresAt > now) return { acquired: false, holder: { key, ...current } };
      const lease: Lease = { key, token, expiresAt: now + ttl };
      env.leases.put(key, { token, expiresAt: lease.expiresAt });
      return { acquired: true, lease, tookOver: current !== undefined };
    });
  }

  private async releaseLease(key: string, token: string): Promise<boolean> {
    const env = this.open();
    return transact(env.leases, () => {
      if (env.leases.get(key)?.token !== token) return false;
      env.leases.remove(key);
      this.logChange(env, { o: this.instance, t: this.host.clock(), r: key });
      return true;
    });
  }

  private leaseHolder(key: string): Lease | undefined {
    const current = this.open().leases.get(key);
    return current !== undefined && current.expiresAt > this.host.clock() ? { key, ...current } : undefined;
  }

  private pollChanges(): void {
    const env = this.env;
    const listener = this.listener;
    if (env === undefined) return;
    try {
      env.root.resetReadTxn();
      const trimmed = env.meta.get('trimmed') ?? 0;
      if (trimmed > this.cursor) {
        // Changes this process never saw were trimmed away: drop every copy to be safe.
        listener?.({ prefix: '' });
        this.cursor = trimmed;
      }
      for (const { key, value } of env.changes.getRange({ start: [this.cursor + 1, 0] })) {
        this.cursor = key[0];
        if (value.o === this.instance) continue;
        if (value.r !== undefined) this.releaseListener?.(value.r);
        else if (listener !== undefined) listener(value.k !== undefined ? { key: value.k, at: value.t } : { prefix: value.p ?? '', at: value.t });
      }
    } catch (error) {
      this.host.report({ type: 'error', operation: 'sync', error });
    }
  }
}

function isMapFull(error: unknown): boolean {
  return error instanceof Error && /MDB_MAP_FULL|map full|MDB_MAP_RESIZED/i.test(error.message);
}
