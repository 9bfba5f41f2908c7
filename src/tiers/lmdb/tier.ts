import { resolve } from 'node:path';
import type { CacheEntry } from '../../core/entry.js';
import { InvalidKeyError, StorageError } from '../../core/errors.js';
import { instanceId } from '../../core/ids.js';
import { ChangeFeed } from './feed.js';
import type { Checkpoints, Invalidation, LeaseStore, SharedRead, SharedTier, TierHost, WriteCondition, WriteOutcome } from '../../core/tier.js';
import { acquireEnvironment, countEntries, releaseEnvironment, transact, type LmdbEnvironment } from './env.js';
import { recordRelease } from './coordination.js';
import { lmdbLeaseStore, withLinkFallback } from './leases.js';
import { linkLeaseStore } from './link-leases.js';
import { sweepEnvironment } from './sweep.js';
import { keepReserve } from './room.js';
import { captureLmdbOutput } from './console.js';
import { admits, currentVersion, isStoredUnder, recordChange, stampOf, storedEntry, storedRecord } from './versions.js';
import { upgradeRecordFormat } from './structures.js';
import { commit, isMapFull, type CommitContext } from './commit.js';
import { FREEING_WRITE, SMALL_WRITE, type RoomClaim } from './headroom.js';

import { INDEX_KEY_OVERHEAD, LMDB_MAX_KEY_BYTES, resolveLmdbOptions, type LmdbTierOptions } from './options.js';

export { defaultLmdbPath, LMDB_DEFAULTS, LMDB_MAX_BYTES, LMDB_MAX_KEY_BYTES, type LmdbTierOptions } from './options.js';

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
export function lmdbTier(given?: LmdbTierOptions): SharedTier {
  const { path, maxBytes, syncInterval, sweepInterval } = resolveLmdbOptions(given);
  return new LmdbTier(path, maxBytes, syncInterval, sweepInterval);
}

class LmdbTier implements SharedTier {
  readonly name = 'lmdb';
  readonly scope = 'machine' as const;
  /** The longest storage key that fits the entries db and the by-age index: 1967 bytes. */
  readonly maxKeyBytes = LMDB_MAX_KEY_BYTES - INDEX_KEY_OVERHEAD;
  readonly leases: LeaseStore;
  readonly checkpoints: Checkpoints;

  private readonly instance = instanceId();
  private host: TierHost = { clock: Date.now, report: () => {} };
  private env: LmdbEnvironment | undefined;
  private readonly feed = new ChangeFeed(this.instance, (error) => this.host.report({ type: 'error', operation: 'sync', error }));
  private attached = false;
  private timers: NodeJS.Timeout[] = [];
  private sweeping: Promise<void> | undefined;
  private stopCapture: (() => void) | undefined;

  constructor(
    private readonly path: string,
    private readonly maxBytes: number,
    private readonly syncInterval: number,
    private readonly sweepInterval: number,
  ) {
    this.leases = withLinkFallback(
      lmdbLeaseStore(
        () => this.open().coordination.get(),
        () => this.host.clock(),
        (coordination, key) => recordRelease(coordination, { o: this.instance, t: this.host.clock(), r: key }),
      ),
      linkLeaseStore(resolve(path), () => this.host.clock()),
      (error) => this.host.report({ type: 'error', operation: 'lease-fallback', error }),
      () => this.env !== undefined,
    );
    this.checkpoints = {
      get: (name) => this.open().checkpoints.get(name),
      put: (name, value) => this.write(undefined, 'checkpoint', SMALL_WRITE, (env) => void env.checkpoints.put(name, value)).then(() => undefined),
    };
  }

  attach(host: TierHost): void {
    if (this.attached) throw new StorageError(this.name, 'this LMDB tier is already attached to a cache: create one tier per cache (caches on one path share its file)');
    this.attached = true;
    this.host = host;
    // The initial map: lmdb-js grows it by itself when it fills (64-bit builds), so maxBytes, which
    // the sweep keeps, bounds the file, not the map.
    const env = acquireEnvironment(this.path, Math.max(this.maxBytes * 2, 16 * 1024 * 1024), this.maxBytes);
    this.env = env;
    this.stopCapture = captureLmdbOutput((error) => host.report({ type: 'error', operation: 'lmdb-output', error }));
    // A file of an older record layout is emptied: its records would only read as corrupt.
    upgradeRecordFormat(env, this.instance, host.clock());
    const finding = env.fileFinding;
    // Reported after the cache is built, so that listeners added right after createCache hear it.
    if (finding !== undefined) queueMicrotask(() => host.report({ type: 'corrupt-file', path: env.path, ...finding }));
    this.feed.start(env);
    void keepReserve(env);
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
    if (!isStoredUnder(record, key)) return this.corrupt(key);
    return record.staleUntil <= this.host.clock() ? undefined : record;
  };

  /** Like getSync, on a snapshot renewed first: what callers that look again (the barrier's double check) need. */
  get(key: string): CacheEntry | undefined {
    this.env?.root.resetReadTxn();
    return this.getSync(key);
  }

  /** A fresh-snapshot read with the file's change counter of the same snapshot. */
  read(key: string): SharedRead {
    const env = this.open();
    env.root.resetReadTxn();
    const observed = currentVersion(env);
    const entry = this.getSync(key);
    return entry === undefined ? { entry, observed } : { entry, observed, ...versionOf(entry) };
  }

  /** The file's change counter now (a fresh snapshot). */
  observe(): number {
    const env = this.open();
    env.root.resetReadTxn();
    return currentVersion(env);
  }

  set(key: string, entry: CacheEntry, bytes = 0, condition?: WriteCondition): Promise<WriteOutcome> {
    return this.write(key, 'set', { use: 'grow', bytes: Math.max(0, bytes) }, (env) => {
      const current = storedEntry(env, key);
      if (!admits(env, key, current, condition)) return { applied: false };
      if (current !== undefined) env.byAge.remove([current.storedAt, key]);
      const version = recordChange(env, { o: this.instance, t: this.host.clock(), k: key });
      env.entries.put(key, storedRecord(key, entry, version, condition?.clusterVersion));
      env.byAge.put([entry.storedAt, key], entry.staleUntil);
      return { applied: true, version };
    });
  }

  delete(key: string, condition?: WriteCondition): Promise<WriteOutcome> {
    return this.write(key, 'delete', FREEING_WRITE, (env) => {
      const current = storedEntry(env, key);
      if (!admits(env, key, current, condition)) return { applied: false };
      if (current !== undefined) env.byAge.remove([current.storedAt, key]);
      env.entries.remove(key);
      const now = this.host.clock();
      const version = recordChange(env, { o: this.instance, t: now, k: key });
      env.tombstones.put(key, stampOf(version, now, condition?.clusterVersion));
      return { applied: true, version };
    });
  }

  clear(prefix: string, condition?: WriteCondition): Promise<WriteOutcome> {
    return this.write(undefined, 'clear', FREEING_WRITE, (env) => {
      // Entries already at a later cluster version than the clear were written after it.
      const cluster = condition?.clusterVersion;
      const doomed: Array<{ key: string; storedAt: number | undefined }> = [];
      for (const key of env.entries.getKeys({ start: prefix })) {
        if (typeof key !== 'string' || !key.startsWith(prefix)) break;
        const current = storedEntry(env, key);
        if (cluster !== undefined && current?.rv !== undefined && current.rv >= cluster) continue;
        doomed.push({ key, storedAt: current?.storedAt });
      }
      for (const { key, storedAt } of doomed) {
        if (storedAt !== undefined) env.byAge.remove([storedAt, key]);
        env.entries.remove(key);
      }
      const now = this.host.clock();
      const version = recordChange(env, { o: this.instance, t: now, p: prefix });
      env.clears.put(prefix, stampOf(version, now, cluster));
      return { applied: true, version };
    });
  }

  onInvalidation(listener: (change: Invalidation) => void): () => void {
    return this.feed.changes.add(listener);
  }

  onLeaseRelease(listener: (key: string) => void): () => void {
    return this.feed.releases.add(listener);
  }

  size(): number {
    return countEntries(this.open());
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    // A sweep still reading the file must finish before it is unmapped: closing under it
    // corrupted the heap (SIGABRT) when tiny bounds made the sweep run all the time.
    await this.sweeping;
    const env = this.env;
    this.env = undefined;
    if (env !== undefined) await releaseEnvironment(env);
    this.stopCapture?.();
    this.stopCapture = undefined;
  }

  site(): string {
    return this.open().site;
  }

  /** Runs the sweep once now: expired entries, the size bound, old changes, dead leases. */
  sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const env = this.env;
    if (env === undefined) return;
    try {
      const evicted = await sweepEnvironment(env, this.host.clock(), this.maxBytes, this.instance);
      for (const e of evicted) this.host.report({ type: 'evict', key: e.key, cause: e.cause });
      await keepReserve(env);
    } catch (error) {
      this.host.report({ type: 'error', operation: 'sweep', error });
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
      transact(env, env.entries, () => {
        let record: unknown;
        try {
          record = env.entries.get(key);
        } catch {
          record = undefined;
        }
        if (!isStoredUnder(record, key)) env.entries.remove(key);
      }, FREEING_WRITE).catch((error: unknown) => this.host.report({ type: 'error', operation: 'remove-corrupt', error }));
    }
    return undefined;
  }

  private async write<T>(key: string | undefined, operation: string, claim: RoomClaim, action: (env: LmdbEnvironment) => T): Promise<T> {
    const env = this.open();
    // Checked here, before anything is queued: LMDB would only refuse the key inside the commit.
    if (key !== undefined && Buffer.byteLength(key) > this.maxKeyBytes) {
      throw new InvalidKeyError(`the storage key is ${Buffer.byteLength(key)} bytes long, over the LMDB tier's limit of ${this.maxKeyBytes} bytes: hash long keys`, key.slice(0, 64));
    }
    try {
      return await commit(env, operation, key, claim, action, this.commitContext(env));
    } catch (error) {
      if (isMapFull((error as { cause?: unknown }).cause)) void this.sweep();
      throw error;
    }
  }

  private commitContext(env: LmdbEnvironment): CommitContext {
    return { report: (r) => this.host.report(r), origin: this.instance, clock: () => this.host.clock(), stillOpen: () => this.env === env };
  }

  private pollChanges(): void {
    if (this.env !== undefined) this.feed.poll(this.env);
  }
}

function versionOf(entry: CacheEntry): { version?: number } {
  const v = (entry as { v?: unknown }).v;
  return typeof v === 'number' ? { version: v } : {};
}
