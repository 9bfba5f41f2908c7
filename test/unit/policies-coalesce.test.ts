// coalesce(): in-process singleflight, by example. Property 7 under generated keys, callers,
// failures and interleavings is test/property/p7-coalesce.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coalesce, createCache } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';
import { PENDING, deferred, settledWithin } from '../fixtures/policy-support.js';

function build(clock = manualClock()) {
  return createCache({ ttl: 1_000, clock, lmdb: false, policies: [coalesce()] });
}

describe('coalesce()', () => {
  it('N concurrent computes of one key run the function once and all get the identical value', async () => {
    const cache = build();
    try {
      const gate = deferred();
      let runs = 0;
      const produced = { page: 'html' };
      const callers = Array.from({ length: 10 }, () =>
        cache.compute('k', async () => {
          runs++;
          await gate.promise;
          return produced;
        }),
      );
      gate.resolve();
      const values = await Promise.all(callers);
      assert.equal(runs, 1);
      for (const value of values) assert.equal(value, produced, 'the same object, not a copy');
      assert.equal(cache.stats().coalesced, 9);
    } finally {
      await cache.close();
    }
  });

  it('N concurrent computes share the identical error (the same Error object), and the next call runs again', async () => {
    const cache = build();
    try {
      const gate = deferred();
      const boom = new Error('boom');
      let runs = 0;
      const callers = Array.from({ length: 5 }, () =>
        cache.compute('k', async () => {
          runs++;
          await gate.promise;
          throw boom;
        }),
      );
      gate.resolve();
      const results = await Promise.allSettled(callers);
      assert.equal(runs, 1);
      for (const result of results) {
        assert.equal(result.status, 'rejected');
        assert.equal((result as PromiseRejectedResult).reason, boom);
      }
      // Nothing is kept once it settles: the next call computes again.
      assert.equal(await cache.compute('k', () => { runs++; return 'ok'; }), 'ok');
      assert.equal(runs, 2);
    } finally {
      await cache.close();
    }
  });

  it('a later call after expiry runs again', async () => {
    const clock = manualClock();
    const cache = build(clock);
    try {
      let runs = 0;
      await Promise.all([cache.compute('k', () => ++runs), cache.compute('k', () => ++runs)]);
      assert.equal(runs, 1);
      clock.advance(1_000);
      assert.equal(await cache.compute('k', () => ++runs), 2);
    } finally {
      await cache.close();
    }
  });

  it('different keys never coalesce, and a slow key A never delays key B', async () => {
    const cache = build();
    try {
      const slowA = deferred<string>();
      let runsA = 0;
      let runsB = 0;
      const a = cache.compute('A', () => { runsA++; return slowA.promise; });
      const b1 = cache.compute('B', async () => { runsB++; await Promise.resolve(); return 'b1'; });
      const b2 = cache.compute('B2', async () => { runsB++; return 'b2'; });
      assert.equal(await settledWithin(b1, 1_000), 'b1', 'B finished while A is still computing');
      assert.equal(await settledWithin(b2, 1_000), 'b2');
      assert.equal(await settledWithin(a, 20), PENDING);
      assert.equal(runsA, 1);
      assert.equal(runsB, 2);
      slowA.resolve('a');
      assert.equal(await a, 'a');
    } finally {
      await cache.close();
    }
  });
});
