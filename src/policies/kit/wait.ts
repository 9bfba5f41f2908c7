import type { CacheEntry } from '../../core/entry.js';
import { isFresh } from '../../core/entry.js';
import { LeaseWaitTimeoutError } from '../../core/errors.js';
import type { ComputeCall, PolicyHost } from '../../core/policy.js';

/**
 * How often a caller waiting for another's compute looks again, besides when news of the key
 * arrives: pauses double from `first` up to `longest`, ms.
 *
 * @example
 * ```ts
 * const poll: PollOptions = { first: 5, longest: 200 };
 * ```
 */
export interface PollOptions {
  readonly first?: number;
  readonly longest?: number;
}

/**
 * Pauses between two looks while waiting for another caller's compute, by default, ms: the first,
 * doubling up to the longest. News of the key (a write here, the LMDB change log, the Redis
 * channel) ends a pause early, so the longest bounds only the waits whose news never comes.
 *
 * @example
 * ```ts
 * waitForValue(host, call, 30_000, { first: POLL_DEFAULTS.first, longest: 200 });
 * ```
 */
export const POLL_DEFAULTS = { first: 2, longest: 50 } as const;

/**
 * Waits, without spinning, until the shared tiers hold a fresh entry for the key (resolves with
 * it) or nobody holds its lease any more (resolves undefined: the holder failed or gave up). It
 * looks again as soon as news of the key arrives and at the latest after a pause that doubles
 * from `poll.first` up to `poll.longest` (see {@link POLL_DEFAULTS}). Rejects with
 * LeaseWaitTimeoutError after `maxWait` ms and with AbortedError if the cache closes. The caller
 * counts the wait (`host.count('leaseWaits')`), since only it knows whether waits are shared.
 *
 * @example
 * ```ts
 * const arrived = await waitForValue(host, call, 60_000);
 * if (arrived !== undefined) return arrived.value;
 * return next(); // the holder gave up: compute here
 * ```
 */
export async function waitForValue(host: PolicyHost, call: ComputeCall, maxWait: number, poll?: PollOptions): Promise<CacheEntry | undefined> {
  // Waiting is measured on the monotonic clock: a wall clock stepped back must not stretch it.
  const started = performance.now();
  const longest = poll?.longest ?? POLL_DEFAULTS.longest;
  let pause = Math.min(poll?.first ?? POLL_DEFAULTS.first, longest);
  for (;;) {
    await host.awaitNews(call, pause);
    pause = Math.min(longest, pause * 2);
    const entry = await host.readShared(call);
    if (entry !== undefined && isFresh(entry, host.now())) return entry;
    if ((await host.leaseHolder(call)) === undefined) {
      // The holder finished (its value may have landed just now) or gave up: look once more.
      const last = await host.readShared(call);
      return last !== undefined && isFresh(last, host.now()) ? last : undefined;
    }
    const waited = performance.now() - started;
    if (waited >= maxWait) throw new LeaseWaitTimeoutError(call.key, Math.round(waited));
  }
}
