import type { Clock } from '../../core/clock.js';
import type { Lease, LeaseGrant, LeaseStore } from '../../core/tier.js';
import { inLeaseTransaction, type Coordination } from './coordination.js';

/**
 * The machine-wide lease store of an LMDB directory: a lease is a record (owner token, expiry) in
 * its coordination file (coordination.ts), taken and released in write transactions, so every
 * process of the machine agrees on its holder. A release is logged (`announce`), so that waiters
 * in other processes look again at once instead of at their next poll.
 *
 * @example
 * ```ts
 * const leases = lmdbLeaseStore(() => env.coordination.get(), Date.now, (c, key) => recordRelease(c, { o: id, t: Date.now(), r: key }));
 * const grant = await leases.acquire('0::page', 'token', 10_000);
 * ```
 */
export function lmdbLeaseStore(open: () => Coordination, clock: Clock, announce: (coordination: Coordination, key: string) => void): LeaseStore {
  return {
    scope: 'machine',
    acquire(key, token, ttl): Promise<LeaseGrant> {
      return opened(open, (c) =>
        inLeaseTransaction(c, (): LeaseGrant => {
          const now = clock();
          const current = c.leases.get(key);
          if (current !== undefined && current.expiresAt > now) return { acquired: false, holder: { key, ...current } };
          const lease: Lease = { key, token, expiresAt: now + ttl };
          c.leases.put(key, { token, expiresAt: lease.expiresAt });
          return { acquired: true, lease, tookOver: current !== undefined };
        }),
      );
    },
    release(key, token): Promise<boolean> {
      return opened(open, (c) =>
        inLeaseTransaction(c, () => {
          if (c.leases.get(key)?.token !== token) return false;
          c.leases.remove(key);
          announce(c, key);
          return true;
        }),
      );
    },
    holder(key) {
      // A fresh snapshot: a waiter, or the link fallback's check, must see the latest commit.
      const c = open();
      c.root.resetReadTxn();
      const current = c.leases.get(key);
      return current !== undefined && current.expiresAt > clock() ? { key, ...current } : undefined;
    },
  };
}

/** Runs `step` on the coordination file; a file that cannot be opened rejects, never throws. */
function opened<T>(open: () => Coordination, step: (coordination: Coordination) => Promise<T>): Promise<T> {
  let coordination: Coordination;
  try {
    coordination = open();
  } catch (error) {
    return Promise.reject(error);
  }
  return step(coordination);
}

/**
 * The file's leases with the link leases (link-leases.ts) standing in when a commit fails, so
 * that a full disk keeps one compute per key on the machine instead of one per process. A holder
 * in either store refuses a caller of the other; a release goes to both.
 *
 * Two processes can take the key in the two stores at once: one whose commit still found a page,
 * one whose commit did not. So each takes its lease first and looks at the other store after:
 * of two that overlap, at least one sees the other and gives its lease back (both may, and then
 * both wait and try again, as any refused caller does).
 *
 * @example
 * ```ts
 * const leases = withLinkFallback(lmdbLeaseStore(open, clock, announce), linkLeaseStore(dir, clock), (error) => report(error));
 * ```
 */
export function withLinkFallback(file: LeaseStore, links: LeaseStore, onFallback: (error: unknown) => void, canFallBack: () => boolean = () => true): LeaseStore {
  const giveBack = async (store: LeaseStore, key: string, token: string): Promise<void> => {
    // A lease that cannot be given back (the file is full) expires by itself.
    await store.release(key, token).catch(() => false);
  };
  return {
    scope: 'machine',
    async acquire(key, token, ttl) {
      const linked = await links.holder(key);
      if (linked !== undefined) return { acquired: false, holder: linked };
      let grant: LeaseGrant;
      try {
        grant = await file.acquire(key, token, ttl);
      } catch (error) {
        if (!canFallBack()) throw error;
        onFallback(error);
        const viaLink = await links.acquire(key, token, ttl);
        if (!viaLink.acquired) return viaLink;
        const held = await file.holder(key);
        if (held === undefined) return viaLink;
        await giveBack(links, key, token);
        return { acquired: false, holder: held };
      }
      if (!grant.acquired) return grant;
      const linkedMeanwhile = await links.holder(key);
      if (linkedMeanwhile === undefined) return grant;
      await giveBack(file, key, token);
      return { acquired: false, holder: linkedMeanwhile };
    },
    async release(key, token) {
      const [fromLinks, fromFile] = await Promise.allSettled([links.release(key, token), file.release(key, token)]);
      if (fromFile.status === 'rejected' && !(fromLinks.status === 'fulfilled' && fromLinks.value)) throw fromFile.reason;
      return (fromLinks.status === 'fulfilled' && fromLinks.value) || (fromFile.status === 'fulfilled' && fromFile.value);
    },
    async holder(key) {
      return (await links.holder(key)) ?? file.holder(key);
    },
  };
}
