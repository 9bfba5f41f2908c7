import { ColdCacheError, InvalidOptionError } from '../core/errors.js';
import { isFresh, isServable } from '../core/entry.js';
import { assertDuration, assertGrandTimeout, describe, optionsObject } from '../core/options.js';
import type { Policy } from '../core/policy.js';
import { giveLease, refreshInBackground, takeLease, waitForValue } from './kit/index.js';

/**
 * Options of {@link serveStale}.
 *
 * @example
 * ```ts
 * serveStale({ maxAge: 24 * 3_600_000, onCold: 'throw' });
 * ```
 */
export interface ServeStaleOptions {
  /** The grand timeout, ms: a value is never served at or past this age. Must be >= ttl. */
  readonly maxAge: number;
  /** No value at all while another caller computes: `'wait'` for it (default) or `'throw'` ColdCacheError. */
  readonly onCold?: 'wait' | 'throw';
  /** Lease protecting the single background refresher, ms. Default 10 000. */
  readonly lease?: number;
  /** Longest a cold caller waits with `onCold: 'wait'`, ms. Default 60 000. */
  readonly maxWait?: number;
}

/**
 * Serve-stale with a freshness timeout (the cache's ttl) and a grand timeout (`maxAge`).
 * A stale value (ttl <= age < maxAge) is returned at once while exactly one caller across
 * processes refreshes it in the background; a failed refresh keeps the stale value until
 * maxAge. Nothing is served at or past maxAge.
 *
 * @example
 * ```ts
 * const cache = createCache({ ttl: 60_000, policies: [serveStale({ maxAge: 3_600_000 }), barrier()] });
 * ```
 */
export function serveStale(options: ServeStaleOptions): Policy {
  if (options === undefined) throw new InvalidOptionError('serveStale', 'give { maxAge } in ms');
  optionsObject('serveStale', options);
  const { maxAge, onCold = 'wait', lease: leaseTtl = 10_000, maxWait = 60_000 } = options;
  assertDuration('serveStale.maxAge', maxAge);
  assertDuration('serveStale.lease', leaseTtl, true);
  assertDuration('serveStale.maxWait', maxWait, true);
  if (onCold !== 'wait' && onCold !== 'throw') throw new InvalidOptionError('serveStale.onCold', `must be 'wait' or 'throw', got ${typeof onCold === 'string' ? onCold : describe(onCold)}`);
  return {
    name: 'serveStale',
    maxAge,
    traits: { servesStale: true },
    check({ ttl }) {
      assertGrandTimeout('serveStale.maxAge', maxAge, ttl);
    },
    create(host) {
      return {
        async handle(call, next) {
          const entry = call.entry;
          const now = host.now();
          if (entry !== undefined && isServable(entry, now) && !isFresh(entry, now)) {
            host.count('staleServed');
            refreshInBackground(host, call, { source: 'serve-stale', leaseTtl, counter: 'staleRefreshes' });
            return entry.value;
          }
          if (entry !== undefined) return next();
          // Cold: take the key's lease so that "someone else is computing" is known to every
          // process, even without barrier() (which borrows this lease when composed inside).
          const lease = await takeLease(host, call, leaseTtl);
          if (lease !== undefined) {
            try {
              const again = await host.readShared(call);
              if (again !== undefined && isFresh(again, host.now())) return again.value;
              return await next();
            } finally {
              await giveLease(host, lease);
            }
          }
          if (onCold === 'throw') {
            host.count('coldErrors');
            throw new ColdCacheError(call.key);
          }
          host.count('leaseWaits');
          const arrived = await waitForValue(host, call, maxWait);
          if (arrived !== undefined) {
            call.entry = arrived;
            return arrived.value;
          }
          // The other caller failed or gave up: compute here (through barrier() when composed).
          return next();
        },
      };
    },
  };
}
