/*
 * Room to delete on a full disk. LMDB never writes a page in place: a transaction that removes a
 * key still needs free pages for the new copies of the pages it changes (and for its tombstone
 * and change record), so on a full disk the deletes and clears that would free space were
 * refused like any write. The file therefore keeps a reserve: one record of RESERVE_BYTES in a
 * database of its own. When a delete or clear cannot commit, the tier drops the reserve first, a
 * transaction that changes three or four pages and frees about sixty for the next one, and then
 * commits the delete. Sets never use the reserve (they would only fill it), so it is there for
 * the deletes that make room. The sweep puts the reserve back once there is room again.
 */
import type { LmdbEnvironment } from './env.js';
import { transact } from './env.js';
import { FREEING_WRITE } from './headroom.js';

/** Bytes kept in reserve for the deletes and clears of a full disk. */
export const RESERVE_BYTES = 256 * 1024;
const RESERVE_KEY = 'reserve';

/**
 * Writes the reserve if the file lacks it. A file that cannot take it now (the disk is full) gets
 * it on a later call: the failure is not an error of anything the caller asked for.
 *
 * @example
 * ```ts
 * await keepReserve(env); // after each sweep
 * ```
 */
export async function keepReserve(env: LmdbEnvironment): Promise<boolean> {
  if (env.reserve.doesExist(RESERVE_KEY)) return true;
  try {
    await transact(env, env.reserve, () => {
      if (!env.reserve.doesExist(RESERVE_KEY)) env.reserve.put(RESERVE_KEY, Buffer.alloc(RESERVE_BYTES));
    }, { use: 'grow', bytes: RESERVE_BYTES });
    return true;
  } catch {
    return false;
  }
}

/**
 * Drops the reserve, so that the next transaction finds free pages. Resolves with whether there
 * was one to drop (and its removal committed).
 *
 * @example
 * ```ts
 * if (await releaseReserve(env)) await retry();
 * ```
 */
export async function releaseReserve(env: LmdbEnvironment): Promise<boolean> {
  env.root.resetReadTxn();
  if (!env.reserve.doesExist(RESERVE_KEY)) return false;
  try {
    const removed = await transact(env, env.reserve, () => env.reserve.removeSync(RESERVE_KEY), FREEING_WRITE);
    env.root.resetReadTxn();
    return removed;
  } catch {
    return false;
  }
}
