/*
 * The policy kit: what a stampede policy needs beyond the host's primitives, built only on them.
 * The built-in policies use this kit and nothing else, so a user's policy can do all they do
 * (and nest with them: a lease taken with takeLease is lent to barrier inside it).
 *
 * - leases.ts: re-entrant per-call leases (takeLease, holdsLease, giveLease)
 * - wait.ts: waiting for another caller's value without spinning (waitForValue)
 * - refresh.ts: one background refresh per key across processes (refreshInBackground)
 * - key-locks.ts: callers of one process lining up behind one leader per key (KeyLocks)
 */
export { giveLease, holdsLease, takeLease } from './leases.js';
export { POLL_DEFAULTS, waitForValue, type PollOptions } from './wait.js';
export { refreshInBackground, type RefreshOptions } from './refresh.js';
export { KeyLocks } from './key-locks.js';
