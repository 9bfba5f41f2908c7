import type { LmdbEnvironment } from './env.js';

/**
 * The leases-database record of the sweep's claim. No storage key starts with a NUL (every one
 * starts with its namespace), so it cannot be a key's lease.
 */
const SWEEP_CLAIM_KEY = '\u0000sweep';
/** How long a claim keeps the other processes of the file from sweeping, ms of the cache clock. */
export const SWEEP_CLAIM = 5_000;

/**
 * Whether another sweeper's claim on this file is still running (read from the current snapshot):
 * then this process leaves the sweep to it.
 *
 * @example
 * ```ts
 * if (claimedByAnother(env, 'a1b2', Date.now())) return [];
 * ```
 */
export function claimedByAnother(env: LmdbEnvironment, owner: string, now: number): boolean {
  const claim = env.leases.get(SWEEP_CLAIM_KEY);
  return claim !== undefined && claim.token !== owner && claim.expiresAt > now;
}

/**
 * Inside a write transaction: claims (or renews) the sweep for `owner`; false if another's claim
 * is still running, and then the slice must do nothing.
 *
 * @example
 * ```ts
 * transact(env, env.entries, () => { if (!claimSweep(env, 'a1b2', now)) return undefined; ... });
 * ```
 */
export function claimSweep(env: LmdbEnvironment, owner: string, now: number): boolean {
  if (claimedByAnother(env, owner, now)) return false;
  env.leases.put(SWEEP_CLAIM_KEY, { token: owner, expiresAt: now + SWEEP_CLAIM });
  return true;
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
