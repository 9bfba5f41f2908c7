/*
 * The sweep's housekeeping: the change log, the delete and clear stamps, and dead leases, each
 * trimmed in slices of at most TRIM_SLICE records per transaction with the event loop given back
 * in between (see sweep.ts for why, and for the claim every slice makes).
 *
 * The change log is what followers (feed.ts) read to learn of other processes' changes. A live
 * follower reads it every `syncInterval`, so it needs only the last moments of it; one that slept
 * needs more, up to what it can still use. The log therefore keeps a change for CHANGE_RETENTION
 * and never more than MAX_LOG_RECORDS records, whichever is less: a burst of writes does not keep
 * a minute of every write. A follower whose cursor falls below what was trimmed drops every copy
 * it holds and goes on from there, so trimming early costs a lagging process its memory copies,
 * never a stale read.
 */
import { TOMBSTONE_RETENTION } from '../../core/coherence.js';
import { transact, type ChangeStamp, type LmdbEnvironment } from './env.js';
import { FREEING_WRITE } from './headroom.js';
import { claimSweep, yieldTurn } from './sweep-claim.js';
import { resumableSlices, type RangeReader } from './slices.js';
import { currentVersion } from './versions.js';
import { inLeaseTransaction, releaseVersion, type Coordination } from './coordination.js';
import { MAX_POLL_RECORDS } from './feed.js';

/**
 * How long the change log keeps a change at most, ms: a process that sleeps longer drops all its
 * copies.
 *
 * @example
 * ```ts
 * CHANGE_RETENTION; // 60_000
 * ```
 */
export const CHANGE_RETENTION = 60_000;
/**
 * The most records the change log keeps, whatever their age.
 *
 * @example
 * ```ts
 * MAX_LOG_RECORDS; // 100_000
 * ```
 */
export const MAX_LOG_RECORDS = 100_000;
/** Records removed at most per transaction. */
const TRIM_SLICE = 1_000;
/** Rows of each stamp database and of the leases read per sweep; the next sweep goes on from there. */
const STAMP_ROWS_PER_SWEEP = 20_000;

const stampResume = new WeakMap<object, string>();

/**
 * Trims the change log, the old stamps and the dead leases of one file, slice by slice. Resolves
 * false if another process took the sweep meanwhile.
 *
 * @example
 * ```ts
 * await housekeep(env, Date.now(), 'a1b2');
 * ```
 */
export async function housekeep(env: LmdbEnvironment, now: number, owner: string): Promise<boolean> {
  if (!(await trimLog(env, now, owner))) return false;
  const stampIsOld = (stamp: ChangeStamp): boolean => stamp.t < now - 2 * TOMBSTONE_RETENTION;
  const inDataFile: Commit = (action) => transact(env, env.entries, action, FREEING_WRITE);
  // Kept twice the retention: a compute that ran longer than it is not stored anyway, and the
  // margin absorbs a wall clock stepped forward.
  if (!(await trimByScan(env, env, env.tombstones, stampIsOld, inDataFile, now, owner))) return false;
  if (!(await trimByScan(env, env, env.clears, stampIsOld, inDataFile, now, owner))) return false;
  const coordination = env.coordination.tryGet();
  if (coordination === undefined) return true;
  const inCoordination: Commit = (action) => inLeaseTransaction(coordination, action);
  const leaseIsDead = (lease: { expiresAt: number }): boolean => lease.expiresAt < now - CHANGE_RETENTION;
  if (!(await trimByScan(env, coordination, coordination.leases, leaseIsDead, inCoordination, now, owner))) return false;
  return trimReleases(coordination, now);
}

/** Commits one slice's removals; resolves with what `action` returned. */
type Commit = (action: () => boolean) => Promise<boolean>;

/** The released-leases log: only waiters awake at the moment read it, so a short past will do. */
async function trimReleases(coordination: Coordination, now: number): Promise<boolean> {
  for (;;) {
    coordination.root.resetReadTxn();
    const keepFrom = releaseVersion(coordination) - MAX_POLL_RECORDS;
    const doomed: number[] = [];
    for (const { key, value } of coordination.releases.getRange({ limit: TRIM_SLICE })) {
      if (key > keepFrom && value.t >= now - CHANGE_RETENTION && value.t <= now + CHANGE_RETENTION) break;
      doomed.push(key);
    }
    if (doomed.length === 0) return true;
    await inLeaseTransaction(coordination, () => {
      for (const key of doomed) coordination.releases.remove(key);
    });
    if (doomed.length < TRIM_SLICE) return true;
  }
}

/** The log's oldest records, while too old or too many. */
async function trimLog(env: LmdbEnvironment, now: number, owner: string): Promise<boolean> {
  for (;;) {
    env.root.resetReadTxn();
    const keepFrom = currentVersion(env) - MAX_LOG_RECORDS;
    const doomed: number[] = [];
    for (const { key, value } of env.log.getRange({ limit: TRIM_SLICE })) {
      // A record from "the future" was written before the wall clock was stepped back: it is as
      // old as the step, not new, so the log cannot grow for as long as the step was.
      const young = value.t >= now - CHANGE_RETENTION && value.t <= now + CHANGE_RETENTION;
      if (young && key > keepFrom) break;
      doomed.push(key);
    }
    const through = doomed.at(-1);
    if (through === undefined) return true;
    if (!(await claimSweep(env, owner, now))) return false;
    await transact(env, env.entries, () => {
      for (const key of doomed) env.log.remove(key);
      env.meta.put('trimmed', Math.max(through, env.meta.get('trimmed') ?? 0));
    }, FREEING_WRITE);
    if (doomed.length < TRIM_SLICE) return true;
  }
}

/**
 * Removes the records of `db` that `isOld` picks, reading a bounded number of rows per sweep from
 * where the last one stopped; each removal is judged again inside its transaction.
 */
async function trimByScan<V>(
  env: LmdbEnvironment,
  snapshots: Pick<LmdbEnvironment, 'root'>,
  db: LmdbEnvironment['tombstones'] | Coordination['leases'],
  isOld: (value: V) => boolean,
  commit: Commit,
  now: number,
  owner: string,
): Promise<boolean> {
  const typed = db as unknown as RangeReader<string, V> & { get(key: string): V | undefined; remove(key: string): unknown };
  for await (const slice of resumableSlices(snapshots, typed, stampResume, TRIM_SLICE, STAMP_ROWS_PER_SWEEP, (a, b) => a === b)) {
    const doomed = slice.filter((row) => isOld(row.value)).map((row) => row.key);
    if (doomed.length === 0) {
      await yieldTurn();
      continue;
    }
    if (!(await claimSweep(env, owner, now))) return false;
    await commit(() => {
      for (const key of doomed) {
        const value = typed.get(key);
        if (value !== undefined && isOld(value)) typed.remove(key);
      }
      return true;
    });
  }
  return true;
}
