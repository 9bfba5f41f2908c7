/*
 * The Redis tier's storage layout and the scripts that decide each write inside Redis, so that
 * every machine's writes are judged against what is committed there (see src/core/coherence.ts).
 *
 * Under the tier's key prefix:
 *   seq          the change counter: every set, delete and clear takes the next value (INCR)
 *   e:<key>      a hash { v: version, d: msgpackr-encoded entry }, expiring at its grand timeout
 *   t:<key>      the version of the key's last delete (a tombstone), kept for TOMBSTONE_RETENTION
 *   c            a hash prefix -> version of that prefix's last clear
 *   x            the change stream: one record per change { o: origin, s: site, k | p, v }, capped
 *                near the tier's `changeStreamLength`; machines that were away replay it
 *
 * A conditional write (`basis` given) is refused when the key's last change (its entry, its
 * tombstone, a clear of '' or of its namespace) has a version above the basis.
 */
import type { Redis } from 'ioredis';
import { luaScript } from './connection.js';

/**
 * The keys of one storage key in the layout above.
 *
 * @example
 * ```ts
 * const keys = layoutOf('herdcache:', '0::k'); // { entry: 'herdcache:e:0::k', ... }
 * ```
 */
export function layoutOf(prefix: string, key: string): readonly string[] {
  return [`${prefix}e:${key}`, `${prefix}t:${key}`, `${prefix}c`, `${prefix}seq`, `${prefix}x`];
}

/**
 * The key of the change stream under a prefix.
 *
 * @example
 * ```ts
 * streamKey('herdcache:'); // 'herdcache:x'
 * ```
 */
export function streamKey(prefix: string): string {
  return `${prefix}x`;
}

const LAST_CHANGE = `
local function last(ns)
  local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
  local t = tonumber(redis.call('GET', KEYS[2]) or '0')
  local c = tonumber(redis.call('HGET', KEYS[3], '') or '0')
  local n = tonumber(redis.call('HGET', KEYS[3], ns) or '0')
  return math.max(v, t, c, n)
end
`;

// ARGV: ns
const READ = luaScript(`
local e = redis.call('HMGET', KEYS[1], 'v', 'd')
return {redis.call('GET', KEYS[4]) or '0', e[1] or '0', e[2] or ''}
`);

// ARGV: payload, pttl, basis ('' for none), ns, origin, site, key, stream length
const SET = luaScript(`${LAST_CHANGE}
if ARGV[3] ~= '' and last(ARGV[4]) > tonumber(ARGV[3]) then return 0 end
local v = redis.call('INCR', KEYS[4])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', v, 'd', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*', 'o', ARGV[5], 's', ARGV[6], 'k', ARGV[7], 'v', v)
return v
`);

// ARGV: tombstone ms, origin, site, key, stream length
const DELETE = luaScript(`
local v = redis.call('INCR', KEYS[4])
redis.call('UNLINK', KEYS[1])
redis.call('SET', KEYS[2], v, 'PX', ARGV[1])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'o', ARGV[2], 's', ARGV[3], 'k', ARGV[4], 'v', v)
return v
`);

// KEYS: clears hash, seq. ARGV: prefix. Marked before the keys go, so that a compute storing
// while the scan runs is refused already.
const MARK_CLEAR = luaScript(`
local v = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], v)
return v
`);

// KEYS: stream. ARGV: origin, site, prefix, version, stream length
const ANNOUNCE_CLEAR = luaScript(`
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'o', ARGV[1], 's', ARGV[2], 'p', ARGV[3], 'v', ARGV[4])
return 1
`);

/** Removes an undecodable entry only if it is still the same bytes. KEYS: entry. ARGV: bytes. */
const DELETE_IF_UNCHANGED = luaScript("if redis.call('HGET', KEYS[1], 'd') == ARGV[1] then return redis.call('UNLINK', KEYS[1]) end return 0");

/**
 * What a read found: the counter, the entry's version and its encoded bytes (empty if absent).
 *
 * @example
 * ```ts
 * const { observed, version, payload } = await readKey(client, keys, ns);
 * ```
 */
export interface RawRead {
  readonly observed: number;
  readonly version: number;
  readonly payload: Buffer;
}

const asNumber = (reply: unknown): number => Number(Buffer.isBuffer(reply) ? reply.toString() : reply);

/**
 * Reads a key and the counter in one atomic step.
 *
 * @example
 * ```ts
 * await readKey(client, layoutOf(prefix, key));
 * ```
 */
export async function readKey(client: Redis, keys: readonly string[]): Promise<RawRead> {
  const [observed, version, payload] = (await READ.runBuffer(client, keys, [])) as [Buffer, Buffer, Buffer];
  return { observed: asNumber(observed), version: asNumber(version), payload };
}

/** Who writes and how long the stream is kept: the arguments every write script shares. */
export interface WriterArgs {
  readonly origin: string;
  readonly site: string;
  readonly streamLength: number;
}

/**
 * Stores an entry; resolves with its version, or 0 if the basis was older than the key's last change.
 *
 * @example
 * ```ts
 * const v = await writeEntry(client, keys, payload, 5_000, undefined, '0::', 'k', writer);
 * ```
 */
export async function writeEntry(client: Redis, keys: readonly string[], payload: Buffer, pttl: number, basis: number | undefined, ns: string, key: string, writer: WriterArgs): Promise<number> {
  return asNumber(await SET.run(client, keys, [payload, pttl, basis === undefined ? '' : basis, ns, writer.origin, writer.site, key, writer.streamLength]));
}

/**
 * Deletes a key, leaving a tombstone; resolves with the delete's version.
 *
 * @example
 * ```ts
 * await deleteEntry(client, keys, 300_000, 'k', writer);
 * ```
 */
export async function deleteEntry(client: Redis, keys: readonly string[], tombstoneMs: number, key: string, writer: WriterArgs): Promise<number> {
  return asNumber(await DELETE.run(client, keys, [tombstoneMs, writer.origin, writer.site, key, writer.streamLength]));
}

/**
 * Marks a clear of `prefix` (its version) before its keys are removed.
 *
 * @example
 * ```ts
 * const v = await markClear(client, 'herdcache:', '0::');
 * ```
 */
export async function markClear(client: Redis, tierPrefix: string, prefix: string): Promise<number> {
  return asNumber(await MARK_CLEAR.run(client, [`${tierPrefix}c`, `${tierPrefix}seq`], [prefix]));
}

/**
 * Announces a finished clear on the change stream.
 *
 * @example
 * ```ts
 * await announceClear(client, 'herdcache:', '0::', v, writer);
 * ```
 */
export async function announceClear(client: Redis, tierPrefix: string, prefix: string, version: number, writer: WriterArgs): Promise<void> {
  await ANNOUNCE_CLEAR.run(client, [streamKey(tierPrefix)], [writer.origin, writer.site, prefix, version, writer.streamLength]);
}

/**
 * Removes an undecodable entry unless another machine replaced it meanwhile.
 *
 * @example
 * ```ts
 * await removeIfUnchanged(client, keys, payload);
 * ```
 */
export async function removeIfUnchanged(client: Redis, keys: readonly string[], payload: Buffer): Promise<void> {
  await DELETE_IF_UNCHANGED.run(client, [keys[0]!], [payload]);
}

/**
 * Runs one bounded command for a clear (the tier's command runner: breaker and timeout).
 *
 * @example
 * ```ts
 * const run: RunCommand = (action) => tier.run('clear', undefined, action);
 * ```
 */
export type RunCommand = <T>(action: (client: Redis) => Promise<T>) => Promise<T>;

/** Keys per SCAN step of a clear. */
const SCAN_COUNT = 500;

/** Escapes the glob characters of SCAN MATCH so that a prefix matches only itself. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * Clears every entry under `prefix`: the clear is marked first (computes storing meanwhile are
 * refused), then each SCAN step is its own bounded command, then the change is announced.
 * Resolves with the clear's version.
 *
 * @example
 * ```ts
 * const version = await clearEntries(run, 'hc:', '5:users:', () => writer);
 * ```
 */
export async function clearEntries(run: RunCommand, tierPrefix: string, prefix: string, writer: () => WriterArgs): Promise<number> {
  const pattern = `${globEscape(`${tierPrefix}e:${prefix}`)}*`;
  const marked = await run((client) => markClear(client, tierPrefix, prefix));
  let cursor = '0';
  do {
    const [next, keys] = await run((client) => client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT));
    cursor = next;
    if (keys.length > 0) await run((client) => client.unlink(...keys));
  } while (cursor !== '0');
  await run((client) => announceClear(client, tierPrefix, prefix, marked, writer()));
  return marked;
}
