import type { Lease, LeaseGrant, LeaseStore } from './tier.js';

/**
 * Leases taken nearest first. The machine's processes coordinate through the machine store
 * (LMDB) whatever happens to the cluster store (Redis); the cluster lease is taken on top of it,
 * so that a caller holds the key for the whole cluster only while holding it for its machine.
 *
 * When a store cannot answer, the guarantee narrows by one scope and says so (`onDegraded`):
 * without the cluster store a lease still covers every process of the machine; without the
 * machine store (a full disk), the process-local store stands in and the lease covers this
 * process only. It never silently narrows further than the store that failed.
 *
 * @example
 * ```ts
 * const leases = leaseChain([lmdbLeases, redisLeases], localLeaseStore(Date.now), (store, op, error) => log.warn(error), () => degraded++);
 * ```
 */
export function leaseChain(
  stores: readonly LeaseStore[],
  fallback: LeaseStore,
  onError: (store: LeaseStore, operation: string, error: unknown) => void,
  onDegraded: () => void,
): LeaseStore {
  const [base, ...wider] = stores;
  if (base === undefined) return fallback;
  const scope = wider.at(-1)?.scope ?? base.scope;

  async function acquireBase(key: string, token: string, ttl: number): Promise<LeaseGrant> {
    try {
      return await base!.acquire(key, token, ttl);
    } catch (error) {
      onError(base!, 'lease-acquire', error);
      onDegraded();
      return fallback.acquire(key, token, ttl);
    }
  }

  async function releaseEverywhere(key: string, token: string): Promise<boolean> {
    const results = await Promise.allSettled([fallback, ...stores].map((s) => s.release(key, token)));
    results.forEach((r, i) => {
      if (r.status === 'rejected') onError([fallback, ...stores][i]!, 'lease-release', r.reason);
    });
    return results.some((r) => r.status === 'fulfilled' && r.value);
  }

  return {
    scope,
    async acquire(key, token, ttl) {
      const grant = await acquireBase(key, token, ttl);
      if (!grant.acquired) return grant;
      let lease: Lease = grant.lease;
      let tookOver = grant.tookOver;
      for (const store of wider) {
        let wide: LeaseGrant;
        try {
          wide = await store.acquire(key, token, ttl);
        } catch (error) {
          // The nearer lease stands: one compute per machine still holds.
          onError(store, 'lease-acquire', error);
          onDegraded();
          continue;
        }
        if (!wide.acquired) {
          await releaseEverywhere(key, token);
          return wide;
        }
        lease = { key, token, expiresAt: Math.min(lease.expiresAt, wide.lease.expiresAt) };
        tookOver ||= wide.tookOver;
      }
      return { acquired: true, lease, tookOver };
    },
    release: releaseEverywhere,
    // The nearest holder answers first: it is also the one that is cheapest to ask.
    async holder(key) {
      let answered = false;
      let lastError: unknown;
      for (const store of [fallback, ...stores]) {
        try {
          const holder = await store.holder(key);
          answered = true;
          if (holder !== undefined) return holder;
        } catch (error) {
          lastError = error;
          onError(store, 'lease-holder', error);
        }
      }
      if (!answered) throw lastError;
      return undefined;
    },
  };
}
