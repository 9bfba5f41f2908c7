import { setTimeout as delay } from 'node:timers/promises';
import type { CacheEntry } from './entry.js';
import { isFresh } from './entry.js';
import { AbortedError, LeaseWaitTimeoutError } from './errors.js';
import type { CacheEventEmitter } from './events.js';
import type { PolicyHost } from './policy.js';
import type { StatsCounters } from './stats.js';
import type { Lease, LeaseStore } from './tier.js';
import { PipelineCall } from './call.js';
import type { ComputeCall } from './policy.js';

/**
 * What the policy host needs from the cache.
 *
 * @example
 * ```ts
 * const host = createPolicyHost(cache);
 * ```
 */
export interface HostEngine {
  readonly clock: () => number;
  readonly random: () => number;
  readonly counters: StatsCounters;
  readonly events: CacheEventEmitter;
  readonly leases: LeaseStore;
  /** True once the cache closed. */
  readonly closed: boolean;
  /** Runs `onClose` when the cache closes; returns how to forget it. */
  onClose(onClose: () => void): () => void;
  /**
   * Reads the shared tiers only (fresh snapshot), promoting a fresh hit to the process tier; the
   * counters observed go into `observed`, the basis of the compute that may follow.
   */
  readShared(key: string, storageKey: string, observed?: Array<number | undefined>): Promise<CacheEntry | undefined>;
  /** Remembers background work so that close() can wait for it to settle. */
  adopt(work: Promise<unknown>): void;
  /** Sleeps `ms`, or less if a change of the key is heard; rejects with AbortedError when the cache closes. */
  nap(ms: number, key: string, storageKey: string): Promise<void>;
  newToken(): string;
}

/**
 * Pauses between two looks while waiting for another caller's compute, by default, ms: the first,
 * doubling up to the longest. News of the key (a write here, the LMDB change log, the Redis
 * channel) ends a pause early, so the longest bounds only the waits whose news never comes.
 */
export const POLL_DEFAULTS = { first: 2, longest: 50 } as const;

/**
 * Builds the {@link PolicyHost} a cache lends its policies.
 *
 * @example
 * ```ts
 * const stage = barrier().create(createPolicyHost(engine));
 * ```
 */
export function createPolicyHost(engine: HostEngine): PolicyHost {
  const refreshing = new Set<string>();
  // A lease is re-entrant within one call: when an outer stage (serveStale) already holds the
  // key's lease, an inner one (barrier) borrows it instead of waiting for itself.
  const held = new WeakMap<object, Lease>();
  const borrows = new Map<Lease, number>();
  const leaseCalls = new WeakMap<Lease, object>();

  const host: PolicyHost = {
    now: engine.clock,
    random: engine.random,
    leaseScope: engine.leases.scope,

    async tryLease(call, ttl) {
      const mine = held.get(call);
      if (mine !== undefined) {
        borrows.set(mine, (borrows.get(mine) ?? 0) + 1);
        return mine;
      }
      // Adopted, so that close() lets the request finish (and give back what it got) before the
      // tiers close: a lease granted to a closed cache would otherwise stay until it expires.
      // The grant is given back or recorded as held in the same turn as the look at `closed`:
      // with an await between them, a close in that gap left a granted lease neither released
      // nor held by anyone who would release it.
      const acquiring = (async (): Promise<Lease | undefined> => {
        const grant = await engine.leases.acquire(call.storageKey, engine.newToken(), ttl);
        if (!grant.acquired) return undefined;
        if (engine.closed) {
          await engine.leases.release(grant.lease.key, grant.lease.token).catch(() => false);
          throw new AbortedError(call.key, 'the cache closed while taking the lease');
        }
        if (grant.tookOver) {
          engine.counters.leaseTakeovers++;
          engine.events.emit('lease-takeover', { key: call.key });
        }
        held.set(call, grant.lease);
        leaseCalls.set(grant.lease, call);
        return grant.lease;
      })();
      engine.adopt(acquiring);
      return acquiring;
    },

    holdsLease(call) {
      return held.has(call);
    },

    async releaseLease(lease: Lease) {
      const lent = borrows.get(lease);
      if (lent !== undefined) {
        if (lent <= 1) borrows.delete(lease);
        else borrows.set(lease, lent - 1);
        return;
      }
      const call = leaseCalls.get(lease);
      if (call !== undefined && held.get(call) === lease) held.delete(call);
      leaseCalls.delete(lease);
      const releasing = engine.leases.release(lease.key, lease.token);
      engine.adopt(releasing);
      try {
        await releasing;
      } catch (error) {
        // An unreleased lease expires by itself; report, never fail the caller for it.
        engine.counters.errors++;
        engine.events.emit('tier-error', { tier: 'leases', operation: 'release', error });
      }
    },

    async leaseHolder(call) {
      return engine.leases.holder(call.storageKey);
    },

    readShared(call) {
      return engine.readShared(call.key, call.storageKey, observedOf(call));
    },

    async waitForEntry(call, maxWait, poll) {
      // Waiting is measured on the monotonic clock: a wall clock stepped back must not stretch it.
      const started = performance.now();
      const longest = poll?.longest ?? POLL_DEFAULTS.longest;
      let pause = Math.min(poll?.first ?? POLL_DEFAULTS.first, longest);
      for (;;) {
        await engine.nap(pause, call.key, call.storageKey);
        pause = Math.min(longest, pause * 2);
        const entry = await engine.readShared(call.key, call.storageKey, observedOf(call));
        if (entry !== undefined && isFresh(entry, engine.clock())) return entry;
        if ((await engine.leases.holder(call.storageKey)) === undefined) {
          // The holder finished (its value may have landed just now) or gave up: look once more.
          const last = await engine.readShared(call.key, call.storageKey, observedOf(call));
          return last !== undefined && isFresh(last, engine.clock()) ? last : undefined;
        }
        const waited = performance.now() - started;
        if (waited >= maxWait) throw new LeaseWaitTimeoutError(call.key, Math.round(waited));
      }
    },

    refreshInBackground(call, source, leaseTtl) {
      if (refreshing.has(call.storageKey) || engine.closed) return;
      refreshing.add(call.storageKey);
      const seen = call.entry;
      const work = (async () => {
        const lease = await host.tryLease(call, leaseTtl);
        if (lease === undefined) return;
        try {
          // Double check: another process may have refreshed since this caller read the entry.
          const current = await engine.readShared(call.key, call.storageKey, observedOf(call));
          if (current !== undefined && (seen === undefined || current.storedAt > seen.storedAt)) return;
          if (source === 'xfetch') engine.counters.earlyRefreshes++;
          else engine.counters.staleRefreshes++;
          const started = engine.clock();
          await call.run();
          engine.events.emit('refresh', { key: call.key, source, duration: engine.clock() - started });
        } finally {
          await host.releaseLease(lease);
        }
      })();
      host.watchBackground(call, source, work);
      void work.then(
        () => refreshing.delete(call.storageKey),
        () => refreshing.delete(call.storageKey),
      );
    },

    watchBackground(call, source, work) {
      const observed = work.then(undefined, (error: unknown) => {
        engine.counters.backgroundErrors++;
        engine.events.emit('background-error', { key: call.key, source, error });
      });
      engine.adopt(observed);
    },

    count(counter) {
      engine.counters[counter]++;
    },

    emit(name, event) {
      engine.events.emit(name, event);
    },

    async sleep(ms, key) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          forget();
          resolve();
        }, ms);
        const forget = engine.onClose(() => {
          clearTimeout(timer);
          reject(new AbortedError(key, 'the cache closed while waiting'));
        });
      });
    },
  };
  return host;
}


/** The counters a call's reads observed, when the call is the engine's own. */
function observedOf(call: ComputeCall): Array<number | undefined> | undefined {
  return call instanceof PipelineCall ? call.observed : undefined;
}
