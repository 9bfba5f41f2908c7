import { Packr } from 'msgpackr';
import type { Database } from 'lmdb';
import { transact, type LmdbEnvironment } from './env.js';
import { FREEING_WRITE } from './headroom.js';
import { recordChange, stampOf } from './versions.js';
import { RECORD_FORMAT, SEAL_BYTES, sealOf, STRUCTURES_KEY } from './seal.js';

const STRUCTURES = STRUCTURES_KEY as unknown as string;
const plain = new Packr();
const rawViews = new WeakMap<LmdbEnvironment, Database<Buffer, string>>();

function rawView(env: LmdbEnvironment): Database<Buffer, string> {
  let raw = rawViews.get(env);
  if (raw === undefined) rawViews.set(env, (raw = env.root.openDB<Buffer, string>('entries', { encoding: 'binary' })));
  return raw;
}

/**
 * Whether msgpackr's shared structures record of the entries database still matches its seal
 * and decodes. Every entry is encoded against it, so a garbled record made every later write
 * fail, forever.
 *
 * @example
 * ```ts
 * if (!structuresReadable(env)) await rebuildStructures(env, origin, Date.now());
 * ```
 */
export function structuresReadable(env: LmdbEnvironment): boolean {
  const bytes = rawView(env).getBinary(STRUCTURES);
  if (bytes === undefined) return true;
  if (bytes.length < SEAL_BYTES || bytes.readUInt32LE(0) !== sealOf(bytes, SEAL_BYTES, bytes.length)) return false;
  try {
    return Array.isArray(plain.unpack(bytes.subarray(SEAL_BYTES)));
  } catch {
    return false;
  }
}

/** Inside a write transaction: drops every record of the entries database and its index. */
function dropEveryEntry(env: LmdbEnvironment, origin: string, now: number): number {
  const raw = rawView(env);
  let dropped = 0;
  // Named on its own: a range of keys does not reach the symbol key.
  raw.remove(STRUCTURES);
  for (const key of raw.getKeys({})) {
    raw.remove(key);
    if (typeof key === 'string') dropped++;
  }
  for (const key of env.byAge.getKeys({})) env.byAge.remove(key);
  // Logged as a clear of everything, so that the other processes drop their memory copies too.
  const version = recordChange(env, { o: origin, t: now, p: '' });
  env.clears.put('', stampOf(version, now, undefined));
  return dropped;
}

/**
 * Drops the garbled structures record and every entry encoded against it (they can no longer be
 * read: misses, like any corrupt record). Writes work again at once: msgpackr starts new
 * structures. Resolves with how many entries were dropped.
 *
 * @example
 * ```ts
 * const dropped = await rebuildStructures(env, origin, Date.now());
 * ```
 */
export async function rebuildStructures(env: LmdbEnvironment, origin: string, now: number): Promise<number> {
  return transact(env, env.entries, () => (structuresReadable(env) ? 0 : dropEveryEntry(env, origin, now)), FREEING_WRITE);
}

/**
 * Brings a file written with another record layout (records without seals) to this one, by
 * dropping what it holds: a cache may always be thrown away, and its old records would only
 * read as corrupt one by one. Returns how many entries were dropped (0 for a current file).
 *
 * @example
 * ```ts
 * const dropped = upgradeRecordFormat(env, origin, Date.now());
 * ```
 */
export function upgradeRecordFormat(env: LmdbEnvironment, origin: string, now: number): number {
  if (env.meta.get('format') === RECORD_FORMAT) return 0;
  let dropped = 0;
  env.root.transactionSync(() => {
    if (env.meta.get('format') === RECORD_FORMAT) return;
    const empty = rawView(env).getKeysCount({}) === 0 && rawView(env).getBinary(STRUCTURES) === undefined;
    if (!empty) dropped = dropEveryEntry(env, origin, now);
    env.meta.putSync('format', RECORD_FORMAT);
  });
  env.root.resetReadTxn();
  return dropped;
}
