/*
 * Versions of the LMDB tier: the decisions of src/core/coherence.ts, taken inside the write
 * transaction that commits the write, so that what every process of the machine wrote is judged
 * against what is committed whoever polled what.
 *
 * The file keeps one change counter (`meta.seq`). Every change (a set, a delete, a clear, a
 * released lease) takes the next value inside its transaction: that value is the key of its
 * record in the change log, which therefore cannot collide whatever the number of caches, tiers
 * and processes writing at once, and it is the version of the entry written (`v`), of the
 * tombstone a delete leaves, or of the record a clear leaves for its prefix. A read reports the
 * counter of its snapshot; a conditional write refuses when the key's last change is later.
 *
 * Writes that went to a cluster tier first carry the version they got there (`rv`); the file
 * keeps it with the entry, tombstone or clear record, and refuses a write or drop whose cluster
 * version is not newer than what it holds, so cluster order wins on every machine.
 */
import type { CacheEntry } from '../../core/entry.js';
import { isEntryRecord } from '../../core/entry.js';
import type { WriteCondition } from '../../core/tier.js';
import type { ChangeRecord, ChangeStamp, LmdbEnvironment } from './env.js';
import { keySeal } from './seal.js';

/**
 * An entry as the LMDB tier stores it: the record, its version in this file and, when it went to
 * a cluster tier first, its version there.
 *
 * @example
 * ```ts
 * const stored: StoredEntry = { value: 1, storedAt: 0, freshUntil: 10, staleUntil: 10, delta: 0, v: 7 };
 * ```
 */
export interface StoredEntry extends CacheEntry {
  readonly v?: number;
  readonly rv?: number;
  /** The hash of the key it was stored under (see seal.ts). */
  readonly kh?: number;
}

/**
 * Whether a decoded record is an entry stored under `key`: a record that does not carry the
 * hash of the key it is read under was filed there by damage, not by a write.
 *
 * @example
 * ```ts
 * if (!isStoredUnder(record, key)) return corrupt(key);
 * ```
 */
export function isStoredUnder(record: unknown, key: string): record is StoredEntry {
  return isEntryRecord(record) && (record as StoredEntry).kh === keySeal(key);
}

/**
 * The file's change counter in the current snapshot (0 for a new file).
 *
 * @example
 * ```ts
 * env.root.resetReadTxn(); const seen = currentVersion(env);
 * ```
 */
export function currentVersion(env: LmdbEnvironment): number {
  return env.meta.get('seq') ?? 0;
}

/**
 * Takes the next version inside a write transaction and logs the change under it.
 *
 * @example
 * ```ts
 * transact(env, env.entries, () => { const v = recordChange(env, { o: id, t: Date.now(), k: key }); ... });
 * ```
 */
export function recordChange(env: LmdbEnvironment, change: ChangeRecord): number {
  const version = currentVersion(env) + 1;
  env.meta.put('seq', version);
  env.log.put(version, change);
  return version;
}

/**
 * The stored record of a key as a write transaction sees it (undefined if absent or undecodable).
 *
 * @example
 * ```ts
 * const current = storedEntry(env, '0::k');
 * ```
 */
export function storedEntry(env: LmdbEnvironment, key: string): StoredEntry | undefined {
  let record: unknown;
  try {
    record = env.entries.get(key);
  } catch {
    return undefined;
  }
  return isStoredUnder(record, key) ? record : undefined;
}

/** The clear records whose prefix covers `key`. */
function clearsOf(env: LmdbEnvironment, key: string): ChangeStamp[] {
  const found: ChangeStamp[] = [];
  for (const { key: prefix, value } of env.clears.getRange({})) if (key.startsWith(prefix)) found.push(value);
  return found;
}

/**
 * Whether a write of `key` under `condition` may commit, given what the transaction sees.
 *
 * @example
 * ```ts
 * if (!admits(env, key, storedEntry(env, key), { unchangedSince: 12 })) return { applied: false };
 * ```
 */
export function admits(env: LmdbEnvironment, key: string, current: StoredEntry | undefined, condition: WriteCondition | undefined): boolean {
  const since = condition?.unchangedSince;
  const cluster = condition?.clusterVersion;
  if (since === undefined && cluster === undefined) return true;
  const tombstone = env.tombstones.get(key);
  const stamps = [...clearsOf(env, key), ...(tombstone === undefined ? [] : [tombstone])];
  if (since !== undefined) {
    // A change committed here since the read refuses the write, unless the cluster ordered that
    // change before this write (a drop heard from Redis carries the version it was for): then
    // the cluster's order decides, below, and a copy of the very value a drop was for may land.
    const newerEntry = current !== undefined && (current.v ?? 0) > since;
    const newerStamps = stamps.filter((s) => s.v > since);
    if (newerEntry || newerStamps.length > 0) {
      if (cluster === undefined) return false;
      if (newerEntry && (current.rv === undefined || current.rv >= cluster)) return false;
      if (newerStamps.some((s) => s.rv === undefined || s.rv > cluster)) return false;
    }
  }
  if (cluster !== undefined) {
    // An entry holds the value of its cluster version: the same or an older one adds nothing. A
    // tombstone or clear stamp says everything before its cluster version is gone (a drop heard
    // from the cluster carries the version of the change that replaced the value).
    if (current?.rv !== undefined && cluster <= current.rv) return false;
    if (stamps.some((s) => s.rv !== undefined && cluster < s.rv)) return false;
  }
  return true;
}

/**
 * The record to store under `key` for an entry written at `version` (and `clusterVersion`, if any).
 *
 * @example
 * ```ts
 * env.entries.put(key, storedRecord(key, entry, 8, undefined));
 * ```
 */
export function storedRecord(key: string, entry: CacheEntry, version: number, clusterVersion: number | undefined): StoredEntry {
  const { value, storedAt, freshUntil, staleUntil, delta } = entry;
  const record = { value, storedAt, freshUntil, staleUntil, delta, v: version, kh: keySeal(key) };
  return clusterVersion === undefined ? record : { ...record, rv: clusterVersion };
}

/**
 * The stamp a delete or clear leaves.
 *
 * @example
 * ```ts
 * env.tombstones.put(key, stampOf(9, Date.now(), undefined));
 * ```
 */
export function stampOf(version: number, now: number, clusterVersion: number | undefined): ChangeStamp {
  return clusterVersion === undefined ? { v: version, t: now } : { v: version, t: now, rv: clusterVersion };
}
