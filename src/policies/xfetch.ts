import { isFresh } from '../core/entry.js';
import { assertPositive, optionsObject } from '../core/options.js';
import type { Policy } from '../core/policy.js';
import { refreshInBackground } from './kit/index.js';

/**
 * Options of {@link xfetch}.
 *
 * @example
 * ```ts
 * xfetch({ beta: 1 });
 * ```
 */
export interface XFetchOptions {
  /** > 0. Larger recomputes earlier; 1 is the paper's optimum. Default 1. */
  readonly beta?: number;
}

/**
 * Whether XFetch recomputes now: `now - delta * beta * ln(r) >= freshUntil`, r uniform in (0, 1].
 * The probability at x ms before expiry is exp(-x / (delta * beta)).
 *
 * @example
 * ```ts
 * shouldRecomputeEarly(900, 1_000, 200, 1, 0.5); // 900 + 200 * 0.693 >= 1000 → true
 * ```
 */
export function shouldRecomputeEarly(now: number, freshUntil: number, delta: number, beta: number, r: number): boolean {
  return now - delta * beta * Math.log(r) >= freshUntil;
}

/**
 * Probabilistic early recomputation (Vattani, Chierichetti, Lowenstein 2015). On a fresh hit
 * it may start a background recompute, more likely as expiry nears and the longer the last
 * compute took (delta); the caller gets the current value at once. At most one background
 * recompute per key runs across every process sharing the lease tier. A real miss goes on
 * down the pipeline (through barrier() when composed).
 *
 * @example
 * ```ts
 * const cache = createCache({ policies: [xfetch({ beta: 1 }), barrier()], ttl: 1_000 });
 * ```
 */
export function xfetch(options?: XFetchOptions): Policy {
  const beta = optionsObject('xfetch', options).beta ?? 1;
  assertPositive('xfetch.beta', beta);
  return {
    name: 'xfetch',
    traits: { seesFreshHits: true, missesStale: true },
    create(host) {
      return {
        handle(call, next) {
          const entry = call.entry;
          const now = host.now();
          if (entry === undefined || !isFresh(entry, now)) return next();
          // 1 - random() lies in (0, 1]: ln(0) never happens, r = 1 never triggers while fresh.
          if (shouldRecomputeEarly(now, entry.freshUntil, entry.delta, beta, 1 - host.random())) {
            refreshInBackground(host, call, { source: 'xfetch', leaseTtl: Math.max(1_000, entry.delta * 4), counter: 'earlyRefreshes' });
          }
          return Promise.resolve(entry.value);
        },
      };
    },
  };
}
