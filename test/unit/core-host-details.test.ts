// What the policy host lends a policy, used the way a user's policy would use it: background
// refreshes (one per key, skipped when someone refreshed, counted by source), background failures,
// sleeping, taking a lease as the cache closes, and a compute started after close.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeEntry } from '../../src/core/entry.js';
import { AbortedError } from '../../src/core/errors.js';
import type { Lease, LeaseStore, Tier } from '../../src/core/tier.js';
import { Cache, createCache, giveLease, holdsLease, memoryTier, refreshInBackground, takeLease, type CacheEvents, type ComputeCall, type Policy, type PolicyHost } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';
import { deferred, until } from '../fixtures/policy-support.js';

/** A policy that lends the test its host and the calls it saw, answering each with `answer`. */
function borrower(answer: (host: PolicyHost, call: ComputeCall, next: () => Promise<unknown>) => Promise<unknown> = (_h, _c, next) => next()) {
  let lent: PolicyHost | undefined;
  const calls: ComputeCall[] = [];
  const policy: Policy = { name: 'borrower', create: (host) => { lent = host; return { handle: (call, next) => { calls.push(call); return answer(host, call, next); } }; } };
  return { policy, calls, host: () => lent! };
}

function collect<E extends keyof CacheEvents>(cache: Cache, name: E): Array<CacheEvents[E]> {
  const seen: Array<CacheEvents[E]> = [];
  cache.on(name, ((event: CacheEvents[E]) => seen.push(event)) as never);
  return seen;
}

/** A shared tier over a Map whose lease store the test controls. */
function tierWithLeases(leases: LeaseStore): Tier {
  const data = new Map<string, ReturnType<typeof makeEntry>>();
  return {
    name: 'remote', scope: 'cluster', maxKeyBytes: 1_000, leases,
    attach() {},
    async get(key) { return data.get(key); },
    async set(key, entry) { data.set(key, entry); },
    async delete(key) { data.delete(key); },
    async clear() { data.clear(); },
    async close() {},
  };
}

/** Leases in a Map that record each release, so a test knows when a refresh gave its lease back. */
function recordingLeases(): { store: LeaseStore; released: string[] } {
  const held = new Map<string, Lease>();
  const released: string[] = [];
  const store: LeaseStore = {
    scope: 'cluster',
    async acquire(key, token, ttl) {
      const current = held.get(key);
      if (current !== undefined) return { acquired: false, holder: current };
      const lease = { key, token, expiresAt: Date.now() + ttl };
      held.set(key, lease);
      return { acquired: true, lease, tookOver: false };
    },
    async release(key, token) {
      if (held.get(key)?.token !== token) return false;
      held.delete(key);
      released.push(key);
      return true;
    },
    holder: (key) => held.get(key),
  };
  return { store, released };
}

describe('refreshInBackground', () => {
  it('runs one refresh per key at a time, counts it in the counter it is given and reports its duration', async () => {
    const clock = manualClock(10_000);
    const gate = deferred();
    let runs = 0;
    const spy = borrower();
    const cache = new Cache({ clock, tiers: [memoryTier()], ttl: 1_000, policies: [spy.policy] });
    const refreshes = collect(cache, 'refresh');
    try {
      await cache.compute('k', async () => {
        runs++;
        if (runs === 2) { clock.advance(40); await gate.promise; }
        return runs;
      });
      const call = spy.calls[0]!;
      const host = spy.host();
      refreshInBackground(host, call, { source: 'serveStale', leaseTtl: 1_000, counter: 'staleRefreshes' });
      refreshInBackground(host, call, { source: 'serveStale', leaseTtl: 1_000, counter: 'staleRefreshes' });
      await until(() => runs === 2, 'the refresh runs');
      refreshInBackground(host, call, { source: 'serveStale', leaseTtl: 1_000, counter: 'staleRefreshes' });
      gate.resolve();
      await until(() => refreshes.length === 1, 'the refresh is reported');
      assert.equal(runs, 2, 'the requests made while it ran joined it');
      assert.deepEqual(refreshes, [{ key: 'k', source: 'serveStale', duration: 40 }]);
      assert.deepEqual([cache.stats().staleRefreshes, cache.stats().earlyRefreshes], [1, 0]);
      refreshInBackground(host, call, { source: 'serveStale', leaseTtl: 1_000, counter: 'staleRefreshes' });
      await until(() => runs === 3, 'once it settled, the next request refreshes again');
    } finally {
      await cache.close();
    }
  });

  it('counts a refresh in the counter given, and skips one whose entry someone else replaced', async () => {
    const clock = manualClock(10_000);
    const spy = borrower();
    const leases = recordingLeases();
    const cache = new Cache({ clock, tiers: [memoryTier(), tierWithLeases(leases.store)], ttl: 1_000, policies: [spy.policy] });
    try {
      let runs = 0;
      await cache.compute('k', () => ++runs);
      const call = spy.calls[0]!;
      refreshInBackground(spy.host(), call, { source: 'xfetch', leaseTtl: 1_000, counter: 'earlyRefreshes' });
      await until(() => leases.released.length === 1, 'the early refresh gave its lease back');
      assert.deepEqual([runs, cache.stats().earlyRefreshes, cache.stats().staleRefreshes], [2, 1, 0]);
      // call.entry is what its refresh stored; a newer value landed since: nothing to refresh.
      clock.advance(1);
      await cache.set('k', 'newer');
      refreshInBackground(spy.host(), call, { source: 'xfetch', leaseTtl: 1_000, counter: 'earlyRefreshes' });
      await until(() => leases.released.length === 2, 'the skipped refresh gave its lease back');
      assert.equal(runs, 2);
      assert.equal(cache.stats().earlyRefreshes, 1);
      assert.equal(cache.getSync('k'), 'newer');
    } finally {
      await cache.close();
    }
  });

  it('with no entry seen, a value that landed meanwhile is enough: nothing is computed', async () => {
    const leases = recordingLeases();
    const spy = borrower(async (host, call) => {
      await cache.set(call.key, 'landed');
      refreshInBackground(host, call, { source: 'custom', leaseTtl: 1_000, counter: 'staleRefreshes' });
      return 'answered';
    });
    const cache = createCache({ tiers: [memoryTier(), tierWithLeases(leases.store)], policies: [spy.policy] });
    const failures = collect(cache, 'background-error');
    try {
      let runs = 0;
      assert.equal(await cache.compute('k', () => { runs++; return 'computed'; }), 'answered');
      assert.equal(spy.calls[0]!.entry, undefined);
      await until(() => leases.released.length === 1, 'the refresh gave its lease back');
      assert.equal(runs, 0);
      assert.deepEqual(failures, []);
      assert.equal(cache.stats().staleRefreshes, 0);
    } finally {
      await cache.close();
    }
  });

  it('does nothing once the cache closed', async () => {
    const spy = borrower();
    const leases = recordingLeases();
    const cache = createCache({ tiers: [memoryTier(), tierWithLeases(leases.store)], policies: [spy.policy] });
    let runs = 0;
    await cache.compute('k', () => { runs++; return 1; });
    const releasedBefore = leases.released.length;
    await cache.close();
    let acquired = 0;
    const acquire = leases.store.acquire;
    leases.store.acquire = (...args) => { acquired++; return acquire(...args); };
    refreshInBackground(spy.host(), spy.calls[0]!, { source: 'custom', leaseTtl: 1_000 });
    assert.equal(acquired, 0, 'not even a lease is asked for');
    assert.equal(runs, 1);
    assert.equal(leases.released.length, releasedBefore);
  });
});

describe('the rest of the host', () => {
  it('watchBackground counts and emits a failure of background work, with its source', async () => {
    const spy = borrower();
    const cache = createCache({ tiers: [memoryTier()], policies: [spy.policy] });
    const failures = collect(cache, 'background-error');
    try {
      await cache.compute('k', () => 1);
      const failure = new Error('refresh failed');
      spy.host().watchBackground(spy.calls[0]!, 'custom', Promise.reject(failure));
      spy.host().watchBackground(spy.calls[0]!, 'custom', Promise.resolve('fine'));
      await until(() => failures.length === 1, 'the failure is reported');
      assert.deepEqual(failures, [{ key: 'k', source: 'custom', error: failure }]);
      assert.equal(cache.stats().backgroundErrors, 1);
    } finally {
      await cache.close();
    }
  });

  it('sleep resolves after its time and rejects with AbortedError when the cache closes', async () => {
    const spy = borrower();
    const cache = createCache({ tiers: [memoryTier()], policies: [spy.policy] });
    await cache.compute('k', () => 1);
    const host = spy.host();
    await host.sleep(1, 'k');
    const long = host.sleep(60_000, 'k');
    await cache.close();
    await assert.rejects(long, (error: unknown) => error instanceof AbortedError && error.message === '"k": the cache closed while waiting');
  });

  it('a lease granted as the cache closes is given back, and the caller gets AbortedError', async () => {
    const grant = deferred();
    const released: string[] = [];
    let holder: Lease | undefined;
    const leases: LeaseStore = {
      scope: 'cluster',
      async acquire(key, token, ttl) {
        await grant.promise;
        holder = { key, token, expiresAt: Date.now() + ttl };
        return { acquired: true, lease: holder, tookOver: false };
      },
      async release(_key, token) { released.push(token); holder = undefined; return true; },
      holder: () => holder,
    };
    const spy = borrower();
    const cache = createCache({ tiers: [memoryTier(), tierWithLeases(leases)], policies: [spy.policy] });
    await cache.compute('k', () => 1);
    const taking = spy.host().tryLease(spy.calls[0]!, 1_000);
    const closing = cache.close();
    grant.resolve();
    await assert.rejects(taking, (error: unknown) => error instanceof AbortedError && error.message === '"k": the cache closed while taking the lease');
    await closing;
    assert.equal(holder, undefined);
    assert.equal(released.length >= 1, true);
    assert.equal(holdsLease(spy.calls[0]!), false);
  });

  it('leaseHolder answers with the holder of the call\'s key; a lease borrowed within a call is given back once', async () => {
    const spy = borrower();
    const cache = createCache({ tiers: [memoryTier()], policies: [spy.policy] });
    try {
      await cache.compute('k', () => 1);
      const call = spy.calls[0]!;
      const host = spy.host();
      const lease = await host.tryLease(call, 1_000);
      assert.ok(lease !== undefined);
      assert.deepEqual(await host.leaseHolder(call), lease);
      await host.releaseLease(lease);
      assert.equal(await host.leaseHolder(call), undefined);
      // Re-entrant within one call: an inner stage borrows, and only the outer release gives it back.
      const outer = await takeLease(host, call, 1_000);
      assert.ok(outer !== undefined);
      assert.equal(holdsLease(call), true);
      assert.equal(await takeLease(host, call, 1_000), outer, 'lent, not taken again');
      await giveLease(host, outer);
      assert.deepEqual(await host.leaseHolder(call), outer, 'the borrow ended; the outer stage still holds it');
      await giveLease(host, outer);
      assert.equal(await host.leaseHolder(call), undefined);
      assert.equal(holdsLease(call), false);
    } finally {
      await cache.close();
    }
  });

  it('a call run after the cache closed is refused before its function starts', async () => {
    const spy = borrower();
    const cache = createCache({ tiers: [memoryTier()], policies: [spy.policy] });
    let runs = 0;
    await cache.compute('k', () => { runs++; return 1; });
    await cache.close();
    await assert.rejects(spy.calls[0]!.run(), (error: unknown) => error instanceof AbortedError && error.message === '"k": the cache closed before the compute could start');
    assert.equal(runs, 1);
  });

  it("a compute's delta is its duration on the cache's clock, never negative", async () => {
    const clock = manualClock(10_000);
    const memory = memoryTier();
    const cache = new Cache({ clock, tiers: [memory], ttl: 1_000 });
    try {
      await cache.compute('slow', () => { clock.advance(70); return 1; });
      assert.equal(memory.getSync?.('slow')?.delta, 70);
      await cache.compute('stepped-back', () => { clock.set(9_000); return 1; });
      assert.equal(memory.getSync?.('stepped-back')?.delta, 0);
      assert.equal(memory.getSync?.('stepped-back')?.storedAt, 9_000);
    } finally {
      await cache.close();
    }
  });
});
