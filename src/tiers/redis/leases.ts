import type { Redis } from 'ioredis';
import type { Clock } from '../../core/clock.js';
import type { Lease, LeaseGrant, LeaseStore } from '../../core/tier.js';
import { luaScript } from './connection.js';

/**
 * Runs one Redis command for the tier: fails fast when disconnected or when the circuit is
 * open, bounds the wait with the command timeout, and throws StorageError on failure.
 *
 * @example
 * ```ts
 * const pong = await run('ping', undefined, (client) => client.ping());
 * ```
 */
export type CommandRunner = <T>(operation: string, key: string | undefined, action: (client: Redis) => Promise<T>) => Promise<T>;

/**
 * Leases held in Redis, seen by every machine, with an extension the holder may use to keep a
 * long compute covered.
 *
 * @example
 * ```ts
 * const grant = await tier.leases.acquire(key, token, 5_000);
 * if (grant.acquired) await tier.leases.extend(key, token, 5_000);
 * ```
 */
export interface RedisLeaseStore extends LeaseStore {
  /** Pushes the expiry to `ttl` ms from now, only if `token` still owns the lease. */
  extend(key: string, token: string, ttl: number): Promise<boolean>;
}

// SET NX PX takes the lease; when refused, the holder is read in the same atomic step.
const ACQUIRE = luaScript(
  "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end " +
    "return {0, redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}",
);
// The release is announced on the channel in the same atomic step: a holder that gives up
// without storing leaves nothing else for the waiters on other machines to hear.
const RELEASE = luaScript(
  "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) redis.call('PUBLISH', ARGV[2], ARGV[3]) return 1 end return 0",
);
const EXTEND = luaScript("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0");
const HOLDER = luaScript("local t = redis.call('GET', KEYS[1]) if not t then return nil end return {t, redis.call('PTTL', KEYS[1])}");

/**
 * Where and how a release of `key` is announced.
 *
 * @example
 * ```ts
 * const announce: ReleaseAnnouncer = (key) => ({ channel: 'herdcache:changes', message: encodeReleaseMessage(origin, key) });
 * ```
 */
export type ReleaseAnnouncer = (key: string) => { readonly channel: string; readonly message: string };

/** Redis wants whole milliseconds, at least one. */
function wholeMs(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}

/**
 * A holder read as `[token, pttl]`; a key without expiry (never written by this tier) is
 * treated as held indefinitely rather than ignored.
 */
function holderOf(key: string, token: unknown, pttl: unknown, clock: Clock): Lease | undefined {
  if (typeof token !== 'string' || typeof pttl !== 'number' || pttl === -2) return undefined;
  return { key, token, expiresAt: pttl < 0 ? Number.MAX_SAFE_INTEGER : clock() + pttl };
}

/**
 * Builds the cluster-wide lease store of the Redis tier. Redis expires a dead holder's lease
 * by itself, so a takeover is an ordinary acquisition: `tookOver` is always false here.
 *
 * @example
 * ```ts
 * const leases = redisLeaseStore(run, (key) => `herdcache:l:${key}`, Date.now, announce);
 * ```
 */
export function redisLeaseStore(run: CommandRunner, leaseKey: (key: string) => string, clock: Clock, announce: ReleaseAnnouncer): RedisLeaseStore {
  return {
    scope: 'cluster',
    async acquire(key, token, ttl): Promise<LeaseGrant> {
      const ms = wholeMs(ttl);
      const reply = await run('lease-acquire', key, (client) => ACQUIRE.run(client, [leaseKey(key)], [token, ms]));
      const [granted, holderToken, pttl] = reply as [number, unknown?, unknown?];
      if (granted === 1) return { acquired: true, lease: { key, token, expiresAt: clock() + ms }, tookOver: false };
      // Refused, though the lease vanished in the same instant: report it as held to the end of a
      // minimal expiry so that the caller simply tries again.
      return { acquired: false, holder: holderOf(key, holderToken, pttl, clock) ?? { key, token: '', expiresAt: clock() + 1 } };
    },
    async release(key, token) {
      const { channel, message } = announce(key);
      const reply = await run('lease-release', key, (client) => RELEASE.run(client, [leaseKey(key)], [token, channel, message]));
      return reply === 1;
    },
    async extend(key, token, ttl) {
      const reply = await run('lease-extend', key, (client) => EXTEND.run(client, [leaseKey(key)], [token, wholeMs(ttl)]));
      return reply === 1;
    },
    async holder(key) {
      const reply = await run('lease-holder', key, (client) => HOLDER.run(client, [leaseKey(key)], []));
      if (!Array.isArray(reply)) return undefined;
      return holderOf(key, reply[0], reply[1], clock);
    },
  };
}
