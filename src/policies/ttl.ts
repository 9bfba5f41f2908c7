import type { Policy } from '../core/policy.js';

/**
 * Traditional TTL: serve while fresh, compute on a miss; concurrent misses each compute.
 * The baseline that stampedes, and what an empty pipeline does anyway.
 *
 * @example
 * ```ts
 * const cache = createCache({ policies: [ttl()], ttl: 1_000 });
 * ```
 */
export function ttl(): Policy {
  return {
    name: 'ttl',
    create: () => ({ handle: (_call, next) => next() }),
  };
}
