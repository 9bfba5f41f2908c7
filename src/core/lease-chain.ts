import type { LeaseStore } from './tier.js';

/**
 * Leases taken from the widest store that answers: when a cluster-wide store (Redis) fails,
 * the machine-wide one (LMDB) stands in, then the process-local one, so that a compute is never
 * blocked by a lease server being down. `onFallback` hears each failure.
 *
 * @example
 * ```ts
 * const leases = leaseChain([redisLeases, lmdbLeases], (store, error) => log.warn(error));
 * ```
 */
export function leaseChain(stores: readonly LeaseStore[], onFallback: (store: LeaseStore, operation: string, error: unknown) => void): LeaseStore {
  const first = stores[0];
  if (first === undefined) throw new Error('leaseChain needs at least one store');
  if (stores.length === 1) return first;
  async function attempt<T>(operation: string, run: (store: LeaseStore) => T | Promise<T>): Promise<T> {
    let lastError: unknown;
    for (const store of stores) {
      try {
        return await run(store);
      } catch (error) {
        lastError = error;
        onFallback(store, operation, error);
      }
    }
    throw lastError;
  }
  return {
    scope: first.scope,
    acquire: (key, token, ttl) => attempt('lease-acquire', (s) => s.acquire(key, token, ttl)),
    // A lease may have been granted by a fallback store: release it wherever it is held.
    release: async (key, token) => {
      const results = await Promise.allSettled(stores.map((s) => s.release(key, token)));
      return results.some((r) => r.status === 'fulfilled' && r.value);
    },
    // A lease may live in any store (granted by a fallback while the wider one was down): the
    // first holder found anywhere counts; only if every store failed does the question fail.
    holder: async (key) => {
      let answered = false;
      let lastError: unknown;
      for (const store of stores) {
        try {
          const holder = await store.holder(key);
          answered = true;
          if (holder !== undefined) return holder;
        } catch (error) {
          lastError = error;
          onFallback(store, 'lease-holder', error);
        }
      }
      if (!answered) throw lastError;
      return undefined;
    },
  };
}
