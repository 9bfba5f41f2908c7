/*
 * The sweep of an LMDB file: entries past their grand timeout go, and while the file is over its
 * bound the oldest entries go too; then the housekeeping of trim.ts (the change log, old stamps,
 * dead leases).
 *
 * Three rules keep its cost in proportion to the work and off the callers' backs:
 *   - Slices. The sweep reads at most SLICE_ROWS index rows, then removes what they named in
 *     one transaction (stopping early once it has held the main thread for SLICE_BUDGET_MS),
 *     then gives the event loop back before the next slice. No step holds the
 *     main thread for longer than a slice takes, whatever the file holds: evicting 200k entries
 *     is many short steps, not one long one.
 *   - One sweeper per file. Every process sharing the file runs the timer, but each slice first
 *     claims the sweep (a record in the coordination file, SWEEP_CLAIM ms long) and a process
 *     that finds another's claim still running does nothing: the work is done once, not
 *     once per process. A sweeper that dies loses its claim when it expires.
 *   - Linear work. The index is ordered by store time, so one walk from its start finds the
 *     oldest entries for the size bound and, on the way, the expired ones; the expired-only walk
 *     resumes where the previous sweep stopped. Nothing is looked up in a list per row.
 *
 * Every removal is re-checked inside its transaction, so an entry another process just replaced
 * stays.
 */
import { isEntryRecord } from '../../core/entry.js';
import { transact, type LmdbEnvironment } from './env.js';
import { FREEING_WRITE } from './headroom.js';
import { claimedByAnother, claimSweep, yieldTurn } from './sweep-claim.js';
import { resumableSlices, type RangeReader } from './slices.js';
import { housekeep } from './trim.js';

export { CHANGE_RETENTION, MAX_LOG_RECORDS } from './trim.js';

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

/** Index rows read, and entries removed at most, per slice (one transaction). */
export const SLICE_ROWS = 250;
/** Main-thread time one slice's transaction may take before it leaves the rest to the next, ms. */
const SLICE_BUDGET_MS = 2;
/** Index rows the expired-only walk reads per sweep (in slices); the next sweep goes on from there. */
const EXPIRY_ROWS_PER_SWEEP = 20_000;
/** The sweep starts evicting at this share of maxBytes and stops below the lower one. */
const HIGH_WATER = 0.9;
const LOW_WATER = 0.75;
/** Slices one sweep may take for the size bound: far more than any file needs, but not for ever. */
const MAX_SIZE_SLICES = 10_000;

type IndexRow = [number, string];
const resumeAt = new WeakMap<object, IndexRow>();

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
 * One background pass (see the top of this file). `owner` names the sweeper in its claim.
 * Resolves with what it evicted; with nothing if another process holds the sweep.
 *
 * @example
 * ```ts
 * const evicted = await sweepEnvironment(env, Date.now(), 1 << 30, 'a1b2');
 * ```
 */
export async function sweepEnvironment(env: LmdbEnvironment, now: number, maxBytes: number, owner = 'sweeper'): Promise<Eviction[]> {
  env.root.resetReadTxn();
  if (claimedByAnother(env, owner, now)) return [];
  const evicted: Eviction[] = [];
  const kept = (await evictExpired(env, now, owner, evicted)) && (await evictForSize(env, now, maxBytes, owner, evicted));
  if (kept) await housekeep(env, now, owner);
  return evicted;
}

/** The expired-only walk, from where the last sweep stopped. False if another process took the sweep. */
async function evictExpired(env: LmdbEnvironment, now: number, owner: string, evicted: Eviction[]): Promise<boolean> {
  const rows = env.byAge as unknown as RangeReader<IndexRow, number>;
  for await (const slice of resumableSlices(env, rows, resumeAt, SLICE_ROWS, EXPIRY_ROWS_PER_SWEEP, sameRow)) {
    const expired = slice.filter((row) => row.value <= now).map((row) => row.key);
    if (expired.length === 0) {
      await yieldTurn();
      continue;
    }
    for (let rest: readonly IndexRow[] = expired; rest.length > 0; ) {
      const removed = await removeSlice(env, now, owner, rest, 'expired');
      if (removed === undefined) return false;
      evicted.push(...removed.evicted);
      rest = rest.slice(removed.judged);
    }
  }
  return true;
}

function sameRow(a: IndexRow, b: IndexRow): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

/** Evicts the oldest entries (expired or not) until the file is under its bound. False if another process took the sweep. */
async function evictForSize(env: LmdbEnvironment, now: number, maxBytes: number, owner: string, evicted: Eviction[]): Promise<boolean> {
  for (let slices = 0; slices < MAX_SIZE_SLICES; slices++) {
    env.root.resetReadTxn();
    const used = usedBytes(env);
    if (used <= maxBytes * HIGH_WATER) return true;
    // Evicting a share of the entries by count frees fewer pages than it should when the evicted
    // entries are small or scattered over pages: the bytes are measured again after each slice.
    const count = (env.byAge.getStats() as { entryCount: number }).entryCount;
    const target = Math.min(SLICE_ROWS, Math.max(1, Math.ceil(count * (1 - (maxBytes * LOW_WATER) / used))));
    const rows = [...env.byAge.getKeys({ limit: target })];
    if (rows.length === 0) return true;
    const slice = await removeSlice(env, now, owner, rows, 'size');
    if (slice === undefined) return false;
    evicted.push(...slice.evicted);
  }
  return true;
}

/**
 * Removes the entries the rows name, in one transaction, once the sweep is claimed; undefined
 * (nothing removed) if another process holds the claim. For the size bound every named entry
 * goes; otherwise only those past their grand timeout, as their record (not the row) says.
 */
async function removeSlice(env: LmdbEnvironment, now: number, owner: string, rows: readonly IndexRow[], pass: Eviction['cause']): Promise<{ evicted: Eviction[]; judged: number } | undefined> {
  if (!(await claimSweep(env, owner, now))) return undefined;
  return transact(env, env.entries, () => {
    const evicted: Eviction[] = [];
    // Rows whose records are large or whose pages are cold take longer: past the budget the rest
    // waits for the next transaction, so no slice holds the main thread for long on any machine.
    const until = performance.now() + SLICE_BUDGET_MS;
    let judged = 0;
    for (const index of rows) {
      if (judged > 0 && judged % 16 === 0 && performance.now() > until) break;
      judged++;
      const [storedAt, key] = index;
      let record: unknown;
      try {
        record = env.entries.get(key);
      } catch {
        record = undefined;
      }
      // A row whose record is gone or was replaced is stale. A record stored again within the same
      // millisecond shares its row, which the walk saw with the old expiry: the row stays.
      if (!isEntryRecord(record) || record.storedAt !== storedAt) {
        env.byAge.remove(index);
        continue;
      }
      const expired = record.staleUntil <= now;
      if (!expired && pass === 'expired') continue;
      env.byAge.remove(index);
      env.entries.remove(key);
      evicted.push({ key, cause: expired ? 'expired' : 'size' });
    }
    return { evicted, judged };
  }, FREEING_WRITE);
}
