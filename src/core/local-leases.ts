import type { Lease, LeaseGrant, LeaseStore } from './tier.js';
import type { Clock } from './clock.js';

/**
 * Leases for a cache with no shared tier: they coordinate the callers of this process only.
 *
 * @example
 * ```ts
 * const store = localLeaseStore(Date.now);
 * await store.acquire('k', 'token', 1_000); // { acquired: true, ... }
 * ```
 */
export function localLeaseStore(clock: Clock): LeaseStore {
  const leases = new Map<string, Lease>();
  return {
    scope: 'process',
    acquire(key, token, ttl): Promise<LeaseGrant> {
      const now = clock();
      const current = leases.get(key);
      if (current !== undefined && current.expiresAt > now) return Promise.resolve({ acquired: false, holder: current });
      const lease = { key, token, expiresAt: now + ttl };
      leases.set(key, lease);
      return Promise.resolve({ acquired: true, lease, tookOver: current !== undefined });
    },
    release(key, token) {
      const current = leases.get(key);
      if (current === undefined || current.token !== token) return Promise.resolve(false);
      leases.delete(key);
      return Promise.resolve(true);
    },
    holder(key) {
      const current = leases.get(key);
      return current !== undefined && current.expiresAt > clock() ? current : undefined;
    },
  };
}
