// Properties 12 and 13, xfetch, driven through a real cache (memory tier, xfetch policy) on an
// injected clock and an injected random source. The policy recomputes early when
// now - delta * beta * ln(r) >= freshUntil with r = 1 - random(), so at x ms before expiry it
// triggers with probability exp(-x / (delta * beta)).
//
// P12: the trigger frequency at x ms before expiry matches exp(-x / (delta * beta)) (an exact
// binomial test); for every r, a trigger at x implies a trigger closer to expiry and with a larger
// beta or delta (so the frequency never decreases as x shrinks or beta or delta grow).
// P13: r = 1 never triggers while x > 0; r at its smallest (2^-53 through the policy, the smallest
// double through shouldRecomputeEarly) neither throws nor hangs and means "recompute".
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createCache, shouldRecomputeEarly, xfetch, type Cache } from '../../src/index.js';
import { manualClock, type ManualClock } from '../helpers/clock.js';
import { coverage, propertyParams } from '../helpers/fc.js';
import { PENDING, seededRandom, settledWithin, turns, until } from '../fixtures/policy-support.js';

/** Long enough that every window generated here ends before the entry was stored. */
const TTL = 1_000_000;
/** Real-time bound on any answer: generous, a correct one takes microseconds. */
const BOUND_MS = 5_000;
/** The largest double below 1: the policy's r = 1 - random() is then 2^-53, the smallest it can draw. */
const ALMOST_ONE = 1 - Number.EPSILON / 2;
/** Chance that a correct policy fails the frequency property anywhere in one run of this file. */
const FALSE_FAILURE = 1e-6;

/** A cache whose entry 'k' took `delta` ms to compute (the clock moves inside the compute). */
class Warmed {
  readonly clock: ManualClock;
  readonly cache: Cache;
  readonly freshUntil: number;
  /** Runs of the recompute function: every one is a background recompute the policy started. */
  recomputes = 0;

  private constructor(cache: Cache, clock: ManualClock) {
    this.cache = cache;
    this.clock = clock;
    this.freshUntil = clock() + TTL;
  }

  static async start(delta: number, beta: number, random: () => number): Promise<Warmed> {
    const clock = manualClock();
    const cache = createCache({ ttl: TTL, clock, random, lmdb: false, policies: [xfetch({ beta })] });
    await cache.compute('k', () => {
      clock.advance(delta);
      return 'v1';
    });
    return new Warmed(cache, clock);
  }

  /**
   * Reads 'k' at x ms before expiry: the caller must get the current value at once (no throw,
   * no hang); returns whether the policy started a background recompute. The recompute fails
   * on purpose, so the entry stays as it was for the next read.
   */
  async readAt(x: number): Promise<boolean> {
    this.clock.set(this.freshUntil - x);
    const before = this.recomputes;
    const answer = await settledWithin(this.cache.compute('k', () => {
      this.recomputes++;
      throw new Error('keep the entry');
    }), BOUND_MS);
    assert.notEqual(answer, PENDING, `a read at x = ${x} did not answer within ${BOUND_MS} ms`);
    assert.equal(answer, 'v1', `a read at x = ${x} did not get the current value`);
    // With only a memory tier the background work is microtasks: one event-loop turn settles it.
    await turns(1);
    await until(() => this.cache.stats().backgroundErrors === this.cache.stats().earlyRefreshes, 'the background recompute settled', BOUND_MS);
    assert.equal(this.cache.stats().earlyRefreshes, this.recomputes, 'every early refresh counted ran the function once');
    return this.recomputes > before;
  }

  close(): Promise<void> {
    return this.cache.close();
  }
}

/**
 * Two-sided exact binomial test: the chance, under Binomial(n, p), of an outcome at least as
 * far in the tail as k (twice the smaller tail, at most 1).
 */
function binomialPValue(n: number, k: number, p: number): number {
  const logFactorial = [0];
  for (let i = 1; i <= n; i++) logFactorial.push(logFactorial[i - 1]! + Math.log(i));
  const pmf = (i: number): number => Math.exp(logFactorial[n]! - logFactorial[i]! - logFactorial[n - i]! + i * Math.log(p) + (n - i) * Math.log1p(-p));
  let lower = 0;
  let upper = 0;
  for (let i = 0; i <= n; i++) {
    if (i <= k) lower += pmf(i);
    if (i >= k) upper += pmf(i);
  }
  return Math.min(1, 2 * Math.min(lower, upper));
}

const delta = fc.integer({ min: 1, max: 1_000 });
/** A share in [min, max], uniform on a grid of 1e-6 (fc.double favours values near 0). */
const share = (min: number, max: number): fc.Arbitrary<number> => fc.integer({ min: Math.round(min * 1e6), max: Math.round(max * 1e6) }).map((n) => n / 1e6);
const beta = fc.double({ min: 0.05, max: 10, noNaN: true });

describe('P12 xfetch trigger frequency and monotonicity', () => {
  it('P12 xfetch: through the policy, the early-trigger frequency at x ms before expiry matches exp(-x / (delta * beta)) (exact binomial test)', async (t) => {
    const DRAWS = 1_000;
    const params = propertyParams<[number, number, number, number]>({ numRuns: 30, includeErrorInReport: true });
    const runs = params.numRuns ?? 30;
    // A union bound over the runs: each run may fail a correct policy with at most this chance.
    const alpha = FALSE_FAILURE / runs;
    t.diagnostic(`P12 frequency: ${runs} runs of ${DRAWS} draws, two-sided exact binomial test at ${alpha.toExponential(2)} per run (false-failure chance <= ${FALSE_FAILURE} for the file)`);
    let worst = 1;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 500 }),
        fc.double({ min: 0.1, max: 5, noNaN: true }),
        // x in units of delta * beta: expected frequencies from exp(-4) = 0.018 to exp(-0.05) = 0.95.
        share(0.05, 4),
        fc.integer(),
        async (d, b, units, seed) => {
          const x = units * d * b;
          const draw = seededRandom(seed);
          let draws = 0;
          const warmed = await Warmed.start(d, b, () => {
            draws++;
            return draw();
          });
          try {
            let hits = 0;
            for (let i = 0; i < DRAWS; i++) if (await warmed.readAt(x)) hits++;
            assert.equal(draws, DRAWS, 'the policy drew once per read of a fresh entry');
            const expected = Math.exp(-x / (d * b));
            const pValue = binomialPValue(DRAWS, hits, expected);
            worst = Math.min(worst, pValue);
            assert.ok(pValue >= alpha, `delta ${d}, beta ${b}, x ${x}: ${hits} triggers in ${DRAWS} draws, expected ${(DRAWS * expected).toFixed(1)} (p-value ${pValue.toExponential(2)} < ${alpha.toExponential(2)})`);
          } finally {
            await warmed.close();
          }
        },
      ),
      params,
    );
    t.diagnostic(`P12 frequency: smallest p-value seen ${worst.toExponential(2)}`);
  });

  /**
   * For one r: a delta, a beta and a window w = -delta * beta * ln(r); x strictly inside it, a
   * point closer to expiry by a strictly positive share of x, and a point beyond the window.
   * Every run has a trigger at x, so every run checks each implication.
   */
  const insideWindow = fc
    .record({
      delta,
      beta,
      // The window in units of delta * beta (0.5 ms at least), as a share of [lo, 36]: r from e^-36 to near 1.
      windowShare: share(0, 1),
      xShare: share(0.01, 0.99),
      shrinkShare: share(0.001, 0.999),
      beyondShare: share(0.01, 1),
      betaGrowth: fc.double({ min: 0.01, max: 10, noNaN: true }),
      deltaGrowth: fc.integer({ min: 1, max: 1_000 }),
    })
    .map((g) => {
      const lo = Math.max(0.01, 0.5 / (g.delta * g.beta));
      const random = 1 - Math.exp(-(lo + g.windowShare * (36 - lo)));
      // The r the policy computes from that draw, and the window it opens.
      const r = 1 - random;
      const window = -g.delta * g.beta * Math.log(r);
      const x = g.xShare * window;
      return { ...g, random, r, window, x, closer: x * (1 - g.shrinkShare), beyond: window * (1 + g.beyondShare) };
    });

  it('P12 xfetch: for every r, a trigger at x ms before expiry implies a trigger closer to expiry, with a larger beta and with a larger delta; beyond the window nothing triggers (through the policy)', async () => {
    await fc.assert(
      fc.asyncProperty(insideWindow, async (g) => {
        const what = `r ${g.r}, delta ${g.delta}, beta ${g.beta}, window ${g.window} ms`;
        const base = await Warmed.start(g.delta, g.beta, () => g.random);
        const largerBeta = await Warmed.start(g.delta, g.beta + g.betaGrowth, () => g.random);
        const largerDelta = await Warmed.start(g.delta + g.deltaGrowth, g.beta, () => g.random);
        try {
          assert.ok(await base.readAt(g.x), `${what}: no trigger at x = ${g.x}, inside the window`);
          assert.ok(await base.readAt(g.closer), `${what}: a trigger at x = ${g.x} but none closer to expiry, at ${g.closer}`);
          assert.ok(await largerBeta.readAt(g.x), `${what}: a trigger at x = ${g.x} but none with beta ${g.beta + g.betaGrowth}`);
          assert.ok(await largerDelta.readAt(g.x), `${what}: a trigger at x = ${g.x} but none with delta ${g.delta + g.deltaGrowth}`);
          assert.ok(!(await base.readAt(g.beyond)), `${what}: a trigger at x = ${g.beyond}, beyond the window`);
        } finally {
          await Promise.all([base.close(), largerBeta.close(), largerDelta.close()]);
        }
      }),
      propertyParams({ numRuns: 200, includeErrorInReport: true }),
    );
  });

  it('P12 shouldRecomputeEarly: for every r, a trigger at x implies a trigger closer to expiry and with a larger beta or delta', () => {
    fc.assert(
      fc.property(insideWindow, (g) => {
        const freshUntil = 1_000_000;
        const at = (x: number, d = g.delta, b = g.beta): boolean => shouldRecomputeEarly(freshUntil - x, freshUntil, d, b, g.r);
        assert.ok(at(g.x), 'inside the window');
        assert.ok(at(g.closer), 'closer to expiry');
        assert.ok(at(g.x, g.delta, g.beta + g.betaGrowth), 'larger beta');
        assert.ok(at(g.x, g.delta + g.deltaGrowth), 'larger delta');
        assert.ok(!at(g.beyond), 'beyond the window');
      }),
      propertyParams({ numRuns: 1_000, includeErrorInReport: true }),
    );
  });
});

describe('P13 xfetch at the extremes of r', () => {
  it('P13 xfetch: r = 1 (random() = 0) never triggers while x > 0, for any delta, beta and x (through the policy)', async () => {
    await fc.assert(
      fc.asyncProperty(
        delta,
        beta,
        // Several reads, anywhere from the store time to a hair before expiry.
        fc.array(fc.oneof(fc.integer({ min: 1, max: TTL }), fc.double({ min: 1e-3, max: TTL, noNaN: true })), { minLength: 1, maxLength: 5 }),
        async (d, b, xs) => {
          const warmed = await Warmed.start(d, b, () => 0);
          try {
            for (const x of xs) assert.ok(!(await warmed.readAt(x)), `delta ${d}, beta ${b}: r = 1 triggered at x = ${x}`);
          } finally {
            await warmed.close();
          }
        },
      ),
      propertyParams({ numRuns: 200, includeErrorInReport: true }),
    );
  });

  it('P13 xfetch: the smallest r the policy can draw (2^-53) neither throws nor hangs and recomputes anywhere in its window of 36.7 * delta * beta (through the policy)', async (t) => {
    const seen = coverage('P13 smallest r');
    await fc.assert(
      fc.asyncProperty(delta, beta, share(0, 0.99), async (d, b, fraction) => {
        const r = 1 - ALMOST_ONE;
        assert.equal(r, 2 ** -53);
        const window = -d * b * Math.log(r);
        // x > 0: at least a millisecond, or a share of the window.
        const x = Math.max(Math.min(1, window / 2), fraction * window);
        const warmed = await Warmed.start(d, b, () => ALMOST_ONE);
        try {
          assert.ok(await warmed.readAt(x), `delta ${d}, beta ${b}: r = 2^-53 did not trigger at x = ${x}, inside its window of ${window} ms`);
          seen.run({ 'read more than 20 * delta * beta before expiry (where a uniform r triggers with chance e^-20)': x > 20 * d * b });
        } finally {
          await warmed.close();
        }
      }),
      propertyParams({ numRuns: 200, includeErrorInReport: true }),
    );
    seen.check(t, { 'read more than 20 * delta * beta before expiry (where a uniform r triggers with chance e^-20)': 0.2 });
  });

  it('P13 shouldRecomputeEarly: r = 1 never triggers while x > 0; the smallest double neither throws nor loops and triggers within 744 * delta * beta', () => {
    fc.assert(
      fc.property(delta, beta, fc.double({ min: 1e-3, max: 1e7, noNaN: true }), share(0, 0.99), (d, b, x, fraction) => {
        const freshUntil = 1e9;
        assert.equal(shouldRecomputeEarly(freshUntil - x, freshUntil, d, b, 1), false, `r = 1 triggered at x = ${x}`);
        const window = -d * b * Math.log(Number.MIN_VALUE);
        assert.ok(window > 744 * d * b && Number.isFinite(window));
        assert.equal(shouldRecomputeEarly(freshUntil - fraction * window, freshUntil, d, b, Number.MIN_VALUE), true, `the smallest r did not trigger at x = ${fraction * window}`);
      }),
      propertyParams({ numRuns: 1_000, includeErrorInReport: true }),
    );
  });
});
