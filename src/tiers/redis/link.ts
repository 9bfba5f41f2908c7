/*
 * The Redis tier's connections: one for commands, one subscribed to the lease-release channel, one
 * following the change stream (a blocking XREAD would hold up commands). ioredis reconnects each by
 * itself; this class remembers why the last attempt failed, runs each command under the circuit
 * breaker and the command timeout, and lets the first commands wait (bounded) for the very first
 * connection. Everything else about the tier (what a command does) is in tier.ts.
 */
import type { Redis } from 'ioredis';
import { StorageError } from '../../core/errors.js';
import { assertDuration } from '../../core/options.js';
import { CircuitBreaker } from './breaker.js';
import { closeConnection, connectionOptions, isReplyError, isTimeout, loadIoredis, withTimeout } from './connection.js';
import { REDIS_DEFAULTS, type ResolvedRedisOptions } from './options.js';

/** Longest wait for QUIT on close, ms. */
const QUIT_TIMEOUT = 500;

/**
 * What the link tells the tier that owns it.
 *
 * @example
 * ```ts
 * const hooks: LinkHooks = { report, connected: () => retryRepairs(), succeeded: () => {}, message: onMessage, follow: (c, current) => feed.follow(c, current, notify) };
 * ```
 */
export interface LinkHooks {
  report(operation: string, error: unknown): void;
  /** The command connection passed its ready check: Redis answers again. */
  connected(): void;
  /** A command succeeded; `settles` names the key a write of it made on Redis. */
  succeeded(settles: string | undefined): void;
  /** A message on the subscribed channel. */
  message(channel: string, message: string): void;
  /** The stream connection is ready: follow the change stream while `current()` holds. */
  follow(connection: Redis, current: () => boolean): void;
}

/**
 * The three connections of one Redis tier, and the rules every command runs under.
 *
 * @example
 * ```ts
 * const link = new RedisLink('redis', options, hooks);
 * void link.start();
 * await link.run('get', { key }, (client) => client.get(key));
 * ```
 */
export class RedisLink {
  readonly breaker: CircuitBreaker;
  private cmd: Redis | undefined;
  private sub: Redis | undefined;
  private feedConnection: Redis | undefined;
  private closing = false;
  private lastError: unknown;
  /** Settles when the first connection attempt succeeds or fails. */
  private readonly firstAttempt: Promise<void>;
  private settleFirstAttempt: () => void = () => {};
  private firstAttemptSettled = false;
  private readonly watchers = new Set<() => void>();

  constructor(private readonly name: string, private readonly options: ResolvedRedisOptions, private readonly hooks: LinkHooks) {
    this.breaker = new CircuitBreaker({ failures: options.breakerFailures, cooldown: options.breakerCooldown });
    this.firstAttempt = new Promise((resolve) => {
      this.settleFirstAttempt = () => {
        this.firstAttemptSettled = true;
        resolve();
      };
    });
  }

  get closed(): boolean {
    return this.closing;
  }

  /** Whether the command connection is up now. */
  get connected(): boolean {
    return this.cmd?.status === 'ready';
  }

  /** The error of the last failed attempt, if any. */
  get lastFailure(): unknown {
    return this.lastError;
  }

  /** Why the link is down, for messages: ` (the last error's message)`, or ''. */
  reason(): string {
    const error = this.lastError;
    return error instanceof Error ? ` (${error.message})` : '';
  }

  /** Runs `check` whenever the state of a connection changes, until the returned function is called. */
  watch(check: () => void): () => void {
    this.watchers.add(check);
    return () => void this.watchers.delete(check);
  }

  notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }

  async start(): Promise<void> {
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
      if (this.closing) return;
      this.cmd = this.watchCommandConnection(open());
      this.sub = this.watchSubscriber(open());
      this.feedConnection = this.watchFeed(open());
    } catch (error) {
      this.lastError = error;
      this.settleFirstAttempt();
      this.hooks.report('connect', error);
      this.notify();
    }
  }

  /**
   * Runs one command under the breaker and the command timeout. `settles` names the key a write
   * made on Redis (see {@link LinkHooks.succeeded}).
   */
  async run<T>(operation: string, keyOption: { key?: string }, action: (client: Redis) => Promise<T>, settles?: string): Promise<T> {
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
      this.hooks.succeeded(settles);
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

  /**
   * Resolves once the command connection is up and `following()` holds (the change stream is
   * followed); rejects with StorageError after `timeout` ms or if the link closes, and with
   * InvalidOptionError at once for a timeout that is not a duration a timer can wait.
   */
  ready(timeout: number, following: () => boolean): Promise<void> {
    try {
      assertDuration('redisTier.ready(timeout)', timeout, true);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.closing) finish(new StorageError(this.name, 'the Redis tier closed before it was ready'));
        else if (this.connected && following()) finish(undefined);
      };
      const timer = setTimeout(() => finish(new StorageError(this.name, `not connected and subscribed after ${timeout} ms${this.reason()}`, { cause: this.lastError })), timeout);
      const finish = (error: StorageError | undefined): void => {
        clearTimeout(timer);
        unwatch();
        if (error === undefined) resolve();
        else reject(error);
      };
      const unwatch = this.watch(check);
      check();
    });
  }

  /** Marks the link closing at once (commands fail from now on), then closes every connection, bounded. */
  async close(starting: Promise<void> | undefined): Promise<void> {
    this.closing = true;
    this.notify();
    if (starting !== undefined) await starting;
    const connections = [this.cmd, this.sub, this.feedConnection].filter((c): c is Redis => c !== undefined);
    this.cmd = undefined;
    this.sub = undefined;
    this.feedConnection = undefined;
    await Promise.all(connections.map((c) => closeConnection(c, QUIT_TIMEOUT)));
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
      this.hooks.connected();
    });
    connection.on('close', () => {
      this.settleFirstAttempt();
      if (up && !this.closing) {
        this.hooks.report('connection', new StorageError(this.name, `lost the connection to Redis${this.reason()}`, { cause: this.lastError }));
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
    connection.on('message', (channel: string, message: string) => this.hooks.message(channel, message));
    return connection;
  }

  private async subscribe(connection: Redis): Promise<void> {
    try {
      await withTimeout(connection.subscribe(this.options.channel), this.options.connectTimeout);
    } catch (error) {
      if (this.closing || connection !== this.sub) return;
      this.hooks.report('subscribe', error);
      // Cycle the connection: the next 'ready' subscribes again.
      connection.disconnect(true);
      return;
    }
    if (this.closing || connection !== this.sub) return;
    this.notify();
  }

  private watchFeed(connection: Redis): Redis {
    connection.on('error', (error: unknown) => {
      this.lastError = error;
    });
    connection.on('ready', () => this.hooks.follow(connection, () => !this.closing && connection === this.feedConnection && connection.status === 'ready'));
    return connection;
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
}
