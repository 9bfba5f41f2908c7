import { createHash } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import { StorageError } from '../../core/errors.js';

/**
 * The ioredis client class, as the optional dependency exports it.
 *
 * @example
 * ```ts
 * const RedisClass: RedisConstructor = await loadIoredis();
 * ```
 */
export type RedisConstructor = typeof import('ioredis').Redis;

/**
 * Loads the optional dependency `ioredis`, only when a Redis tier is used. A missing package
 * becomes a {@link StorageError} whose message says how to install it.
 *
 * @example
 * ```ts
 * const RedisClass = await loadIoredis();
 * const client = new RedisClass('redis://127.0.0.1:6379');
 * ```
 */
export async function loadIoredis(importer: () => Promise<unknown> = () => import('ioredis')): Promise<RedisConstructor> {
  let loaded: unknown;
  try {
    loaded = await importer();
  } catch (error) {
    const missing = (error as { code?: unknown } | null)?.code === 'ERR_MODULE_NOT_FOUND';
    throw new StorageError(
      'redis',
      missing ? 'the optional dependency ioredis is not installed: run `npm install ioredis`' : 'the optional dependency ioredis could not be loaded',
      { cause: error },
    );
  }
  const candidate = (loaded as { Redis?: unknown; default?: unknown } | null) ?? {};
  const ctor = candidate.Redis ?? candidate.default;
  if (typeof ctor !== 'function') throw new StorageError('redis', 'the installed ioredis exports no Redis class: install ioredis 5 or later');
  return ctor as RedisConstructor;
}

/** Longest pause between two reconnection attempts, ms. */
const MAX_RECONNECT_DELAY = 1_000;

/**
 * Connection settings the tier imposes on both of its connections, whatever the caller's
 * template: no offline queue and no retried or resent commands, so that nothing queued while
 * Redis is away is written late over a newer value; reconnection forever with a capped backoff,
 * so that the tier resumes by itself. Command timeouts are the tier's own ({@link withTimeout}),
 * one timer per command rather than two.
 *
 * @example
 * ```ts
 * new Redis(url, connectionOptions(2_000));
 * ```
 */
export function connectionOptions(connectTimeout: number): Partial<RedisOptions> {
  return {
    lazyConnect: false,
    enableOfflineQueue: false,
    enableReadyCheck: true,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // The tier subscribes itself on every 'ready', to learn when a subscription was lost.
    autoResubscribe: false,
    connectTimeout,
    retryStrategy: (times: number) => Math.min(times * 100, MAX_RECONNECT_DELAY),
  };
}

/**
 * A Lua script run with EVALSHA, falling back to EVAL when the server does not know it yet
 * (first use, or after a restart flushed the script cache).
 *
 * @example
 * ```ts
 * const release = luaScript("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0");
 * await release.run(client, ['lease:k'], ['token']);
 * ```
 */
export interface LuaScript {
  readonly sha: string;
  run(client: Redis, keys: readonly string[], args: ReadonlyArray<string | number | Buffer>): Promise<unknown>;
  /** Like run, with bulk replies as Buffers (binary values). */
  runBuffer(client: Redis, keys: readonly string[], args: ReadonlyArray<string | number | Buffer>): Promise<unknown>;
}

/**
 * Builds a {@link LuaScript}.
 *
 * @example
 * ```ts
 * const ping = luaScript("return 'pong'");
 * ```
 */
export function luaScript(lua: string): LuaScript {
  const sha = createHash('sha1').update(lua).digest('hex');
  return {
    sha,
    async run(client, keys, args) {
      try {
        return await client.evalsha(sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        return client.eval(lua, keys.length, ...keys, ...args);
      }
    },
    async runBuffer(client, keys, args) {
      try {
        return await client.callBuffer('EVALSHA', sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        return client.callBuffer('EVAL', lua, keys.length, ...keys, ...args);
      }
    },
  };
}

/**
 * An error thrown when Redis does not answer within the command timeout.
 *
 * @example
 * ```ts
 * await withTimeout(client.ping(), 250); // rejects with RedisTimeoutError if Redis is frozen
 * ```
 */
export class RedisTimeoutError extends Error {
  constructor(readonly timeout: number) {
    super(`Redis did not answer within ${timeout} ms`);
    this.name = 'RedisTimeoutError';
  }
}

/**
 * Resolves or rejects like `work`, or rejects with {@link RedisTimeoutError} after `ms`. A late
 * rejection of `work` is observed, never left unhandled.
 *
 * @example
 * ```ts
 * const reply = await withTimeout(client.get('k'), 250);
 * ```
 */
export function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisTimeoutError(ms)), ms);
  });
  work.catch(() => {});
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * True for a command that got no answer in time: ours ({@link RedisTimeoutError}) or ioredis's
 * own `commandTimeout`, whichever fired first.
 *
 * @example
 * ```ts
 * if (isTimeout(error)) console.warn('Redis is slow or frozen');
 * ```
 */
export function isTimeout(error: unknown): boolean {
  return error instanceof RedisTimeoutError || (error instanceof Error && error.message === 'Command timed out');
}

/**
 * True for an error answered by the server itself (`WRONGTYPE`, `NOSCRIPT`, ...): Redis is up,
 * so it must not count towards opening the circuit.
 *
 * @example
 * ```ts
 * if (!isReplyError(error)) breaker.failed();
 * ```
 */
export function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

/**
 * Closes a connection without ever hanging: a polite QUIT when it is up, bounded by `ms`, then
 * a hard disconnect that also stops reconnection attempts.
 *
 * @example
 * ```ts
 * await closeConnection(client, 500);
 * ```
 */
export async function closeConnection(client: Redis, ms: number): Promise<void> {
  try {
    if (client.status === 'ready') await withTimeout(client.quit(), ms);
  } catch {
    // The hard disconnect below closes it anyway.
  } finally {
    client.disconnect();
  }
}
