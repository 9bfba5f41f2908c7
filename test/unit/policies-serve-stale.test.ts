// serveStale({ maxAge, onCold }): freshness timeout vs grand timeout (properties 15-17) in one
// process, with an injected clock. The cross-process side is in test/multiprocess/.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { barrier, createCache, errors, serveStale, type Cache, type ComputeCall, type Policy, type PolicyHost } from '../../src/index.js';
import { manualClock, type ManualClock } from '../helpers/clock.js';
import { propertyParams } from '../helpers/fc.js';
import { tempDir } from '../helpers/tmp.js';
import { PENDING, deferred, settledWithin, turns, until, within } from '../fixtures/policy-support.js';

const dirs: Array<{ cleanup: () => void }> = [];
after(() => dirs.forEach((d) => d.cleanup()));

const TTL = 1_000;
const MAX_AGE = 5_000;

function build(clock: ManualClock, policies: readonly Policy[], lmdb = true, path?: string): Cache {
  let where: { path: string } | false = false;
  if (lmdb) {
    if (path === undefined) {
      const dir = tempDir('policies-stale');
      dirs.push(dir);
      path = dir.path;
    }
    where = { path };
  }
  return createCache({ ttl: TTL, clock, lmdb: where, policies });
}

describe('serveStale()', () => {
  it('age < ttl: served, nothing computed', async () => {
    const clock = manualClock();
    const cache = build(clock, [serveStale({ maxAge: MAX_AGE })]);
    try {
      await cache.compute('k', () => 'v1');
      const t0 = clock();
      let runs = 0;
      for (const age of [0, 1, 500, TTL - 1]) {
        clock.set(t0 + age);
        assert.equal(await cache.compute('k', () => { runs++; return 'v2'; }), 'v1');
      }
      await turns();
      assert.equal(runs, 0);
      assert.equal(cache.stats().staleServed, 0);
    } finally {
      await cache.close();
    }
  });

  it('ttl <= age < maxAge: the stale value at once and exactly one background refresh', async () => {
    const clock = manualClock();
    const cache = build(clock, [serveStale({ maxAge: MAX_AGE })]);
    try {
      await cache.compute('k', () => 'v1');
      clock.advance(TTL); // age == ttl: already stale
      const refresh = deferred<string>();
      let runs = 0;
      const fn = (): Promise<string> => { runs++; return refresh.promise; };
      const answers = Array.from({ length: 8 }, () => cache.compute('k', fn));
      for (const answer of answers) assert.equal(await settledWithin(answer, 1_000), 'v1', 'served without waiting for the refresh');
      await until(() => runs === 1, 'the refresh started');
      // Later stale callers while the refresh runs are served too, and start nothing.
      clock.advance(2_000);
      assert.equal(await cache.compute('k', fn), 'v1');
      await turns(10);
      assert.equal(runs, 1, 'exactly one refresh');
      const refreshed = new Promise((resolve) => cache.on('refresh', resolve));
      refresh.resolve('v2');
      await refreshed;
      const stats = cache.stats();
      assert.equal(stats.staleServed, 9);
      assert.equal(stats.staleRefreshes, 1);
      assert.equal(await cache.compute('k', fn), 'v2', 'the refreshed value is fresh');
      assert.equal(runs, 1);
    } finally {
      await cache.close();
    }
  });

  it('no refresh when another process refreshed after this caller read the stale entry (double check)', async () => {
    const clock = manualClock();
    const dir = tempDir('policies-stale');
    dirs.push(dir);
    const other = build(clock, [], true, dir.path);
    // Runs after this caller read the stale entry, before serveStale: another process refreshes it.
    const meddler: Policy = {
      name: 'meddler',
      create: () => ({
        async handle(call, next) {
          assert.equal(call.entry?.value, 'v1');
          clock.advance(1);
          await other.set(call.key, 'v2 from elsewhere');
          return next();
        },
      }),
    };
    const cache = build(clock, [meddler, serveStale({ maxAge: MAX_AGE })], true, dir.path);
    try {
      await other.set('k', 'v1', { maxAge: MAX_AGE });
      clock.advance(TTL + 100);
      let runs = 0;
      assert.equal(await cache.compute('k', () => { runs++; return 'v3'; }), 'v1', 'the stale value it read');
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.equal(runs, 0, 'the refresher found a newer entry after taking the lease');
      assert.equal(cache.stats().staleRefreshes, 0);
      assert.equal(await cache.get('k'), 'v2 from elsewhere');
    } finally {
      await cache.close();
      await other.close();
    }
  });

  it('never serves a value at or after maxAge; at maxAge - 1 it still does (property 15)', async () => {
    const clock = manualClock();
    const cache = build(clock, [serveStale({ maxAge: MAX_AGE })]);
    try {
      await cache.compute('k', () => 'v1');
      const t0 = clock();
      const fail = (): never => { throw new Error('refresh fails'); };
      clock.set(t0 + MAX_AGE - 1);
      assert.equal(await cache.compute('k', fail), 'v1');
      await until(() => cache.stats().backgroundErrors === 1, 'the failed refresh settled');
      clock.set(t0 + MAX_AGE);
      assert.equal(await cache.get('k'), undefined);
      let stale: unknown = 'not called';
      assert.equal(await cache.compute('k', ({ stale: s }) => { stale = s; return 'v2'; }), 'v2', 'computed, in the foreground');
      assert.equal(stale, undefined, 'not even handed to the compute as stale');
    } finally {
      await cache.close();
    }
  });

  it('a failed refresh keeps the stale value until maxAge, counted in stats and emitted as background-error', async () => {
    const clock = manualClock();
    const cache = build(clock, [serveStale({ maxAge: MAX_AGE })]);
    try {
      await cache.compute('k', () => 'v1');
      const t0 = clock();
      const reported: Array<{ key: string; source: string; error: unknown }> = [];
      cache.on('background-error', (event) => reported.push(event));
      const boom = new Error('refresh failed');
      let runs = 0;
      const fail = (): never => { runs++; throw boom; };
      for (const [i, age] of [1_500, 3_000, MAX_AGE - 1].entries()) {
        clock.set(t0 + age);
        assert.equal(await cache.compute('k', fail), 'v1', `stale value still served at age ${age}`);
        await until(() => reported.length === i + 1, 'the failure was reported');
      }
      assert.equal(runs, 3, 'each stale read after a failure tries again');
      for (const event of reported) assert.deepEqual([event.key, event.source, event.error], ['k', 'serve-stale', boom]);
      const stats = cache.stats();
      assert.equal(stats.backgroundErrors, 3);
      assert.equal(stats.staleServed, 3);
      clock.set(t0 + MAX_AGE);
      await assert.rejects(cache.compute('k', fail), (err) => err === boom, 'at maxAge the failure reaches the caller');
    } finally {
      await cache.close();
    }
  });

  it("cold while another caller computes, onCold 'wait': waits for its value, one compute", async () => {
    const clock = manualClock();
    const cache = build(clock, [serveStale({ maxAge: MAX_AGE, onCold: 'wait' }), barrier()]);
    try {
      const gate = deferred();
      let runs = 0;
      const fn = async (): Promise<string> => { runs++; await gate.promise; return `v${runs}`; };
      const first = cache.compute('k', fn);
      await until(() => runs === 1, 'the first caller computes');
      const second = cache.compute('k', fn);
      assert.equal(await settledWithin(second, 20), PENDING, 'the cold caller waits');
      gate.resolve();
      assert.equal(await first, 'v1');
      assert.equal(await within(second, 5_000, 'second'), 'v1');
      assert.equal(runs, 1);
      assert.equal(cache.stats().coldErrors, 0);
    } finally {
      await cache.close();
    }
  });

  it("cold while another caller computes, onCold 'throw': ColdCacheError with code E_COLD_CACHE", async () => {
    const clock = manualClock();
    const cache = build(clock, [serveStale({ maxAge: MAX_AGE, onCold: 'throw' }), barrier()]);
    try {
      const gate = deferred();
      let runs = 0;
      const fn = async (): Promise<string> => { runs++; await gate.promise; return 'v1'; };
      const first = cache.compute('k', fn);
      await until(() => runs === 1, 'the first caller computes');
      await assert.rejects(within(cache.compute('k', fn), 5_000, 'cold caller'), (err: unknown) => {
        assert.ok(err instanceof errors.ColdCacheError);
        assert.equal(err.code, 'E_COLD_CACHE');
        assert.equal(err.key, 'k');
        return true;
      });
      assert.equal(cache.stats().coldErrors, 1);
      gate.resolve();
      assert.equal(await first, 'v1');
      assert.equal(await cache.compute('k', fn), 'v1', 'once filled, no error');
      assert.equal(runs, 1);
    } finally {
      await cache.close();
    }
  });

  for (const onCold of ['throw', 'wait'] as const) {
    it(`serveStale alone (no barrier), onCold '${onCold}': the cold compute holds the lease, so other callers see it`, async () => {
      const cache = build(manualClock(), [serveStale({ maxAge: MAX_AGE, onCold })]);
      try {
        const gate = deferred();
        let runs = 0;
        const fn = async (): Promise<string> => { runs++; await gate.promise; return 'v1'; };
        const first = cache.compute('k', fn);
        await until(() => runs === 1, 'the first caller computes');
        const second = within(cache.compute('k', fn), 5_000, 'cold caller');
        if (onCold === 'throw') {
          await assert.rejects(second, errors.ColdCacheError);
          gate.resolve();
        } else {
          await until(() => cache.stats().leaseWaits === 1, 'the second caller waits');
          gate.resolve();
          assert.equal(await second, 'v1');
        }
        assert.equal(await first, 'v1');
        assert.equal(runs, 1, 'one compute for both callers');
      } finally {
        await cache.close();
      }
    });
  }

  it("onCold 'throw' with nobody computing: the caller computes itself", async () => {
    const cache = build(manualClock(), [serveStale({ maxAge: MAX_AGE, onCold: 'throw' }), barrier()]);
    try {
      assert.equal(await cache.compute('k', () => 'v1'), 'v1');
    } finally {
      await cache.close();
    }
  });

  it('the stage alone never serves an entry at its grand timeout, even when a tier hands it one', async () => {
    // A stand-in host and call: serveStale must judge the entry itself, not rely on the tiers.
    let now = 0;
    const counted: string[] = [];
    const refreshes: string[] = [];
    const watched: Array<Promise<unknown>> = [];
    const host = {
      now: () => now,
      random: () => 0.5,
      leaseScope: 'process',
      tryLease: () => Promise.resolve(undefined),
      releaseLease: () => Promise.resolve(),
      leaseHolder: () => Promise.resolve(undefined),
      closed: false,
      readShared: () => Promise.resolve(undefined),
      awaitNews: () => Promise.resolve(),
      // Every background refresh is handed to the host to watch, under its source.
      watchBackground: (_call: unknown, source: string, work: Promise<unknown>) => { refreshes.push(source); watched.push(work); },
      count: (counter: string) => { counted.push(counter); },
      emit: () => {},
      sleep: () => Promise.resolve(),
    } as unknown as PolicyHost;
    const stage = serveStale({ maxAge: MAX_AGE }).create(host);
    const entry = { value: 'old', storedAt: 0, freshUntil: TTL, staleUntil: MAX_AGE, delta: 1 };
    const call = (): ComputeCall => ({ key: 'k', storageKey: '0::k', ttl: TTL, maxAge: MAX_AGE, entry, run: () => Promise.resolve('new'), abort: () => {} });
    const next = (): Promise<unknown> => Promise.resolve('computed');
    now = TTL;
    assert.equal(await stage.handle(call(), next), 'old', 'stale at age == ttl');
    // One refresh per key at a time: let the first settle (nobody got the lease) before the next.
    await Promise.all(watched);
    await new Promise((resolve) => setImmediate(resolve));
    now = MAX_AGE - 1;
    assert.equal(await stage.handle(call(), next), 'old', 'stale at maxAge - 1');
    now = MAX_AGE;
    assert.equal(await stage.handle(call(), next), 'computed', 'not served at maxAge');
    now = MAX_AGE + 1;
    assert.equal(await stage.handle(call(), next), 'computed', 'not served past maxAge');
    assert.deepEqual(refreshes, ['serve-stale', 'serve-stale']);
    assert.deepEqual(counted, ['staleServed', 'staleServed']);
  });

  it('refuses a maxAge below ttl and bad options', () => {
    assert.throws(() => createCache({ ttl: 1_000, lmdb: false, policies: [serveStale({ maxAge: 999 })] }), (err: unknown) => err instanceof errors.InvalidOptionError && err.option === 'serveStale.maxAge');
    assert.throws(() => serveStale({ maxAge: 0 }), errors.InvalidOptionError);
    assert.throws(() => serveStale({ maxAge: 1_000, onCold: 'later' as 'wait' }), errors.InvalidOptionError);
    assert.throws(() => serveStale(undefined as unknown as { maxAge: number }), errors.InvalidOptionError);
  });

  it('property 15/16: at any age, a value is served iff age < maxAge, and computed in the foreground iff age >= maxAge', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 0, max: 5_000 }),
        fc.array(fc.integer({ min: 0, max: 12_000 }), { minLength: 1, maxLength: 6 }),
        async (ttl, extra, ages) => {
          const maxAge = ttl + extra;
          const clock = manualClock();
          const cache = createCache({ ttl, clock, lmdb: false, policies: [serveStale({ maxAge })] });
          try {
            await cache.compute('k', () => 'old');
            const t0 = clock();
            for (const age of [...ages].sort((a, b) => a - b)) {
              clock.set(t0 + age);
              let ran = false;
              // The refresh (or foreground compute) fails, so the entry stays the one stored at t0.
              const outcome = await cache.compute('k', () => { ran = true; throw new Error('no'); }).then(
                (value) => ({ value }),
                () => ({ value: 'failed' }),
              );
              await turns(2);
              if (age < ttl) assert.deepEqual([outcome.value, ran], ['old', false], `age ${age} < ttl ${ttl}`);
              else if (age < maxAge) assert.deepEqual([outcome.value, ran], ['old', true], `ttl ${ttl} <= age ${age} < maxAge ${maxAge}: stale + refresh`);
              else assert.deepEqual([outcome.value, ran], ['failed', true], `age ${age} >= maxAge ${maxAge}: never served`);
            }
          } finally {
            await cache.close();
          }
        },
      ),
      propertyParams({ numRuns: 60 }),
    );
  });
});

describe('serveStale() with no shared tier (memory only)', () => {
  it("onCold 'wait' gets the other caller's value without computing again", async () => {
    const cache = build(manualClock(), [serveStale({ maxAge: MAX_AGE, onCold: 'wait' }), barrier()], false);
    try {
      const gate = deferred();
      let runs = 0;
      const fn = async (): Promise<number> => { const mine = ++runs; await gate.promise; return mine; };
      const first = cache.compute('k', fn);
      await until(() => runs === 1, 'the first caller computes');
      const both = Promise.all([first, cache.compute('k', fn)]);
      both.catch(() => {}); // observed below; a broken build must fail here, not as an unhandled rejection
      await new Promise((resolve) => setTimeout(resolve, 10));
      gate.resolve();
      assert.deepEqual(await within(both, 5_000, 'both'), [1, 1]);
    } finally {
      await cache.close();
    }
  });
});
