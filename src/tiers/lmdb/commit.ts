/*
 * One write of the LMDB tier, and what it does when the commit fails. A cache file may always be
 * thrown away, so a failure the tier can repair is repaired and the write tried once more:
 *   - a delete or clear that finds no free page (a full disk) drops the reserve kept for it
 *     (room.ts), since a delete is how room is made;
 *   - a garbled shared structures record fails every write: it is rebuilt (structures.ts).
 * Anything else is reported and rejects the caller with a StorageError. Nothing here reads the
 * environment once its owner has let it go (`stillOpen`): lmdb-js throws from a timer, where no
 * caller can catch it, after a read of an environment that is closing.
 */
import { StorageError } from '../../core/errors.js';
import type { TierReport } from '../../core/tier.js';
import { transact, type LmdbEnvironment } from './env.js';
import type { RoomClaim } from './headroom.js';
import { releaseReserve } from './room.js';
import { rebuildStructures, structuresReadable } from './structures.js';

/**
 * What a commit needs from its tier: where to report, its instance id and clock for the change
 * log, and whether the environment is still the tier's own.
 *
 * @example
 * ```ts
 * const context: CommitContext = { report, origin: 'a1b2', clock: Date.now, stillOpen: () => tier.env === env };
 * ```
 */
export interface CommitContext {
  readonly report: (report: TierReport) => void;
  readonly origin: string;
  readonly clock: () => number;
  readonly stillOpen: () => boolean;
}

/**
 * Commits `action` in a write transaction, repairing what can be repaired (see above). Resolves
 * with what `action` returned; the read snapshot is renewed after, so this process reads its own
 * write (lmdb-js keeps the snapshot it had, which may predate the commit).
 *
 * @example
 * ```ts
 * await commit(env, 'delete', '0::k', FREEING_WRITE, (env) => env.entries.remove('0::k'), context);
 * ```
 */
export async function commit<T>(env: LmdbEnvironment, operation: string, key: string | undefined, claim: RoomClaim, action: (env: LmdbEnvironment) => T, context: CommitContext): Promise<T> {
  const attempt = async (): Promise<T> => {
    const result = await transact(env, env.entries, () => action(env), claim);
    env.root.resetReadTxn();
    return result;
  };
  try {
    return await attempt();
  } catch (failure) {
    let error = failure;
    if ((operation === 'delete' || operation === 'clear') && context.stillOpen() && (await releaseReserve(env))) {
      try {
        return await attempt();
      } catch (again) {
        error = again;
      }
    }
    if (!isMapFull(error) && context.stillOpen() && !structuresReadable(env)) {
      try {
        const dropped = await rebuildStructures(env, context.origin, context.clock());
        context.report({ type: 'error', operation: 'rebuild-structures', error: new StorageError('lmdb', `the shared structures record was garbled: rebuilt it and dropped the ${dropped} entries encoded against it`, { cause: failure }) });
        return await attempt();
      } catch (again) {
        error = again;
      }
    }
    context.report({ type: 'error', operation, error });
    throw new StorageError('lmdb', `${operation} could not be committed${isMapFull(error) ? ' (the map is full: raise maxBytes)' : ''}`, {
      ...(key === undefined ? {} : { key }),
      cause: error,
    });
  }
}

/**
 * Whether a commit failed because the map is full (which a sweep can help with).
 *
 * @example
 * ```ts
 * if (isMapFull(error.cause)) void tier.sweep();
 * ```
 */
export function isMapFull(error: unknown): boolean {
  return error instanceof Error && /MDB_MAP_FULL|map full|MDB_MAP_RESIZED/i.test(error.message);
}
