import { TOMBSTONE_RETENTION } from '../../core/coherence.js';
import { isEntryRecord } from '../../core/entry.js';
import { transact, type LmdbEnvironment } from './env.js';
import { FREEING_WRITE } from './headroom.js';

/**
 * An entry the sweep removed, and why.
 *
 * @example
 * ```ts
 * const e: Eviction = { key: '0::k', cause: 'expired' };
 * ```
 */
export interface Eviction {
  readonly key: string;
  readonly cause: 'expired' | 'size';
}

/**
 * How long the change log keeps a change, ms: a process that sleeps longer drops all its copies.
 *
 * @example
 * ```ts
 * CHANGE_RETENTION; // 60_000
 * ```
 */
export const CHANGE_RETENTION = 60_000;
/** Index rows examined per sweep, so that a huge file never stalls the event loop. */
const SCAN_LIMIT = 20_000;
/** The sweep starts evicting at this share of maxBytes and stops below the lower one. */
const HIGH_WATER = 0.9;
const LOW_WATER = 0.75;
/** Evict-and-measure rounds one sweep may take to get under the bound. */
const MAX_ROUNDS = 12;

const resumeAt = new WeakMap<LmdbEnvironment, [number, string]>();

/**
 * Bytes used by the entries and their index (pages times page size).
 *
 * @example
 * ```ts
 * usedBytes(env); // 1_540_096
 * ```
 */
export function usedBytes(env: LmdbEnvironment): number {
  let pages = 0;
  for (const db of [env.entries, env.byAge]) {
    const s = db.getStats() as { treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
    pages += s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
  }
  return pages * (env.root.getStats() as { pageSize: number }).pageSize;
}

/**
 * One background pass: removes entries past their grand timeout, then, while the file is over
 * its bound, the oldest entries; trims the change log and drops leases long expired. Every
 * removal is re-checked under the write lock, so an entry another process just replaced stays.
 *
 * @example
 * ```ts
 * const evicted = await sweepEnvironment(env, Date.now(), 1 << 30);
 * ```
 */
export async function sweepEnvironment(env: LmdbEnvironment, now: number, maxBytes: number): Promise<Eviction[]> {
  // Evicting a share of the entries by count frees fewer pages than it should when the evicted
  // entries are small or scattered over pages: measure again and go on, a bounded number of times.
  const evicted: Eviction[] = [];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const batch = await sweepOnce(env, now, maxBytes);
    evicted.push(...batch);
    if (batch.length === 0 || usedBytes(env) <= maxBytes * HIGH_WATER) break;
  }
  return evicted;
}

async function sweepOnce(env: LmdbEnvironment, now: number, maxBytes: number): Promise<Eviction[]> {
  env.root.resetReadTxn();
  const expired: Array<[number, string]> = [];
  let scanned = 0;
  let last: [number, string] | undefined;
  const start = resumeAt.get(env);
  for (const { key, value } of env.byAge.getRange(start === undefined ? {} : { start })) {
    if (value <= now) expired.push(key);
    last = key;
    if (++scanned >= SCAN_LIMIT) break;
  }
  if (scanned >= SCAN_LIMIT && last !== undefined) resumeAt.set(env, last);
  else resumeAt.delete(env);

  const oversized: Array<[number, string]> = [];
  const used = usedBytes(env);
  if (used > maxBytes * HIGH_WATER) {
    const count = (env.byAge.getStats() as { entryCount: number }).entryCount;
    const share = 1 - (maxBytes * LOW_WATER) / used;
    const target = Math.max(1, Math.ceil(count * share));
    for (const key of env.byAge.getKeys({ limit: target + expired.length })) {
      if (oversized.length >= target) break;
      if (!expired.some((e) => e[0] === key[0] && e[1] === key[1])) oversized.push(key);
    }
  }

  const oldChanges: number[] = [];
  for (const { key, value } of env.log.getRange({})) {
    // A record from "the future" was written before the wall clock was stepped back: it is as
    // old as the step, not new, so the log cannot grow for as long as the step was.
    if (value.t >= now - CHANGE_RETENTION && value.t <= now + CHANGE_RETENTION) break;
    oldChanges.push(key);
    if (oldChanges.length >= SCAN_LIMIT) break;
  }
  // Kept twice the retention: a compute that ran longer than it is not stored anyway, and the
  // margin absorbs a wall clock stepped forward.
  const oldStamps = (db: LmdbEnvironment['tombstones']): string[] => {
    const found: string[] = [];
    for (const { key, value } of db.getRange({ limit: SCAN_LIMIT })) if (value.t < now - 2 * TOMBSTONE_RETENTION) found.push(key);
    return found;
  };
  const oldTombstones = oldStamps(env.tombstones);
  const oldClears = oldStamps(env.clears);
  const deadLeases: string[] = [];
  for (const { key, value } of env.leases.getRange({})) {
    if (value.expiresAt < now - CHANGE_RETENTION) deadLeases.push(key);
  }
  if (expired.length + oversized.length + oldChanges.length + deadLeases.length + oldTombstones.length + oldClears.length === 0) return [];

  return transact(env, env.entries, () => {
    const evicted: Eviction[] = [];
    const evict = (index: [number, string], cause: Eviction['cause']): void => {
      const [storedAt, key] = index;
      let record: unknown;
      try {
        record = env.entries.get(key);
      } catch {
        record = undefined;
      }
      // A row whose record is gone or was replaced is stale. A record stored again within the same
      // millisecond shares its row, which the scan saw with the old expiry: the row stays.
      if (!isEntryRecord(record) || record.storedAt !== storedAt) {
        env.byAge.remove(index);
        return;
      }
      if (cause === 'expired' && record.staleUntil > now) return;
      env.byAge.remove(index);
      env.entries.remove(key);
      evicted.push({ key, cause });
    };
    for (const index of expired) evict(index, 'expired');
    for (const index of oversized) evict(index, 'size');
    for (const key of oldChanges) env.log.remove(key);
    for (const key of oldTombstones) if ((env.tombstones.get(key)?.t ?? now) < now - 2 * TOMBSTONE_RETENTION) env.tombstones.remove(key);
    for (const key of oldClears) if ((env.clears.get(key)?.t ?? now) < now - 2 * TOMBSTONE_RETENTION) env.clears.remove(key);
    const trimmedThrough = oldChanges.at(-1);
    if (trimmedThrough !== undefined) env.meta.put('trimmed', Math.max(trimmedThrough, env.meta.get('trimmed') ?? 0));
    for (const key of deadLeases) {
      const lease = env.leases.get(key);
      if (lease !== undefined && lease.expiresAt < now - CHANGE_RETENTION) env.leases.remove(key);
    }
    return evicted;
  }, FREEING_WRITE);
}
