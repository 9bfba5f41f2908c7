import type { Policy } from '../core/policy.js';

/**
 * In-process singleflight: concurrent computes of one key share one execution and all receive
 * the same value or the same error. Nothing is kept once it settles; different keys never wait
 * on each other.
 *
 * @example
 * ```ts
 * const cache = createCache({ policies: [coalesce()] });
 * await Promise.all([cache.compute('k', fn), cache.compute('k', fn)]); // fn ran once
 * ```
 */
export function coalesce(): Policy {
  return {
    name: 'coalesce',
    traits: { answersFreshHits: true },
    create(host) {
      const inflight = new Map<string, Promise<unknown>>();
      return {
        handle(call, next) {
          const shared = inflight.get(call.storageKey);
          if (shared !== undefined) {
            host.count('coalesced');
            return shared;
          }
          const run = next();
          inflight.set(call.storageKey, run);
          const forget = (): void => {
            if (inflight.get(call.storageKey) === run) inflight.delete(call.storageKey);
          };
          run.then(forget, forget);
          return run;
        },
      };
    },
  };
}
