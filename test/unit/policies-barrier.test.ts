// barrier(): double-checked locking per key inside one process, over a real LMDB file
// (properties 6, 8-11). The multi-process side is in test/multiprocess/policies-barrier.test.ts.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { barrier, createCache, errors, lmdbTier, memoryTier, type Cache, type LeaseStore, type Policy, type Tier } from '../../src/index.js';
import { manualClock, type ManualClock } from '../helpers/clock.js';
import { propertyParams } from '../helpers/fc.js';
import { tempDir } from '../helpers/tmp.js';
import { PENDING, deferred, settledWithin, spyPolicy, until, waiterGetsLeaderValue, waiterTakesOverFromFailedLeader, within } from '../fixtures/policy-support.js';

const dirs: Array<{ cleanup: () => void }> = [];
after(() => dirs.forEach((d) => d.cleanup()));

function freshPath(): string {
  const dir = tempDir('policies-barrier');
  dirs.push(dir);
  return dir.path;
}

function build(clock: ManualClock, policies: readonly Policy[], path = freshPath(), extra: { maxAge?: number } = {}): Cache {
  return createCache({ ttl: 1_000, ...extra, clock, lmdb: { path }, policies });
}

/**
 * A stage before barrier that, once the lookup missed, has another cache store the key (and then
 * runs `then`, e.g. moves the clock): what barrier meets after the lookup and before its lease.
 */
function meddler(other: Cache, then: () => void = () => undefined): Policy {
  return {
    name: 'meddler',
    create: () => ({
      async handle(call, next) {
        assert.equal(call.entry, undefined, 'the lookup missed');
        await other.set(call.key, 'from elsewhere');
        then();
        return next();
      },
    }),
  };
}

describe('barrier()', () => {
  it('N concurrent cold callers in one process: one compute, all get its value, one shared wait', async () => {
    const clock = manualClock();
    const cache = build(clock, [barrier()]);
    try {
      const gate = deferred();
      let runs = 0;
      const callers = Array.from({ length: 12 }, () =>
        cache.compute('k', async () => {
          runs++;
          await gate.promise;
          return { by: runs };
        }),
      );
      await until(() => runs === 1, 'the lease holder computes');
      // Let the other callers find the lease taken and join the wait before the value lands.
      await until(() => cache.stats().leaseWaits >= 1, 'a caller waits');
      await new Promise((resolve) => setTimeout(resolve, 20));
      gate.resolve();
      const values = await within(Promise.all(callers), 5_000, 'all callers');
      assert.equal(runs, 1);
      for (const value of values) assert.deepEqual(value, { by: 1 });
      const stats = cache.stats();
      assert.equal(stats.computes, 1);
      assert.equal(stats.leaseWaits, 1, 'the eleven waiters of this process share one wait');
    } finally {
      await cache.close();
    }
  });

  it('double check: a value stored after the lookup missed and before the lease was granted is served, not recomputed', async () => {
    const clock = manualClock();
    const path = freshPath();
    const other = build(clock, [], path);
    // A second machine-wide lease store, whose grant comes just after another process stored the
    // key and let its lease go: only the look after taking the lease can see that value.
    const leases: LeaseStore = {
      scope: 'machine',
      acquire: async (key, token, ttl) => {
        await other.set('k', 'from elsewhere');
        return { acquired: true, lease: { key, token, expiresAt: clock() + ttl }, tookOver: false };
      },
      release: async () => true,
      holder: () => undefined,
    };
    const granting: Tier = {
      name: 'granting', scope: 'machine', maxKeyBytes: 1_000, leases,
      attach: () => undefined, get: () => undefined, set: () => undefined, delete: () => undefined, clear: () => undefined, close: () => Promise.resolve(),
    };
    const cache = createCache({ ttl: 1_000, clock, tiers: [memoryTier(), lmdbTier({ path }), granting], policies: [barrier()] });
    try {
      let runs = 0;
      assert.equal(await cache.compute('k', () => { runs++; return 'mine'; }), 'from elsewhere');
      assert.equal(runs, 0, 'the look after taking the lease found the value');
    } finally {
      await cache.close();
      await other.close();
    }
  });

  it('double check: a value stored by someone else before the lease was taken, and stale by then, is what the compute is handed as its stale value', async () => {
    const clock = manualClock();
    const path = freshPath();
    const other = build(clock, [], path, { maxAge: 60_000 });
    // After the lookup missed: another process stores the key, and the clock passes its ttl.
    const cache = build(clock, [meddler(other, () => clock.advance(1_001)), barrier()], path, { maxAge: 60_000 });
    try {
      let handed: unknown = 'not called';
      assert.equal(await cache.compute('k', ({ stale }) => { handed = stale; return 'mine'; }), 'mine');
      assert.equal(handed, 'from elsewhere', 'the compute saw the stale value the double check found');
    } finally {
      await cache.close();
      await other.close();
    }
  });

  it('double check: a value stored by someone else before the lease was taken is not recomputed', async () => {
    const clock = manualClock();
    const path = freshPath();
    const other = build(clock, [], path);
    // Runs after the lookup missed and before barrier takes the lease: another process fills the key.
    const cache = build(clock, [meddler(other), barrier()], path);
    try {
      let runs = 0;
      assert.equal(await cache.compute('k', () => { runs++; return 'mine'; }), 'from elsewhere');
      assert.equal(runs, 0, 'the re-check after taking the lease found the value');
    } finally {
      await cache.close();
      await other.close();
    }
  });

  it('a value stored by another cache while this one waits for the lease is not recomputed', async () => {
    const clock = manualClock();
    const path = freshPath();
    const a = build(clock, [barrier()], path);
    const b = build(clock, [barrier()], path);
    try {
      const gate = deferred();
      let runsA = 0;
      let runsB = 0;
      const first = a.compute('k', async () => { runsA++; await gate.promise; return 'from a'; });
      await until(() => runsA === 1, 'a holds the lease');
      const second = b.compute('k', () => { runsB++; return 'from b'; });
      await until(() => b.stats().leaseWaits === 1, 'b waits for a');
      assert.equal(await settledWithin(second, 10), PENDING, 'b waits for a');
      gate.resolve();
      assert.equal(await first, 'from a');
      assert.equal(await within(second, 5_000, 'b'), 'from a');
      assert.equal(runsB, 0);
      assert.equal(b.stats().leaseWaits, 1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('only the owner releases its lease: an overrunning holder finishing late leaves its successor\'s lease alone', async () => {
    const clock = manualClock();
    const path = freshPath();
    const spyA = spyPolicy();
    const spyB = spyPolicy();
    const a = build(clock, [spyA.policy, barrier({ lease: 500 })], path);
    const b = build(clock, [spyB.policy, barrier({ lease: 500 })], path);
    try {
      const gateA = deferred();
      const gateB = deferred();
      let runsA = 0;
      let runsB = 0;
      const first = a.compute('k', async () => { runsA++; await gateA.promise; return 'a'; });
      await until(() => runsA === 1, 'a holds the lease');
      const leaseA = await spyA.host().leaseHolder(spyA.calls[0]!);
      assert.ok(leaseA !== undefined);
      clock.advance(600); // a overruns its 500 ms lease
      const second = b.compute('k', async () => { runsB++; await gateB.promise; return 'b'; });
      await until(() => runsB === 1, 'b took the lease over');
      assert.equal(b.stats().leaseTakeovers, 1);
      const leaseB = await spyB.host().leaseHolder(spyB.calls[0]!);
      assert.ok(leaseB !== undefined && leaseB.token !== leaseA.token);

      gateA.resolve();
      assert.equal(await first, 'a');
      const holder = await spyB.host().leaseHolder(spyB.calls[0]!);
      assert.equal(holder?.token, leaseB.token, "a's late release did not free b's lease");
      // And a third caller is still kept out while b holds it.
      await a.delete('k');
      const third = a.compute('k', () => 'c');
      assert.equal(await settledWithin(third, 30), PENDING, 'a third caller waits for b');

      await until(() => b.stats().invalidations >= 1, "b hears of a's delete");
      gateB.resolve();
      assert.equal(await second, 'b');
      // The delete landed while b computed, so b's result reached its caller but was not stored:
      // once b released its lease, the third caller computed its own.
      assert.equal(await within(third, 5_000, 'third'), 'c');
      assert.equal(await spyB.host().leaseHolder(spyB.calls[0]!), undefined, 'b released its own lease');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('looks again after taking the lease: a value stored by another process just before is returned, not recomputed (property 9)', async () => {
    const clock = manualClock();
    const path = freshPath();
    const a = build(clock, [barrier()], path);
    const tier = lmdbTier({ path });
    const b = createCache({ tiers: [memoryTier(), tier], ttl: 1_000, clock, policies: [barrier()] });
    try {
      const leases = tier.leases as { acquire: LeaseStore['acquire'] };
      const acquire = leases.acquire.bind(leases);
      // Another process stores the value between b's first look and b taking the lease.
      leases.acquire = async (key, token, ttl) => {
        await a.set('k', 'from a');
        return acquire(key, token, ttl);
      };
      let runs = 0;
      assert.equal(await b.compute('k', () => { runs++; return 'from b'; }), 'from a');
      assert.equal(runs, 0, 'the double check found the value: no compute');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('callers of one process that queued behind their leader take no lease of their own: they find its value', async () => {
    const clock = manualClock();
    const tier = lmdbTier({ path: freshPath() });
    const cache = createCache({ tiers: [memoryTier(), tier], ttl: 1_000, clock, policies: [barrier()] });
    try {
      const leases = tier.leases as { acquire: LeaseStore['acquire'] };
      const acquire = leases.acquire.bind(leases);
      let acquisitions = 0;
      leases.acquire = (key, token, ttl) => {
        acquisitions++;
        return acquire(key, token, ttl);
      };
      const gate = deferred();
      let runs = 0;
      const callers = Array.from({ length: 5 }, () => cache.compute('k', async () => { runs++; await gate.promise; return 'v'; }));
      await until(() => runs === 1, 'the leader computes');
      gate.resolve();
      assert.deepEqual(await Promise.all(callers), ['v', 'v', 'v', 'v', 'v']);
      assert.equal(runs, 1);
      assert.equal(acquisitions, 1, 'only the leader asked the shared tier for the lease');
    } finally {
      await cache.close();
    }
  });

  for (const [news, scenario] of [['the value lands', waiterGetsLeaderValue], ['a failed holder lets go', waiterTakesOverFromFailedLeader]] as const) {
    it(`a waiter in another process hears through the change log as soon as ${news}, however long its pauses`, async () => {
      const clock = manualClock();
      const path = freshPath();
      const a = build(clock, [barrier()], path);
      // Ten-minute pauses between looks: only news from a can bring b its answer in time.
      const b = build(clock, [barrier({ poll: { first: 600_000, longest: 600_000 } })], path);
      try {
        await scenario(a, b, 'k', 5_000, 'the change log');
      } finally {
        await a.close();
        await b.close();
      }
    });
  }

  it('news of another process\'s older write, heard while a later compute runs, does not stop that compute from storing', async () => {
    const clock = manualClock();
    const path = freshPath();
    const a = build(clock, [barrier()], path, { maxAge: 10_000 });
    const b = build(clock, [barrier()], path, { maxAge: 10_000 });
    try {
      await a.set('k', 'old');
      clock.advance(1_500); // stale; b's compute starts well after a's write
      const gate = deferred();
      const computing = b.compute('k', async () => { await gate.promise; return 'new'; });
      await until(() => b.stats().invalidations >= 1, "b hears of a's set while it computes");
      gate.resolve();
      assert.equal(await computing, 'new');
      assert.equal(await a.get('k'), 'new', "b stored its result: a's write was older than b's compute");
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a compute that throws releases the lease, stores nothing and keeps the older value (property 6)', async () => {
    const clock = manualClock();
    const spy = spyPolicy();
    const cache = build(clock, [spy.policy, barrier()], freshPath(), { maxAge: 10_000 });
    try {
      await cache.compute('k', () => 'old');
      clock.advance(1_500);
      const boom = new Error('boom');
      await assert.rejects(cache.compute('k', () => { throw boom; }), (err) => err === boom);
      assert.equal(await spy.host().leaseHolder(spy.calls.at(-1)!), undefined, 'the lease was released');
      assert.equal(await cache.get('k'), undefined, 'nothing fresh was stored');
      let seen: unknown;
      assert.equal(await cache.compute('k', ({ stale }) => { seen = stale; return 'new'; }), 'new');
      assert.equal(seen, 'old', 'the older value was untouched');
      assert.equal(cache.stats().leaseWaits, 0, 'nobody had to wait for a lease left behind');
    } finally {
      await cache.close();
    }
  });

  it('waiters never wait forever: maxWait ends the wait with LeaseWaitTimeoutError', async () => {
    const clock = manualClock();
    const path = freshPath();
    const a = build(clock, [barrier({ lease: 60_000, maxWait: 1_000 })], path);
    const b = build(clock, [barrier({ lease: 60_000, maxWait: 1_000 })], path);
    try {
      const gate = deferred();
      let runs = 0;
      const holder = a.compute('k', async () => { runs++; await gate.promise; return 'late'; });
      await until(() => runs === 1, 'a holds the lease');
      const waiter = b.compute('k', () => 'never');
      // Only once b waits does moving the clock count against its maxWait.
      await until(() => b.stats().leaseWaits === 1, 'b waits');
      assert.equal(await settledWithin(waiter, 10), PENDING);
      clock.advance(1_001);
      await assert.rejects(within(waiter, 5_000, 'waiter'), (err: unknown) => {
        assert.ok(err instanceof errors.LeaseWaitTimeoutError);
        assert.equal(err.code, 'E_LEASE_WAIT_TIMEOUT');
        assert.equal(err.key, 'k');
        return true;
      });
      gate.resolve();
      assert.equal(await holder, 'late');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('keys are independent: a slow compute of key A never delays key B (property 10)', async () => {
    const clock = manualClock();
    const cache = build(clock, [barrier()]);
    try {
      const slow = deferred<string>();
      const a = cache.compute('A', () => slow.promise);
      const b = cache.compute('B', () => 'b');
      assert.equal(await settledWithin(b, 2_000), 'b');
      assert.equal(await settledWithin(a, 10), PENDING);
      assert.equal(cache.stats().leaseWaits, 0);
      slow.resolve('a');
      assert.equal(await a, 'a');
    } finally {
      await cache.close();
    }
  });

  it('property 8/9 in one process: any mix of callers over keys, every key computed once, everyone gets its value', async () => {
    const path = freshPath();
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat({ max: 3 }), { minLength: 12, maxLength: 12 }),
        async (keys, delays) => {
          const clock = manualClock();
          // One file for all runs, a fresh namespace per run: LMDB files are costly to create.
          const cache = createCache({ ttl: 1_000, clock, namespace: `run${round++}`, lmdb: { path }, policies: [barrier()] });
          try {
            const running = new Map<string, number>();
            const runs = new Map<string, number>();
            const values = await within(
              Promise.all(
                keys.map(async (key, i) => {
                  await new Promise((resolve) => setTimeout(resolve, delays[i] ?? 0));
                  return cache.compute(key, async () => {
                    assert.equal(running.get(key) ?? 0, 0, `two computes of ${key} at once`);
                    running.set(key, 1);
                    runs.set(key, (runs.get(key) ?? 0) + 1);
                    await new Promise((resolve) => setTimeout(resolve, 5));
                    running.set(key, 0);
                    return `${key}${runs.get(key)}`;
                  });
                }),
              ),
              10_000,
              'all callers',
            );
            for (const key of new Set(keys)) assert.equal(runs.get(key), 1, `${key} computed once`);
            values.forEach((value, i) => assert.equal(value, `${keys[i]}1`));
          } finally {
            await cache.close();
          }
        },
      ),
      propertyParams({ numRuns: 25 }),
    );
  });
});

describe('barrier() with no shared tier (memory only: leases coordinate this process)', () => {
  it('only the owner releases its lease: a holder finishing after its lease was taken over leaves the new lease alone', async () => {
    const clock = manualClock();
    const spy = spyPolicy();
    const cache = createCache({ ttl: 1_000, clock, lmdb: false, policies: [spy.policy, barrier({ lease: 500 })] });
    try {
      const gates = [deferred(), deferred()];
      let runs = 0;
      const fn = async (): Promise<number> => { const mine = runs++; await gates[mine]!.promise; return mine; };
      const first = cache.compute('k', fn);
      await until(() => runs === 1, 'first holds the lease');
      const firstLease = await spy.host().leaseHolder(spy.calls[0]!);
      clock.advance(501);
      const second = cache.compute('k', fn);
      await until(() => runs === 2, 'second took the expired lease over');
      assert.equal(cache.stats().leaseTakeovers, 1);
      const secondLease = await spy.host().leaseHolder(spy.calls[1]!);
      assert.ok(firstLease !== undefined && secondLease !== undefined && firstLease.token !== secondLease.token);
      gates[0]!.resolve();
      assert.equal(await first, 0);
      assert.equal((await spy.host().leaseHolder(spy.calls[1]!))?.token, secondLease.token, 'the first holder released nothing of the second');
      gates[1]!.resolve();
      assert.equal(await second, 1);
      assert.equal(await spy.host().leaseHolder(spy.calls[1]!), undefined);
    } finally {
      await cache.close();
    }
  });

  // The re-check and the wait read the shared tiers only; with none, nothing is ever found there,
  // so each waiter computes again after the holder finishes. See the report on Cache.readShared.
  it('N concurrent cold callers: one compute, all get its value', async () => {
    const cache = createCache({ ttl: 1_000, clock: manualClock(), lmdb: false, policies: [barrier()] });
    try {
      const gate = deferred();
      let runs = 0;
      const callers = Array.from({ length: 5 }, () =>
        cache.compute('k', async () => {
          const mine = ++runs;
          await gate.promise;
          return mine;
        }),
      );
      await until(() => runs >= 1, 'the holder computes');
      await new Promise((resolve) => setTimeout(resolve, 10));
      gate.resolve();
      const values = await within(Promise.all(callers), 5_000, 'all callers');
      assert.equal(runs, 1);
      assert.deepEqual(values, [1, 1, 1, 1, 1]);
    } finally {
      await cache.close();
    }
  });
});
