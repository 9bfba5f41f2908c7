import { inLeaseTransaction, type Coordination } from './coordination.js';
import type { LmdbEnvironment } from './env.js';

/**
 * The coordination file's record of the sweep's claim. No storage key starts with a NUL (every one
 * starts with its namespace), so it cannot be a key's lease.
 */
const SWEEP_CLAIM_KEY = '\u0000sweep';
/** How long a claim keeps the other processes of the file from sweeping, ms of the cache clock. */
export const SWEEP_CLAIM = 5_000;

/**
 * Whether another sweeper's claim on this file is still running (read from a fresh snapshot of
 * the coordination file): then this process leaves the sweep to it. A coordination file that
 * cannot be opened claims nothing.
 *
 * @example
 * ```ts
 * if (claimedByAnother(env, 'a1b2', Date.now())) return [];
 * ```
 */
export function claimedByAnother(env: LmdbEnvironment, owner: string, now: number): boolean {
  const coordination = env.coordination.tryGet();
  if (coordination === undefined) return false;
  coordination.root.resetReadTxn();
  return heldByAnother(coordination, owner, now);
}

function heldByAnother(coordination: Coordination, owner: string, now: number): boolean {
  const claim = coordination.leases.get(SWEEP_CLAIM_KEY);
  return claim !== undefined && claim.token !== owner && claim.expiresAt > now;
}

/**
 * Claims (or renews) the sweep for `owner` before a slice writes; false if another's claim is
 * still running, and then the slice must do nothing. Without a coordination file (it cannot be
 * opened) the sweep goes on unclaimed: removals are judged again in their own transactions, so
 * two sweepers only do the work twice.
 *
 * @example
 * ```ts
 * if (!(await claimSweep(env, 'a1b2', now))) return undefined;
 * ```
 */
export async function claimSweep(env: LmdbEnvironment, owner: string, now: number): Promise<boolean> {
  const coordination = env.coordination.tryGet();
  if (coordination === undefined) return true;
  try {
    return await inLeaseTransaction(coordination, () => {
      if (heldByAnother(coordination, owner, now)) return false;
      coordination.leases.put(SWEEP_CLAIM_KEY, { token: owner, expiresAt: now + SWEEP_CLAIM });
      return true;
    });
  } catch {
    return true;
  }
}

/**
 * Gives the event loop back for one turn (a slice that found nothing to write has no commit to
 * wait for).
 *
 * @example
 * ```ts
 * await yieldTurn();
 * ```
 */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
