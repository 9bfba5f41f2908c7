import type { Redis } from 'ioredis';
import { types } from 'node:util';
import { InvalidOptionError } from '../../core/errors.js';
import { assertDuration, assertPositive, optionsObject } from '../../core/options.js';

/**
 * Options of the Redis tier.
 *
 * @example
 * ```ts
 * redisTier({ url: 'redis://cache.internal:6379', commandTimeout: 250, breaker: { failures: 5, cooldown: 1_000 } });
 * ```
 */
export interface RedisTierOptions {
  /** Server to connect to, e.g. `redis://:password@host:6379/0`. Default `redis://127.0.0.1:6379`. Not with `client`. */
  readonly url?: string;
  /**
   * A configured ioredis client used as a template (TLS, sentinels, auth): the tier opens its own
   * two connections with `client.duplicate()` and never uses nor closes yours. Not with `url`.
   */
  readonly client?: Redis;
  /** Longest wait for any Redis command, ms. Default 250. */
  readonly commandTimeout?: number;
  /** Longest wait for a connection attempt (and, at start, for the first connection), ms. Default 2 000. */
  readonly connectTimeout?: number;
  /** Prefix of every Redis key the tier writes. Default `herdcache:`. */
  readonly keyPrefix?: string;
  /** Pub/sub channel of invalidation messages. Default: keyPrefix + `invalidations`. */
  readonly channel?: string;
  /** Circuit breaker: consecutive command timeouts that open it, and how long it stays open (ms). Default 5 and 1 000. */
  readonly breaker?: { readonly failures?: number; readonly cooldown?: number };
  /**
   * Changes the change stream keeps (about: Redis trims in whole nodes). A machine away for
   * longer than this many changes drops all its local copies on return. Default 100 000.
   */
  readonly changeStreamLength?: number;
  /** Keys whose failed write is remembered for repair; past it the whole prefix is repaired. Default 10 000. */
  readonly repairLimit?: number;
}

/**
 * Defaults of {@link RedisTierOptions}.
 *
 * @example
 * ```ts
 * redisTier({ commandTimeout: REDIS_DEFAULTS.commandTimeout * 2 });
 * ```
 */
export const REDIS_DEFAULTS = {
  url: 'redis://127.0.0.1:6379',
  commandTimeout: 250,
  connectTimeout: 2_000,
  keyPrefix: 'herdcache:',
  breakerFailures: 5,
  breakerCooldown: 1_000,
  changeStreamLength: 100_000,
  repairLimit: 10_000,
} as const;

function positive(option: string, value: unknown): number {
  assertPositive(`redisTier.${option}`, value);
  return value;
}

/** An ioredis client, judged without running a Proxy's traps (they may throw). */
function isClient(client: unknown): boolean {
  if (types.isProxy(client) || typeof client !== 'object' || client === null) return false;
  try {
    return typeof (client as { duplicate?: unknown }).duplicate === 'function';
  } catch {
    return false;
  }
}

/** A duration a timer waits for: at most 2^31 - 1 ms. */
function timer(option: string, value: unknown): number {
  assertDuration(`redisTier.${option}`, value, true);
  return value;
}

/**
 * {@link RedisTierOptions} once validated, every field present.
 *
 * @example
 * ```ts
 * const resolved = resolveRedisOptions({ url: 'redis://cache:6379' }); // resolved.commandTimeout === 250
 * ```
 */
export interface ResolvedRedisOptions {
  readonly url: string | undefined;
  readonly client: Redis | undefined;
  readonly commandTimeout: number;
  readonly connectTimeout: number;
  readonly keyPrefix: string;
  readonly channel: string;
  readonly breakerFailures: number;
  readonly breakerCooldown: number;
  readonly changeStreamLength: number;
  readonly repairLimit: number;
}

/**
 * Validates the options eagerly (InvalidOptionError naming the option) and fills in defaults.
 *
 * @example
 * ```ts
 * resolveRedisOptions({ commandTimeout: 0 }); // throws InvalidOptionError: redisTier.commandTimeout
 * ```
 */
export function resolveRedisOptions(options: RedisTierOptions): ResolvedRedisOptions {
  optionsObject('redisTier', options);
  const { url, client, keyPrefix = REDIS_DEFAULTS.keyPrefix } = options;
  const breaker = optionsObject('redisTier.breaker', options.breaker);
  if (url !== undefined && client !== undefined) throw new InvalidOptionError('redisTier.url', 'was given together with client: pass one of them');
  if (url !== undefined && (typeof url !== 'string' || url === '')) throw new InvalidOptionError('redisTier.url', 'must be a non-empty string such as redis://127.0.0.1:6379');
  if (client !== undefined && !isClient(client)) throw new InvalidOptionError('redisTier.client', 'must be an ioredis client (new Redis(...))');
  if (typeof keyPrefix !== 'string') throw new InvalidOptionError('redisTier.keyPrefix', 'must be a string');
  const channel = options.channel ?? `${keyPrefix}invalidations`;
  if (typeof channel !== 'string' || channel === '') throw new InvalidOptionError('redisTier.channel', 'must be a non-empty string');
  const failures = positive('breaker.failures', breaker.failures ?? REDIS_DEFAULTS.breakerFailures);
  if (!Number.isInteger(failures)) throw new InvalidOptionError('redisTier.breaker.failures', `must be a whole number, got ${failures}`);
  return {
    url: client === undefined ? (url ?? REDIS_DEFAULTS.url) : undefined,
    client,
    commandTimeout: timer('commandTimeout', options.commandTimeout ?? REDIS_DEFAULTS.commandTimeout),
    connectTimeout: timer('connectTimeout', options.connectTimeout ?? REDIS_DEFAULTS.connectTimeout),
    keyPrefix,
    channel,
    breakerFailures: failures,
    breakerCooldown: timer('breaker.cooldown', breaker.cooldown ?? REDIS_DEFAULTS.breakerCooldown),
    changeStreamLength: Math.ceil(positive('changeStreamLength', options.changeStreamLength ?? REDIS_DEFAULTS.changeStreamLength)),
    repairLimit: Math.ceil(positive('repairLimit', options.repairLimit ?? REDIS_DEFAULTS.repairLimit)),
  };
}
