import { Packr } from 'msgpackr';
import type { Database } from 'lmdb';
import { transact, type LmdbEnvironment } from './lmdb-env.js';
import { recordChange, stampOf } from './lmdb-versions.js';

const STRUCTURES_KEY = Symbol.for('herdcache.structures') as unknown as string;
const plain = new Packr();
const rawViews = new WeakMap<LmdbEnvironment, Database<Buffer, string>>();

/**
 * Whether msgpackr's shared structures record of the entries database still decodes. Every entry
 * is encoded against it, so a garbled record made every later write fail, forever.
 *
 * @example
 * ```ts
 * if (!structuresReadable(env)) await rebuildStructures(env, origin, Date.now());
 * ```
 */
export function structuresReadable(env: LmdbEnvironment): boolean {
  let raw = rawViews.get(env);
  if (raw === undefined) rawViews.set(env, (raw = env.root.openDB<Buffer, string>('entries', { encoding: 'binary' })));
  const bytes = raw.getBinary(STRUCTURES_KEY);
  if (bytes === undefined) return true;
  try {
    return Array.isArray(plain.unpack(bytes));
  } catch {
    return false;
  }
}

/**
 * Drops the garbled structures record and every entry encoded against it (they can no longer be
 * read: misses, like any corrupt record), and logs the change as a clear of everything so the
 * other processes drop their memory copies too. Writes work again at once: msgpackr starts new
 * structures. Resolves with how many entries were dropped.
 *
 * @example
 * ```ts
 * const dropped = await rebuildStructures(env, origin, Date.now());
 * ```
 */
export async function rebuildStructures(env: LmdbEnvironment, origin: string, now: number): Promise<number> {
  const raw = rawViews.get(env) ?? env.root.openDB<Buffer, string>('entries', { encoding: 'binary' });
  return transact(env.entries, () => {
    if (structuresReadable(env)) return 0;
    let dropped = 0;
    // Named on its own: a range of keys does not reach the symbol key.
    raw.remove(STRUCTURES_KEY);
    for (const key of raw.getKeys({})) {
      raw.remove(key);
      if (typeof key === 'string') dropped++;
    }
    for (const key of env.byAge.getKeys({})) env.byAge.remove(key);
    const version = recordChange(env, { o: origin, t: now, p: '' });
    env.clears.put('', stampOf(version, now, undefined));
    return dropped;
  });
}
