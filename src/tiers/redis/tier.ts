/*
 * The Redis tier (L3): one Redis server shared by every machine, below each machine's LMDB file.
 *
 * Coherence. Every write is one script that decides it against what Redis holds (see
 * scripts.ts for the layout): a compute's store is refused if its key was set, deleted or
 * cleared after the compute's read of it; each write takes a version from one counter and
 * appends a change record to a stream. The version travels with the write into the machine's
 * LMDB file, so machines apply writes in Redis's order.
 *
 * Invalidation bound. Every cache instance follows the change stream (feed.ts) and drops
 * its memory copy as soon as a record arrives, and its machine's LMDB copy with one LMDB commit
 * (unless the record carries the site id of its own LMDB file: the writer shares that file and
 * replaced the copy itself), so another machine stops seeing the old value within one stream
 * delivery plus one LMDB commit. A machine that reconnects, or whose processes were all stopped,
 * replays the records it missed from its checkpoint; if they were trimmed away it drops every
 * local copy. Entries in Redis expire by themselves at their grand timeout (`PX` = staleUntil -
 * now); clocks of the machines are assumed to agree within a small fraction of the ttl.
 *
 * Failure behaviour. Nothing waits on Redis longer than `commandTimeout` (default 250 ms): a
 * command fails fast with StorageError when the connection is down (there is no offline queue),
 * times out when Redis is frozen, and after `breaker.failures` consecutive timeouts (default 5)
 * the circuit opens and every command fails at once for `breaker.cooldown` ms (default 1 000),
 * then one trial command probes Redis. A write that failed is remembered (repairs.ts) and
 * repaired as soon as Redis answers again: the key is deleted there, so no machine keeps reading
 * a value older than this machine's. The cache serves from memory and LMDB meanwhile, and leases
 * narrow to the machine (counted in `stats().leasesDegraded`). ioredis reconnects by itself
 * (backoff capped at 1 s). Commands issued while the very first connection is being made wait
 * for it, at most `connectTimeout`. `close()` is bounded too.
 */
import type { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import { TOMBSTONE_RETENTION } from '../../core/coherence.js';
import { MSGPACK_OPTIONS } from '../../core/codec.js';
import { isEntryRecord, type CacheEntry } from '../../core/entry.js';
import { InvalidKeyError, StorageError } from '../../core/errors.js';
import { instanceId } from '../../core/ids.js';
import { Listeners } from '../../core/listeners.js';
import { namespaceOf } from '../../core/keys.js';
import type { Invalidation, SharedRead, TierHost, WriteCondition, WriteOutcome } from '../../core/tier.js';
import { decodeBusMessage, encodeReleaseMessage, ReadGuard } from './bus.js';
import { isReplyError } from './connection.js';
import { REDIS_MAX_KEY_BYTES, type RedisTier, type RedisTierStatus } from './contract.js';
import { ChangeFeed } from './feed.js';
import { RedisLink } from './link.js';
import { RepairQueue, RepairRunner, type RepairTarget } from './repairs.js';
import { clearEntries, deleteEntry, layoutOf, readKey, removeIfUnchanged, streamKey, writeEntry, type WriterArgs } from './scripts.js';
import { redisLeaseStore, type RedisLeaseStore } from './leases.js';
import { resolveRedisOptions, type RedisTierOptions, type ResolvedRedisOptions } from './options.js';

export type { RedisLeaseStore } from './leases.js';
export type { CircuitState } from './breaker.js';
export { REDIS_MAX_KEY_BYTES, type RedisTier, type RedisTierStatus } from './contract.js';
export { REDIS_DEFAULTS, type RedisTierOptions } from './options.js';

/** How many times a read overlapped by changes of its key is tried before it counts as a miss. */
const MAX_READS = 3;
/**
 * The cluster-wide L3 tier: entries (value and timing record, msgpackr-encoded) in one Redis
 * server shared by every machine, with a Redis TTL at the grand timeout; leases for the barrier,
 * xfetch and serveStale that every machine sees; and a pub/sub channel that drops other machines'
 * memory and LMDB copies when a key changes. Needs the optional dependency `ioredis`, loaded only
 * when this tier is attached. See the top of this file for the invalidation bound and what
 * happens when Redis is down or slow.
 *
 * @example
 * ```ts
 * import { createCache, memoryTier, lmdbTier, redisTier, barrier } from 'herdcache';
 * const cache = createCache({
 *   tiers: [memoryTier(), lmdbTier({ path: '/var/cache/app' }), redisTier({ url: 'redis://cache:6379' })],
 *   policies: [barrier()],
 * });
 * ```
 */
export function redisTier(options: RedisTierOptions = {}): RedisTier {
  return new RedisTierImpl(resolveRedisOptions(options));
}

class RedisTierImpl implements RedisTier {
  readonly name = 'redis';
  readonly scope = 'cluster' as const;
  readonly maxKeyBytes = REDIS_MAX_KEY_BYTES;
  readonly leases: RedisLeaseStore;

  private readonly origin = instanceId();
  private readonly packr = new Packr({ ...MSGPACK_OPTIONS });
  private readonly guard = new ReadGuard();
  private readonly link: RedisLink;
  private host: TierHost = { clock: Date.now, report: () => {} };
  private readonly changes = new Listeners<Invalidation>();
  private readonly releases = new Listeners<string>();
  private readonly feed: ChangeFeed;
  private readonly repairs: RepairQueue;
  private readonly repairer: RepairRunner;
  private starting: Promise<void> | undefined;
  private attached = false;

  constructor(private readonly options: ResolvedRedisOptions) {
    this.link = new RedisLink(this.name, options, {
      report: (operation, error) => this.host.report({ type: 'error', operation, error }),
      connected: () => this.repairer.schedule(),
      succeeded: (settles) => {
        if (settles !== undefined) this.repairs.settled(settles);
        if (this.repairs.size > 0) this.repairer.schedule();
      },
      message: (channel, message) => this.onMessage(channel, message),
      follow: (connection, current) => void this.feed.follow(connection, current, () => this.link.notify()),
    });
    this.repairs = new RepairQueue(options.repairLimit);
    this.repairer = new RepairRunner(this.repairs, (target) => this.repairOne(target), () => this.link.closed);
    this.feed = new ChangeFeed({
      stream: streamKey(options.keyPrefix),
      origin: this.origin,
      checkpoint: `redis:${options.keyPrefix}`,
      checkpoints: () => this.host.checkpoints,
      deliver: (change) => this.deliver(change),
      report: (operation, error) => this.host.report({ type: 'error', operation, error }),
    });
    this.leases = redisLeaseStore(
      (op, key, action) => this.run(op, key, action),
      (key) => `${options.keyPrefix}l:${key}`,
      () => this.host.clock(),
      (key) => ({ channel: options.channel, message: encodeReleaseMessage(this.origin, key) }),
    );
  }

  attach(host: TierHost): void {
    if (this.attached) throw new StorageError(this.name, 'this Redis tier is already attached to a cache: create one tier per cache');
    this.attached = true;
    this.host = host;
    // attach() is synchronous and connecting is not: connect in the background; commands wait
    // for the first attempt (bounded) and fail fast afterwards while disconnected.
    this.starting = this.link.start();
  }

  status(): RedisTierStatus {
    return {
      connected: this.link.connected,
      subscribed: this.feed.following,
      repairsPending: this.repairs.size,
      circuit: this.link.breaker.state,
      failures: this.link.breaker.failures,
    };
  }

  ready(timeout = 5_000): Promise<void> {
    return this.link.ready(timeout, () => this.feed.following);
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    return (await this.read(key)).entry;
  }

  async read(key: string): Promise<SharedRead> {
    const keys = layoutOf(this.options.keyPrefix, key);
    let observed = 0;
    for (let attempt = 0; attempt < MAX_READS; attempt++) {
      const mark = this.guard.begin();
      let raw: Awaited<ReturnType<typeof readKey>>;
      let changed: boolean;
      try {
        raw = await this.run('get', key, (client) => readKey(client, keys));
      } finally {
        changed = this.guard.end(key, mark);
      }
      observed = raw.observed;
      if (!changed) {
        const entry = this.decode(key, keys, raw.payload);
        return entry === undefined ? { entry, observed } : { entry, observed, version: raw.version };
      }
    }
    // The key keeps changing under this read: a miss is always safe.
    return { entry: undefined, observed };
  }

  async set(key: string, entry: CacheEntry, _bytes?: number, condition?: WriteCondition): Promise<WriteOutcome> {
    this.checkKey(key);
    const keys = layoutOf(this.options.keyPrefix, key);
    const ttl = Math.ceil(entry.staleUntil - this.host.clock());
    if (ttl <= 0) return this.delete(key);
    const { value, storedAt, freshUntil, staleUntil, delta } = entry;
    const payload = this.packr.pack({ value, storedAt, freshUntil, staleUntil, delta });
    const version = await this.write('set', { key }, () => this.run('set', key, (client) => writeEntry(client, keys, payload, ttl, condition?.unchangedSince, namespaceOf(key), key, this.writer()), key));
    return version === 0 ? { applied: false } : { applied: true, version };
  }

  async delete(key: string): Promise<WriteOutcome> {
    this.checkKey(key);
    const keys = layoutOf(this.options.keyPrefix, key);
    const version = await this.write('delete', { key }, () => this.run('delete', key, (client) => deleteEntry(client, keys, TOMBSTONE_RETENTION * 2, key, this.writer()), key));
    return { applied: true, version };
  }

  async clear(prefix: string): Promise<WriteOutcome> {
    const version = await this.write('clear', { prefix }, () => this.clearPrefix(prefix));
    return { applied: true, version };
  }

  onInvalidation(listener: (change: Invalidation) => void): () => void {
    return this.changes.add(listener);
  }

  onLeaseRelease(listener: (key: string) => void): () => void {
    return this.releases.add(listener);
  }

  async close(): Promise<void> {
    if (this.link.closed) return;
    await this.link.close(this.starting);
    this.repairer.stop();
  }

  private onMessage(channel: string, message: string): void {
    if (channel !== this.options.channel) return;
    const decoded = decodeBusMessage(message);
    if (decoded === undefined || decoded.origin === this.origin) return;
    if ('released' in decoded) this.releases.emit(decoded.released, (error) => this.host.report({ type: 'error', operation: 'lease-release', error }));
  }

  private deliver(change: Invalidation): void {
    this.guard.changed(change);
    this.changes.emit(change, (error) => this.host.report({ type: 'error', operation: 'invalidate', error }));
  }

  // ---- commands ----

  /** Runs one command on the link (see RedisLink.run), once the tier is open and attached. */
  private async run<T>(operation: string, key: string | undefined, action: (client: Redis) => Promise<T>, settles?: string): Promise<T> {
    const keyOption = key === undefined ? {} : { key };
    if (this.link.closed) throw new StorageError(this.name, `${operation}: the Redis tier is closed`, keyOption);
    if (!this.attached) throw new StorageError(this.name, `${operation}: the Redis tier is not attached to a cache`, keyOption);
    return this.link.run(operation, keyOption, action, settles);
  }

  /**
   * A write: marks the change for reads in flight (before and after, so that a read answered
   * with the old value in between is read again), runs it, and remembers a failure for repair;
   * reports a failure as the engine expects of tiers, and rethrows it.
   */
  private async write<T>(operation: string, change: { key: string } | { prefix: string }, perform: () => Promise<T>): Promise<T> {
    this.guard.changed(change);
    try {
      return await perform();
    } catch (error) {
      // A refusal by Redis itself (a script error) changed nothing there: no repair needed.
      if (!isReplyError((error as { cause?: unknown }).cause)) this.repairs.add(change);
      this.repairer.schedule();
      this.host.report({ type: 'error', operation, error });
      throw error;
    } finally {
      this.guard.changed(change);
    }
  }

  private clearPrefix(prefix: string): Promise<number> {
    return clearEntries((action) => this.run('clear', undefined, action), this.options.keyPrefix, prefix, () => this.writer());
  }

  private writer(): WriterArgs {
    return { origin: this.origin, site: this.host.site ?? '', streamLength: this.options.changeStreamLength };
  }

  private async repairOne(target: RepairTarget): Promise<void> {
    if ('key' in target) {
      const keys = layoutOf(this.options.keyPrefix, target.key);
      await this.run('repair', target.key, (client) => deleteEntry(client, keys, TOMBSTONE_RETENTION * 2, target.key, this.writer()));
    } else {
      // Not through clear(): a repair that fails while Redis is away is not news each time.
      await this.clearPrefix(target.prefix);
    }
  }

  private checkKey(key: string): void {
    const bytes = Buffer.byteLength(key);
    if (bytes > this.maxKeyBytes) {
      throw new InvalidKeyError(`the storage key is ${bytes} bytes long, over the Redis tier's limit of ${this.maxKeyBytes} bytes: hash long keys`, key.slice(0, 64));
    }
  }

  private decode(key: string, keys: readonly string[], reply: Buffer): CacheEntry | undefined {
    if (reply.length === 0) return undefined;
    let record: unknown;
    try {
      record = this.packr.unpack(reply);
    } catch {
      return this.corrupt(key, keys, reply);
    }
    if (!isEntryRecord(record)) return this.corrupt(key, keys, reply);
    return record.staleUntil <= this.host.clock() ? undefined : record;
  }

  private corrupt(key: string, keys: readonly string[], reply: Buffer): undefined {
    this.host.report({ type: 'corrupt', key });
    // Removed only if still the same bytes: another machine may have replaced it meanwhile.
    this.run('remove-corrupt', key, (client) => removeIfUnchanged(client, keys, reply)).catch((error: unknown) =>
      this.host.report({ type: 'error', operation: 'remove-corrupt', error }),
    );
    return undefined;
  }

}
