// xfetch({ beta }): the trigger rule, its frequency (property 12), r at its extremes
// (property 13) and the background recompute (property 14), by example with scripted and seeded
// random. The generated properties 12 and 13 are test/property/p12-p13-xfetch.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCache, errors, shouldRecomputeEarly, xfetch, type Cache } from '../../src/index.js';
import { manualClock, scriptedRandom, type ManualClock } from '../helpers/clock.js';
import { PENDING, deferred, seededRandom, settledWithin, spyPolicy, turns, until } from '../fixtures/policy-support.js';

/** The largest double below 1: `1 - random()` is then 2^-53, the smallest r the policy can draw. */
const ALMOST_ONE = 1 - Number.EPSILON / 2;
const TTL = 1_000;

describe('shouldRecomputeEarly', () => {
  it('r = 1 never triggers while fresh, and always at or after expiry', () => {
    for (const x of [1, 10, 500, 999]) assert.equal(shouldRecomputeEarly(10_000 - x, 10_000, 200, 1, 1), false, `x = ${x}`);
    assert.equal(shouldRecomputeEarly(10_000, 10_000, 200, 1, 1), true);
    assert.equal(shouldRecomputeEarly(10_001, 10_000, 200, 1, 1), true);
  });

  it('the trigger boundary is x = -delta * beta * ln(r)', () => {
    const r = 0.5;
    const window = -200 * 2 * Math.log(r); // 277.26 ms
    assert.equal(shouldRecomputeEarly(10_000 - 277, 10_000, 200, 2, r), true);
    assert.equal(shouldRecomputeEarly(10_000 - 278, 10_000, 200, 2, r), false);
    assert.ok(window > 277 && window < 278);
  });

  it('r at its smallest neither throws nor hangs and means "recompute" (property 13)', () => {
    // The smallest r the policy draws (2^-53) opens a window of 36.7 deltas; the smallest double, 744.
    assert.equal(shouldRecomputeEarly(10_000 - 3_600, 10_000, 100, 1, 2 ** -53), true);
    assert.equal(shouldRecomputeEarly(10_000 - 74_000, 10_000, 100, 1, Number.MIN_VALUE), true);
    assert.equal(shouldRecomputeEarly(0, 10_000, 100, 1, 0), true, 'even r = 0 (outside the contract) means recompute');
  });

  it('at x ms before expiry the trigger frequency matches exp(-x / (delta * beta)) within 4 standard deviations (property 12)', () => {
    const draws = 20_000;
    const freshUntil = 1_000_000;
    for (const delta of [20, 250]) {
      for (const beta of [0.5, 1, 3]) {
        const random = seededRandom(delta * 1_000 + beta * 10);
        const rs = Array.from({ length: draws }, () => 1 - random());
        let previous = -1;
        // From far to near: the frequency must never decrease (same draws, so exactly monotone).
        for (const scale of [4, 2, 1, 0.5, 0.1, 0.01]) {
          const x = scale * delta * beta;
          const expected = Math.exp(-x / (delta * beta));
          const hits = rs.filter((r) => shouldRecomputeEarly(freshUntil - x, freshUntil, delta, beta, r)).length;
          const sd = Math.sqrt(draws * expected * (1 - expected));
          assert.ok(
            Math.abs(hits - draws * expected) <= 4 * sd + 1,
            `delta ${delta}, beta ${beta}, x ${x}: ${hits} triggers in ${draws}, expected ${(draws * expected).toFixed(1)} ± ${(4 * sd).toFixed(1)}`,
          );
          assert.ok(hits >= previous, 'frequency grows as expiry nears');
          previous = hits;
        }
      }
    }
  });
});

describe('xfetch() options', () => {
  it('refuses a beta that is not a positive finite number', () => {
    for (const beta of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '1' as unknown as number]) {
      assert.throws(() => xfetch({ beta }), (err: unknown) => err instanceof errors.InvalidOptionError && err.option === 'xfetch.beta', `beta ${String(beta)}`);
    }
    assert.doesNotThrow(() => xfetch());
    assert.doesNotThrow(() => xfetch({ beta: 0.3 }));
  });
});

/** A cache whose first value took `delta` ms to compute (the clock moves inside the compute). */
async function warm(clock: ManualClock, random: () => number, delta: number, beta = 1): Promise<{ cache: Cache; spy: ReturnType<typeof spyPolicy>; storedAt: number }> {
  const spy = spyPolicy();
  const cache = createCache({ ttl: TTL, clock, random, lmdb: false, policies: [spy.policy, xfetch({ beta })] });
  await cache.compute('k', () => {
    clock.advance(delta);
    return 'v1';
  });
  return { cache, spy, storedAt: clock() };
}

describe('xfetch() policy', () => {
  it('a real miss computes synchronously', async () => {
    const clock = manualClock();
    const { cache, spy, storedAt } = await warm(clock, () => 0, 100);
    try {
      assert.equal(cache.stats().computes, 1);
      assert.equal(cache.stats().earlyRefreshes, 0);
      assert.equal(await cache.compute('k', () => 'unused'), 'v1');
      const entry = spy.calls.at(-1)?.entry;
      assert.equal(entry?.delta, 100, 'delta is the measured compute time');
      assert.equal(entry?.storedAt, storedAt);
      assert.equal(entry?.freshUntil, storedAt + TTL);
    } finally {
      await cache.close();
    }
  });

  it('r = 1 (random() = 0) never triggers while fresh, however close to expiry', async () => {
    const clock = manualClock();
    const { cache, storedAt } = await warm(clock, () => 0, 100);
    try {
      let runs = 0;
      for (const at of [0, 500, 900, 990, 999]) {
        clock.set(storedAt + at);
        assert.equal(await cache.compute('k', () => { runs++; return 'v2'; }), 'v1');
      }
      await turns();
      assert.equal(runs, 0);
      assert.equal(cache.stats().earlyRefreshes, 0);
    } finally {
      await cache.close();
    }
  });

  it('the smallest r triggers within its window and neither throws nor hangs; the caller does not wait for the recompute', async () => {
    const clock = manualClock();
    const { cache } = await warm(clock, () => ALMOST_ONE, 100);
    try {
      clock.advance(TTL - 500); // x = 500 ms before expiry, inside the 36.7 * delta window
      const refresh = deferred<string>();
      let runs = 0;
      const answer = cache.compute('k', () => { runs++; return refresh.promise; });
      assert.equal(await settledWithin(answer, 1_000), 'v1', 'the current value at once');
      await until(() => runs === 1, 'the background recompute started');
      assert.equal(cache.stats().earlyRefreshes, 1);
      refresh.resolve('v2');
      await until(() => cache.stats().computes === 2, 'the recompute stored');
    } finally {
      await cache.close();
    }
  });

  it('a tiny r triggers but not outside its window: random() = 1 - 1e-6 gives a window of 13.8 deltas', async () => {
    const clock = manualClock();
    const { cache, storedAt } = await warm(clock, () => 1 - 1e-6, 10);
    try {
      let runs = 0;
      clock.set(storedAt + TTL - 140); // x = 140 > 138.2
      await cache.compute('k', () => { runs++; return 'v2'; });
      await turns();
      assert.equal(runs, 0);
      clock.set(storedAt + TTL - 137); // x = 137 < 138.2
      await cache.compute('k', () => { runs++; return 'v2'; });
      await until(() => runs === 1, 'the early recompute');
    } finally {
      await cache.close();
    }
  });

  it('the background recompute measures delta and stores with expiry = store time + ttl (property 14)', async () => {
    const clock = manualClock();
    const { cache, spy, storedAt } = await warm(clock, scriptedRandom([ALMOST_ONE, 0]), 100);
    try {
      clock.set(storedAt + 800);
      const refreshed = new Promise<{ source: string }>((resolve) => cache.on('refresh', resolve));
      const value = await cache.compute('k', () => {
        clock.advance(250); // the recompute takes 250 ms
        return 'v2';
      });
      assert.equal(value, 'v1');
      assert.equal((await refreshed).source, 'xfetch');
      const refreshStoredAt = storedAt + 800 + 250;
      await cache.compute('k', () => 'unused');
      const entry = spy.calls.at(-1)?.entry;
      assert.equal(entry?.value, 'v2');
      assert.equal(entry?.delta, 250, 'delta is the measured compute time of the recompute');
      assert.equal(entry?.storedAt, refreshStoredAt);
      assert.equal(entry?.freshUntil, refreshStoredAt + TTL, 'new expiry = store time + ttl');
    } finally {
      await cache.close();
    }
  });

  it('at most one background recompute per key at a time', async () => {
    const clock = manualClock();
    const { cache } = await warm(clock, () => ALMOST_ONE, 100);
    try {
      clock.advance(TTL - 300);
      const refresh = deferred<string>();
      let runs = 0;
      const fn = (): Promise<string> => { runs++; return refresh.promise; };
      for (let i = 0; i < 5; i++) assert.equal(await cache.compute('k', fn), 'v1');
      await until(() => runs === 1, 'one recompute');
      for (let i = 0; i < 5; i++) assert.equal(await cache.compute('k', fn), 'v1');
      await turns(10);
      assert.equal(runs, 1, 'every trigger during the recompute joined it');
      assert.equal(cache.stats().earlyRefreshes, 1);
      refresh.resolve('v2');
      await until(() => cache.stats().computes === 2, 'stored');
      assert.equal(await cache.compute('k', fn), 'v2');
    } finally {
      await cache.close();
    }
  });

  it('a failed background recompute is counted and emitted, never unhandled, and keeps the value', async () => {
    const clock = manualClock();
    const { cache } = await warm(clock, () => ALMOST_ONE, 100);
    try {
      clock.advance(TTL - 300);
      const reported = new Promise<{ key: string; source: string; error: unknown }>((resolve) => cache.on('background-error', resolve));
      const boom = new Error('boom');
      assert.equal(await cache.compute('k', () => { throw boom; }), 'v1');
      const event = await reported;
      assert.deepEqual([event.key, event.source, event.error], ['k', 'xfetch', boom]);
      assert.equal(cache.stats().backgroundErrors, 1);
      assert.equal(await cache.get('k'), 'v1');
    } finally {
      await cache.close();
    }
  });

  it('through the policy, the early-trigger frequency matches exp(-x / (delta * beta)) (seeded random)', async () => {
    for (const { delta, beta, x } of [
      { delta: 100, beta: 1, x: 100 },
      { delta: 50, beta: 2, x: 30 },
      { delta: 200, beta: 0.5, x: 250 },
    ]) {
      const clock = manualClock();
      const { cache, storedAt } = await warm(clock, seededRandom(delta + x), delta, beta);
      try {
        const draws = 1_500;
        clock.set(storedAt + TTL - x);
        // The recompute fails on purpose: the entry stays as it is, draw after draw.
        const fail = (): never => { throw new Error('keep the entry'); };
        for (let i = 0; i < draws; i++) {
          await cache.compute('k', fail);
          await turns(1);
        }
        await until(() => cache.stats().backgroundErrors === cache.stats().earlyRefreshes, 'every recompute settled');
        const hits = cache.stats().earlyRefreshes;
        const expected = Math.exp(-x / (delta * beta));
        const sd = Math.sqrt(draws * expected * (1 - expected));
        assert.ok(Math.abs(hits - draws * expected) <= 4 * sd + 1, `delta ${delta}, beta ${beta}, x ${x}: ${hits} of ${draws}, expected ${(draws * expected).toFixed(1)}`);
      } finally {
        await cache.close();
      }
    }
  });
});
