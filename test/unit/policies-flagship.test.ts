// The flagship pipeline [serveStale({ maxAge }), xfetch(), barrier()] with an injected clock and
// random source: after the first cold fill no request waits for a compute.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { barrier, createCache, serveStale, xfetch, type Cache } from '../../src/index.js';
import { manualClock, type ManualClock } from '../helpers/clock.js';
import { tempDir } from '../helpers/tmp.js';
import { PENDING, deferred, seededRandom, settledWithin, turns, until, within } from '../fixtures/policy-support.js';

const dirs: Array<{ cleanup: () => void }> = [];
after(() => dirs.forEach((d) => d.cleanup()));

const TTL = 1_000;
const MAX_AGE = 10_000;
const ALMOST_ONE = 1 - Number.EPSILON / 2;

function build(clock: ManualClock, random: () => number, path?: string): Cache {
  if (path === undefined) {
    const dir = tempDir('policies-flagship');
    dirs.push(dir);
    path = dir.path;
  }
  return createCache({ ttl: TTL, clock, random, lmdb: { path }, policies: [serveStale({ maxAge: MAX_AGE }), xfetch({ beta: 1 }), barrier({ lease: 2_000 })] });
}

/** The first cold fill: concurrent callers, one compute taking `delta` ms of the manual clock. */
async function coldFill(cache: Cache, clock: ManualClock, delta: number): Promise<void> {
  const gate = deferred();
  let runs = 0;
  const callers = Array.from({ length: 8 }, () =>
    cache.compute('page', async () => {
      runs++;
      await gate.promise;
      clock.advance(delta);
      return 'v1';
    }),
  );
  await until(() => runs === 1, 'the cold fill started');
  await new Promise((resolve) => setTimeout(resolve, 10));
  gate.resolve();
  assert.deepEqual(await within(Promise.all(callers), 5_000, 'cold fill'), Array(8).fill('v1'));
  assert.equal(runs, 1, 'one compute for the cold herd');
}

describe('flagship [serveStale, xfetch, barrier]', () => {
  it('stale: served at once to every caller while exactly one refresh runs', async () => {
    const clock = manualClock();
    const cache = build(clock, () => 0); // r = 1: xfetch never fires, only staleness refreshes
    try {
      await coldFill(cache, clock, 100);
      clock.advance(TTL + 500);
      const refresh = deferred<string>();
      let runs = 0;
      const fn = (): Promise<string> => { runs++; return refresh.promise; };
      const answers = Array.from({ length: 10 }, () => cache.compute('page', fn));
      for (const answer of answers) assert.equal(await settledWithin(answer, 1_000), 'v1');
      await until(() => runs === 1, 'one refresh');
      await turns(10);
      assert.equal(runs, 1);
      refresh.resolve('v2');
      await until(() => cache.stats().computes === 2, 'refresh stored');
      assert.equal(await cache.compute('page', fn), 'v2');
      const stats = cache.stats();
      assert.equal(stats.staleRefreshes, 1);
      assert.equal(stats.earlyRefreshes, 0);
      assert.equal(stats.staleServed, 10);
    } finally {
      await cache.close();
    }
  });

  it('fresh near expiry: xfetch refreshes early in the background, the caller gets the current value', async () => {
    const clock = manualClock();
    const cache = build(clock, () => ALMOST_ONE);
    try {
      await coldFill(cache, clock, 100);
      clock.advance(TTL - 300); // fresh, 300 ms before expiry, inside the window of the smallest r
      const refresh = deferred<string>();
      let runs = 0;
      const answer = cache.compute('page', () => { runs++; return refresh.promise; });
      assert.equal(await settledWithin(answer, 1_000), 'v1');
      await until(() => runs === 1, 'early refresh');
      refresh.resolve('v2');
      await until(() => cache.stats().computes === 2, 'early refresh stored');
      assert.equal(cache.stats().earlyRefreshes, 1);
      assert.equal(cache.stats().staleServed, 0);
    } finally {
      await cache.close();
    }
  });

  it('after the first cold fill, no request waits for a compute, across every age until maxAge', async () => {
    const clock = manualClock();
    const random = seededRandom(7);
    const cache = build(clock, random);
    try {
      await coldFill(cache, clock, 200);
      const t0 = clock();
      const waitsAfterFill = cache.stats().leaseWaits;
      // Every compute from now on hangs until the end: a request that waited for one would never answer.
      const hang = deferred<string>();
      let runs = 0;
      const fn = (): Promise<string> => { runs++; return hang.promise; };
      for (let age = 0; age < MAX_AGE; age += 250) {
        clock.set(t0 + age);
        const answer = await settledWithin(cache.compute('page', fn), 1_000);
        assert.notEqual(answer, PENDING, `a request at age ${age} waited for a compute`);
        assert.equal(answer, 'v1');
      }
      await until(() => runs >= 1, 'a refresh started');
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(runs, 1, 'one refresh in flight at a time, whoever started it');
      assert.equal(cache.stats().leaseWaits, waitsAfterFill, 'nobody waited for a lease after the cold fill');
      hang.resolve('v2');
      await until(() => cache.stats().computes === 2, 'the refresh stored');
    } finally {
      await cache.close();
    }
  });

  it('two caches on one LMDB file: one refresh between them for a stale key', async () => {
    const clock = manualClock();
    const dir = tempDir('policies-flagship');
    dirs.push(dir);
    const a = build(clock, () => 0, dir.path);
    const b = build(clock, () => 0, dir.path);
    try {
      await coldFill(a, clock, 50);
      clock.advance(TTL + 10);
      const refresh = deferred<string>();
      let runs = 0;
      const fn = (): Promise<string> => { runs++; return refresh.promise; };
      assert.equal(await a.compute('page', fn), 'v1');
      await until(() => runs === 1, 'a refreshes');
      assert.equal(await b.compute('page', fn), 'v1');
      await turns(10);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(runs, 1, 'b found the refresh lease taken');
      refresh.resolve('v2');
      await until(() => a.stats().computes === 2, 'stored');
      assert.equal(a.stats().staleRefreshes + b.stats().staleRefreshes, 1);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
