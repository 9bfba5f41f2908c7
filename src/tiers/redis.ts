/*
 * The Redis tier (L3): one Redis server shared by every machine, below each machine's LMDB file.
 *
 * Invalidation bound. A `set`, `delete` or `clear` writes Redis and publishes the changed key (or
 * prefix, never the value) on a pub/sub channel in the same atomic script. Every other cache
 * instance subscribed to the channel drops its memory copy as soon as the message arrives and
 * its machine's LMDB copy with one LMDB commit (unless the message carries the site id of its own
 * LMDB file: the writer shares that file and replaced the copy itself), so another machine stops
 * seeing the old value within one pub/sub delivery plus one LMDB commit, a few milliseconds on a
 * LAN (the tests allow 2 s on a loaded machine). A read from Redis that overlaps the change of its key is read again, so an old
 * reply cannot be copied back into the local tiers after the drop. Pub/sub delivers at most once:
 * when the subscription is lost (Redis restarted, network cut) messages may be missed, so when it
 * is restored every local copy is dropped (memory and LMDB, as for `clear('')`) before the bound
 * holds again. Entries in Redis expire by themselves at their grand timeout (`PX` = staleUntil -
 * now); clocks of the machines are assumed to agree within a small fraction of the ttl.
 *
 * Failure behaviour. Nothing waits on Redis longer than `commandTimeout` (default 250 ms): a
 * command fails fast with StorageError when the connection is down (there is no offline queue,
 * so nothing is written late over a newer value), times out when Redis is frozen, and after
 * `breaker.failures` consecutive timeouts (default 5) the circuit opens and every command fails
 * at once for `breaker.cooldown` ms (default 1 000), then one trial command probes Redis and
 * closes the circuit when it answers (a new connection closes it too). The cache counts each failure (`stats().errors`, event
 * `tier-error`), serves from memory and LMDB, and the lease chain falls back to LMDB leases (one
 * compute per machine instead of per cluster while Redis is away). ioredis reconnects by itself
 * (backoff capped at 1 s), so the tier resumes without help. Commands issued while the very first
 * connection is being made wait for it, at most `connectTimeout`. `close()` is bounded too.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import { MSGPACK_OPTIONS } from '../core/codec.js';
import { isEntryRecord, type CacheEntry } from '../core/entry.js';
import { InvalidKeyError, StorageError } from '../core/errors.js';
import type { Invalidation, Tier, TierHost } from '../core/tier.js';
import { CircuitBreaker, type CircuitState } from './redis-breaker.js';
import { decodeBusMessage, encodeBusMessage, encodeReleaseMessage, ReadGuard } from './redis-bus.js';
import { closeConnection, connectionOptions, isReplyError, isTimeout, loadIoredis, luaScript, withTimeout } from './redis-connection.js';
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
  /** The invalidation channel is subscribed: changes from other machines reach this process. */
  readonly subscribed: boolean;
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
export interface RedisTier extends Tier {
  readonly leases: RedisLeaseStore;
  get(key: string): Promise<CacheEntry | undefined>;
  set(key: string, entry: CacheEntry, bytes: number): Promise<void>;
  delete(key: string): Promise<void>;
  clear(prefix: string): Promise<void>;
  onInvalidation(listener: (change: Invalidation) => void): void;
  onLeaseRelease(listener: (key: string) => void): void;
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

// Writes and their invalidation message are one atomic step: no reader sees the new value
// before the message is on its way, and no message goes out for a write that failed.
const SET_AND_PUBLISH = luaScript(
  "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) redis.call('PUBLISH', ARGV[3], ARGV[4]) return 1",
);
const DELETE_AND_PUBLISH = luaScript("redis.call('UNLINK', KEYS[1]) redis.call('PUBLISH', ARGV[1], ARGV[2]) return 1");
const DELETE_IF_UNCHANGED = luaScript("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('UNLINK', KEYS[1]) end return 0");

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

  private readonly origin = randomBytes(9).toString('base64url');
  private readonly packr = new Packr({ ...MSGPACK_OPTIONS });
  private readonly guard = new ReadGuard();
  private readonly breaker: CircuitBreaker;
  private host: TierHost = { clock: Date.now, report: () => {} };
  private listener: ((change: Invalidation) => void) | undefined;
  private releaseListener: ((key: string) => void) | undefined;
  private cmd: Redis | undefined;
  private sub: Redis | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;
  private attached = false;
  private subscribed = false;
  /** Messages may have been missed: set when the subscription drops, cleared after the catch-up. */
  private missedMessages = false;
  private lastError: unknown;
  /** Settles when the first connection attempt succeeds or fails. */
  private firstAttempt: Promise<void>;
  private settleFirstAttempt: () => void = () => {};
  private firstAttemptSettled = false;
  private readonly watchers = new Set<() => void>();

  constructor(private readonly options: ResolvedRedisOptions) {
    this.breaker = new CircuitBreaker({ failures: options.breakerFailures, cooldown: options.breakerCooldown });
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
      subscribed: this.subscribed,
      circuit: this.breaker.state,
      failures: this.breaker.failures,
    };
  }

  ready(timeout = 5_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.closed) finish(new StorageError(this.name, 'the Redis tier closed before it was ready'));
        else if (this.cmd?.status === 'ready' && this.subscribed) finish(undefined);
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
    const redisKey = this.entryKey(key);
    for (let attempt = 0; attempt < MAX_READS; attempt++) {
      const mark = this.guard.begin();
      let reply: Buffer | null;
      let changed: boolean;
      try {
        reply = await this.run('get', key, (client) => client.getBuffer(redisKey));
      } finally {
        changed = this.guard.end(key, mark);
      }
      if (!changed) return this.decode(key, redisKey, reply);
    }
    // The key keeps changing under this read: a miss is always safe.
    return undefined;
  }

  async set(key: string, entry: CacheEntry): Promise<void> {
    this.checkKey(key);
    const redisKey = this.entryKey(key);
    const ttl = Math.ceil(entry.staleUntil - this.host.clock());
    const payload = ttl > 0 ? this.packr.pack(entry) : undefined;
    await this.write('set', { key }, (message) =>
      this.run('set', key, (client) =>
        payload === undefined
          ? DELETE_AND_PUBLISH.run(client, [redisKey], [this.options.channel, message])
          : SET_AND_PUBLISH.run(client, [redisKey], [payload, ttl, this.options.channel, message]),
      ),
    );
  }

  async delete(key: string): Promise<void> {
    this.checkKey(key);
    const redisKey = this.entryKey(key);
    await this.write('delete', { key }, (message) =>
      this.run('delete', key, (client) => DELETE_AND_PUBLISH.run(client, [redisKey], [this.options.channel, message])),
    );
  }

  async clear(prefix: string): Promise<void> {
    const pattern = `${globEscape(this.entryKey(prefix))}*`;
    await this.write('clear', { prefix }, async (message) => {
      // Each step is its own bounded command: SCAN visits the keyspace in slices.
      let cursor = '0';
      do {
        const [next, keys] = await this.run('clear', undefined, (client) => client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT));
        cursor = next;
        if (keys.length > 0) await this.run('clear', undefined, (client) => client.unlink(...keys));
      } while (cursor !== '0');
      await this.run('clear', undefined, (client) => client.publish(this.options.channel, message));
    });
  }

  onInvalidation(listener: (change: Invalidation) => void): void {
    this.listener = listener;
  }

  onLeaseRelease(listener: (key: string) => void): void {
    this.releaseListener = listener;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.notify();
    if (this.starting !== undefined) await this.starting;
    const connections = [this.cmd, this.sub].filter((c): c is Redis => c !== undefined);
    this.cmd = undefined;
    this.sub = undefined;
    this.subscribed = false;
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
      // Until subscribed again, messages published meanwhile are lost for good.
      this.missedMessages = true;
      this.subscribed = false;
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
    this.subscribed = true;
    if (this.missedMessages) {
      this.missedMessages = false;
      // Changes made elsewhere while unsubscribed went unheard: drop every local copy.
      this.deliver({ prefix: '' });
    }
    this.notify();
  }

  private onMessage(channel: string, message: string): void {
    if (channel !== this.options.channel) return;
    const decoded = decodeBusMessage(message);
    if (decoded === undefined || decoded.origin === this.origin) return;
    if ('released' in decoded) this.releaseListener?.(decoded.released);
    else this.deliver(decoded.change);
  }

  private deliver(change: Invalidation): void {
    this.guard.changed(change);
    try {
      this.listener?.(change);
    } catch (error) {
      this.host.report({ type: 'error', operation: 'invalidate', error });
    }
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
  private async run<T>(operation: string, key: string | undefined, action: (client: Redis) => Promise<T>): Promise<T> {
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
   * with the old value in between is read again), runs it (the action publishes `message`),
   * reports a failure as the engine expects of tiers, and rethrows it.
   */
  private async write(operation: string, change: Invalidation, action: (message: string) => Promise<unknown>): Promise<void> {
    const message = encodeBusMessage(this.origin, this.host.site, change);
    this.guard.changed(change);
    try {
      await action(message);
    } catch (error) {
      this.host.report({ type: 'error', operation, error });
      throw error;
    } finally {
      this.guard.changed(change);
    }
  }

  private entryKey(key: string): string {
    return `${this.options.keyPrefix}e:${key}`;
  }

  private checkKey(key: string): void {
    const bytes = Buffer.byteLength(key);
    if (bytes > this.maxKeyBytes) {
      throw new InvalidKeyError(`the storage key is ${bytes} bytes long, over the Redis tier's limit of ${this.maxKeyBytes} bytes: hash long keys`, key.slice(0, 64));
    }
  }

  private decode(key: string, redisKey: string, reply: Buffer | null): CacheEntry | undefined {
    if (reply === null) return undefined;
    let record: unknown;
    try {
      record = this.packr.unpack(reply);
    } catch {
      return this.corrupt(key, redisKey, reply);
    }
    if (!isEntryRecord(record)) return this.corrupt(key, redisKey, reply);
    return record.staleUntil <= this.host.clock() ? undefined : record;
  }

  private corrupt(key: string, redisKey: string, reply: Buffer): undefined {
    this.host.report({ type: 'corrupt', key });
    // Removed only if still the same bytes: another machine may have replaced it meanwhile.
    this.run('remove-corrupt', key, (client) => DELETE_IF_UNCHANGED.run(client, [redisKey], [reply])).catch((error: unknown) =>
      this.host.report({ type: 'error', operation: 'remove-corrupt', error }),
    );
    return undefined;
  }
}
