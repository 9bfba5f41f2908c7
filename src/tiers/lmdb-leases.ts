import type { Clock } from '../core/clock.js';
import type { Lease, LeaseGrant, LeaseStore } from '../core/tier.js';
import { transact, type LmdbEnvironment } from './lmdb-env.js';

/**
 * The machine-wide lease store of an LMDB file: a lease is a record (owner token, expiry) taken
 * and released in write transactions, so every process of the machine agrees on its holder. A
 * release is logged as a change (`announce`), so that waiters in other processes look again at
 * once instead of at their next poll.
 *
 * @example
 * ```ts
 * const leases = lmdbLeaseStore(() => env, Date.now, (env, key) => recordChange(env, { o: id, t: Date.now(), r: key }));
 * const grant = await leases.acquire('0::page', 'token', 10_000);
 * ```
 */
export function lmdbLeaseStore(open: () => LmdbEnvironment, clock: Clock, announce: (env: LmdbEnvironment, key: string) => void): LeaseStore {
  return {
    scope: 'machine',
    acquire(key, token, ttl): Promise<LeaseGrant> {
      const env = open();
      return transact(env.leases, (): LeaseGrant => {
        const now = clock();
        const current = env.leases.get(key);
        if (current !== undefined && current.expiresAt > now) return { acquired: false, holder: { key, ...current } };
        const lease: Lease = { key, token, expiresAt: now + ttl };
        env.leases.put(key, { token, expiresAt: lease.expiresAt });
        return { acquired: true, lease, tookOver: current !== undefined };
      });
    },
    release(key, token): Promise<boolean> {
      const env = open();
      return transact(env.leases, () => {
        if (env.leases.get(key)?.token !== token) return false;
        env.leases.remove(key);
        announce(env, key);
        return true;
      });
    },
    holder(key) {
      const current = open().leases.get(key);
      return current !== undefined && current.expiresAt > clock() ? { key, ...current } : undefined;
    },
  };
}
