/*
 * The Redis tier (L3): one Redis server shared by every machine, below each machine's LMDB file.
 *
 * Coherence. Every write is one script that decides it against what Redis holds (see
 * redis-scripts.ts for the layout): a compute's store is refused if its key was set, deleted or
 * cleared after the compute's read of it; each write takes a version from one counter and
 * appends a change record to a stream. The version travels with the write into the machine's
 * LMDB file, so machines apply writes in Redis's order.
 *
 * Invalidation bound. Every cache instance follows the change stream (redis-feed.ts) and drops
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
 * then one trial command probes Redis. A write that failed is remembered (redis-repairs.ts) and
 * repaired as soon as Redis answers again: the key is deleted there, so no machine keeps reading
 * a value older than this machine's. The cache serves from memory and LMDB meanwhile, and leases
 * narrow to the machine (counted in `stats().leasesDegraded`). ioredis reconnects by itself
 * (backoff capped at 1 s). Commands issued while the very first connection is being made wait
 * for it, at most `connectTimeout`. `close()` is bounded too.
 */
import type { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import { TOMBSTONE_RETENTION } from '../core/coherence.js';
import { MSGPACK_OPTIONS } from '../core/codec.js';
import { isEntryRecord, type CacheEntry } from '../core/entry.js';
import { InvalidKeyError, StorageError } from '../core/errors.js';
import { instanceId } from '../core/ids.js';
import { Listeners } from '../core/listeners.js';
import { namespaceOf } from '../core/keys.js';
import { assertDuration } from '../core/options.js';
import type { Invalidation, SharedRead, SharedTier, TierHost, WriteCondition, WriteOutcome } from '../core/tier.js';
import { CircuitBreaker, type CircuitState } from './redis-breaker.js';
import { decodeBusMessage, encodeReleaseMessage, ReadGuard } from './redis-bus.js';
import { closeConnection, connectionOptions, isReplyError, isTimeout, loadIoredis, withTimeout } from './redis-connection.js';
import { ChangeFeed } from './redis-feed.js';
import { RepairQueue, type RepairTarget } from './redis-repairs.js';
import { announceClear, deleteEntry, layoutOf, markClear, readKey, removeIfUnchanged, streamKey, writeEntry, type WriterArgs } from './redis-scripts.js';
import { redisLeaseStore, type RedisLeaseStore } from './redis-leases.js';
import { REDIS_DEFAULTS, resolveRedisOptions, type RedisTierOptions, type ResolvedRedisOptions } from './redis-options.js';

export type { RedisLeaseStore } from './redis-leases.js';
export type { CircuitState } from './redis-breaker.js';
export { REDIS_DEFAULTS, type RedisTierOptions } from './redis-options.js';

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

/** How many times a read overlapped by changes of its key is tried before it counts as a miss. */
const MAX_READS = 3;
/** Keys per SCAN step of `clear`. */
const SCAN_COUNT = 500;
/** Longest wait for QUIT on close, ms. */
const QUIT_TIMEOUT = 500;

/** How often pending repairs are tried while Redis does not answer, ms. */
const REPAIR_INTERVAL = 500;

/** Escapes the glob characters of SCAN MATCH so that a prefix matches only itself. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

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
  private readonly breaker: CircuitBreaker;
  private host: TierHost = { clock: Date.now, report: () => {} };
  private readonly changes = new Listeners<Invalidation>();
  private readonly releases = new Listeners<string>();
  private cmd: Redis | undefined;
  private sub: Redis | undefined;
  private feedConnection: Redis | undefined;
  private readonly feed: ChangeFeed;
  private readonly repairs: RepairQueue;
  private repairing = false;
  private repairTimer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;
  private attached = false;
  private lastError: unknown;
  /** Settles when the first connection attempt succeeds or fails. */
  private firstAttempt: Promise<void>;
  private settleFirstAttempt: () => void = () => {};
  private firstAttemptSettled = false;
  private readonly watchers = new Set<() => void>();

  constructor(private readonly options: ResolvedRedisOptions) {
    this.breaker = new CircuitBreaker({ failures: options.breakerFailures, cooldown: options.breakerCooldown });
    this.repairs = new RepairQueue(options.repairLimit);
    this.feed = new ChangeFeed({
      stream: streamKey(options.keyPrefix),
      origin: this.origin,
      checkpoint: `redis:${options.keyPrefix}`,
      checkpoints: () => this.host.checkpoints,
      deliver: (change) => this.deliver(change),
      report: (operation, error) => this.host.report({ type: 'error', operation, error }),
    });
    this.firstAttempt = new Promise((resolve) => {
      this.settleFirstAttempt = () => {
        this.firstAttemptSettled = true;
        resolve();
      };
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
    this.starting = this.start();
  }

  status(): RedisTierStatus {
    return {
      connected: this.cmd?.status === 'ready',
      subscribed: this.feed.following,
      repairsPending: this.repairs.size,
      circuit: this.breaker.state,
      failures: this.breaker.failures,
    };
  }

  ready(timeout = 5_000): Promise<void> {
    try {
      assertDuration('redisTier.ready(timeout)', timeout, true);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.closed) finish(new StorageError(this.name, 'the Redis tier closed before it was ready'));
        else if (this.cmd?.status === 'ready' && this.feed.following) finish(undefined);
      };
      const timer = setTimeout(() => finish(new StorageError(this.name, `not connected and subscribed after ${timeout} ms${this.reason()}`, { cause: this.lastError })), timeout);
      const finish = (error: StorageError | undefined): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
        if (error === undefined) resolve();
        else reject(error);
      };
      this.watchers.add(check);
      check();
    });
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
    const version = await this.write('set', { key }, (client) => writeEntry(client, keys, payload, ttl, condition?.unchangedSince, namespaceOf(key), key, this.writer()));
    return version === 0 ? { applied: false } : { applied: true, version };
  }

  async delete(key: string): Promise<WriteOutcome> {
    this.checkKey(key);
    const keys = layoutOf(this.options.keyPrefix, key);
    const version = await this.write('delete', { key }, (client) => deleteEntry(client, keys, TOMBSTONE_RETENTION * 2, key, this.writer()));
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
    if (this.closed) return;
    this.closed = true;
    this.notify();
    if (this.starting !== undefined) await this.starting;
    clearInterval(this.repairTimer);
    const connections = [this.cmd, this.sub, this.feedConnection].filter((c): c is Redis => c !== undefined);
    this.cmd = undefined;
    this.sub = undefined;
    this.feedConnection = undefined;
    await Promise.all(connections.map((c) => closeConnection(c, QUIT_TIMEOUT)));
  }

  // ---- connection ----

  private async start(): Promise<void> {
    const { client, url, connectTimeout } = this.options;
    const settings = connectionOptions(connectTimeout);
    try {
      let open: () => Redis;
      if (client !== undefined) {
        open = () => client.duplicate(settings);
      } else {
        const RedisClass = await loadIoredis();
        open = () => new RedisClass(url ?? REDIS_DEFAULTS.url, settings);
      }
      if (this.closed) return;
      this.cmd = this.watchCommandConnection(open());
      this.sub = this.watchSubscriber(open());
      this.feedConnection = this.watchFeed(open());
    } catch (error) {
      this.lastError = error;
      this.settleFirstAttempt();
      this.host.report({ type: 'error', operation: 'connect', error });
      this.notify();
    }
  }

  private watchCommandConnection(connection: Redis): Redis {
    let up = false;
    connection.on('error', (error: unknown) => {
      // Reconnection attempts fail repeatedly while Redis is away: remember, do not count each.
      this.lastError = error;
    });
    connection.on('ready', () => {
      up = true;
      // A fresh connection passed its ready check: Redis answers again.
      this.breaker.succeeded();
      this.settleFirstAttempt();
      this.notify();
      this.scheduleRepairs();
    });
    connection.on('close', () => {
      this.settleFirstAttempt();
      if (up && !this.closed) {
        this.host.report({ type: 'error', operation: 'connection', error: new StorageError(this.name, `lost the connection to Redis${this.reason()}`, { cause: this.lastError }) });
      }
      up = false;
      this.notify();
    });
    return connection;
  }

  private watchSubscriber(connection: Redis): Redis {
    connection.on('error', (error: unknown) => {
      this.lastError = error;
    });
    connection.on('ready', () => void this.subscribe(connection));
    connection.on('close', () => {
      // Only released leases travel here: a waiter that misses one looks again at its next poll.
      this.notify();
    });
    connection.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    return connection;
  }

  private async subscribe(connection: Redis): Promise<void> {
    try {
      await withTimeout(connection.subscribe(this.options.channel), this.options.connectTimeout);
    } catch (error) {
      if (this.closed || connection !== this.sub) return;
      this.host.report({ type: 'error', operation: 'subscribe', error });
      // Cycle the connection: the next 'ready' subscribes again.
      connection.disconnect(true);
      return;
    }
    if (this.closed || connection !== this.sub) return;
    this.notify();
  }

  private watchFeed(connection: Redis): Redis {
    connection.on('error', (error: unknown) => {
      this.lastError = error;
    });
    connection.on('ready', () => void this.feed.follow(connection, () => !this.closed && connection === this.feedConnection && connection.status === 'ready', () => this.notify()));
    return connection;
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

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }

  private reason(): string {
    const error = this.lastError;
    return error instanceof Error ? ` (${error.message})` : '';
  }

  // ---- commands ----

  /** See {@link CommandRunner}. */
  /**
   * Runs one command under the breaker and the command timeout. `settles` names the key a write
   * made on Redis: its older failed write needs no repair, and that is noted before the repairs
   * this success starts take their list, or they would delete the value just written.
   */
  private async run<T>(operation: string, key: string | undefined, action: (client: Redis) => Promise<T>, settles?: string): Promise<T> {
    const keyOption = key === undefined ? {} : { key };
    if (this.closed) throw new StorageError(this.name, `${operation}: the Redis tier is closed`, keyOption);
    if (!this.attached) throw new StorageError(this.name, `${operation}: the Redis tier is not attached to a cache`, keyOption);
    let client = this.readyClient();
    if (client === undefined && !this.firstAttemptSettled) {
      await this.waitForFirstAttempt();
      client = this.readyClient();
    }
    if (client === undefined) throw new StorageError(this.name, `${operation}: not connected to Redis${this.reason()}`, { ...keyOption, cause: this.lastError });
    if (!this.breaker.allow()) {
      throw new StorageError(this.name, `${operation}: the circuit is open after ${this.breaker.failures} consecutive timeouts, next try in ${Math.ceil(this.breaker.retryIn)} ms`, keyOption);
    }
    try {
      const result = await withTimeout(action(client), this.options.commandTimeout);
      this.breaker.succeeded();
      if (settles !== undefined) this.repairs.settled(settles);
      if (this.repairs.size > 0) this.scheduleRepairs();
      return result;
    } catch (error) {
      // Only silence opens the circuit: a lost connection already fails fast until reconnected,
      // and an error reply means Redis is up.
      if (isTimeout(error)) this.breaker.failed();
      else if (isReplyError(error)) this.breaker.succeeded();
      else this.breaker.abandoned();
      const why = isTimeout(error) ? `Redis did not answer within ${this.options.commandTimeout} ms` : error instanceof Error ? error.message : String(error);
      throw new StorageError(this.name, `${operation} failed: ${why}`, { ...keyOption, cause: error });
    }
  }

  private readyClient(): Redis | undefined {
    const client = this.cmd;
    return client !== undefined && client.status === 'ready' ? client : undefined;
  }

  private async waitForFirstAttempt(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.firstAttempt, new Promise<void>((resolve) => { timer = setTimeout(resolve, this.options.connectTimeout); })]);
    clearTimeout(timer);
  }

  /**
   * A write: marks the change for reads in flight (before and after, so that a read answered
   * with the old value in between is read again), runs it, and remembers a failure for repair;
   * reports a failure as the engine expects of tiers, and rethrows it.
   */
  private async write<T>(operation: string, change: { key: string } | { prefix: string }, action: (client: Redis) => Promise<T>): Promise<T> {
    this.guard.changed(change);
    try {
      return 'key' in change ? await this.run(operation, change.key, action, change.key) : await action(this.cmd!);
    } catch (error) {
      // A refusal by Redis itself (a script error) changed nothing there: no repair needed.
      if (!isReplyError((error as { cause?: unknown }).cause)) this.repairs.add(change);
      this.scheduleRepairs();
      this.host.report({ type: 'error', operation, error });
      throw error;
    } finally {
      this.guard.changed(change);
    }
  }

  /**
   * The clear is marked first (computes storing meanwhile are refused), then each SCAN step is its
   * own bounded command, then the change is announced. Resolves with the clear's version.
   */
  private async clearPrefix(prefix: string): Promise<number> {
    const pattern = `${globEscape(`${this.options.keyPrefix}e:${prefix}`)}*`;
    const marked = await this.run('clear', undefined, (client) => markClear(client, this.options.keyPrefix, prefix));
    let cursor = '0';
    do {
      const [next, keys] = await this.run('clear', undefined, (client) => client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT));
      cursor = next;
      if (keys.length > 0) await this.run('clear', undefined, (client) => client.unlink(...keys));
    } while (cursor !== '0');
    await this.run('clear', undefined, (client) => announceClear(client, this.options.keyPrefix, prefix, marked, this.writer()));
    return marked;
  }

  private writer(): WriterArgs {
    return { origin: this.origin, site: this.host.site ?? '', streamLength: this.options.changeStreamLength };
  }

  /** Tries the pending repairs now, and again every REPAIR_INTERVAL while some remain. */
  private scheduleRepairs(): void {
    if (this.closed || this.repairs.size === 0) return;
    this.repairTimer ??= setInterval(() => void this.repair(), REPAIR_INTERVAL).unref();
    void this.repair();
  }

  private async repair(): Promise<void> {
    if (this.repairing || this.closed) return;
    if (this.repairs.size === 0) {
      clearInterval(this.repairTimer);
      this.repairTimer = undefined;
      return;
    }
    this.repairing = true;
    try {
      for (const target of this.repairs.pending()) {
        // Looked at again just before it is sent: a write of the key that reached Redis while
        // earlier repairs ran settled it. One sent after this goes over the same connection,
        // after the repair, so Redis applies it last.
        if (!this.repairs.has(target)) continue;
        await this.repairOne(target);
        this.repairs.done(target);
      }
    } catch {
      // Redis is still away: the timer tries again.
    } finally {
      this.repairing = false;
    }
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
