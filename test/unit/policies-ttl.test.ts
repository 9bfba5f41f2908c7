// ttl() and the empty pipeline: serve while fresh, compute on a miss, concurrent misses each
// compute, never serve at or after the freshness timeout (properties 5 and 6).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { createCache, ttl, type Cache, type Policy } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';
import { propertyParams } from '../helpers/fc.js';
import { tempDir } from '../helpers/tmp.js';
import { deferred } from '../fixtures/policy-support.js';

const dirs: Array<{ cleanup: () => void }> = [];
after(() => dirs.forEach((d) => d.cleanup()));

type Variant = { name: string; policies: readonly Policy[]; lmdb: boolean };
const variants: Variant[] = [
  { name: '[ttl()], memory only', policies: [ttl()], lmdb: false },
  { name: '[] (empty pipeline), memory only', policies: [], lmdb: false },
  { name: '[ttl()], memory + LMDB', policies: [ttl()], lmdb: true },
  { name: '[] (empty pipeline), memory + LMDB', policies: [], lmdb: true },
];

function build(variant: Variant, clock: () => number, extra: { ttl?: number; maxAge?: number } = {}): Cache {
  const lmdb = variant.lmdb ? (() => { const d = tempDir('policies-ttl'); dirs.push(d); return { path: d.path }; })() : false;
  return createCache({ ttl: extra.ttl ?? 1_000, ...(extra.maxAge === undefined ? {} : { maxAge: extra.maxAge }), clock, lmdb, policies: variant.policies });
}

for (const variant of variants) {
  describe(`traditional TTL: ${variant.name}`, () => {
    it('computes on a miss, serves while fresh without computing, recomputes at exactly t0 + ttl', async () => {
      const clock = manualClock();
      const cache = build(variant, clock);
      try {
        let runs = 0;
        const fn = (): string => `v${++runs}`;
        assert.equal(await cache.compute('k', fn), 'v1');
        assert.equal(runs, 1);
        clock.advance(999);
        assert.equal(await cache.compute('k', fn), 'v1', 'fresh at t0 + ttl - 1');
        assert.equal(runs, 1);
        clock.advance(1);
        assert.equal(await cache.get('k'), undefined, 'never returned at t0 + ttl');
        assert.equal(await cache.compute('k', fn), 'v2', 'recomputed at t0 + ttl');
        assert.equal(runs, 2);
      } finally {
        await cache.close();
      }
    });

    it('concurrent misses each compute (N computes for N callers)', async () => {
      const clock = manualClock();
      const cache = build(variant, clock);
      try {
        const gate = deferred();
        let runs = 0;
        const callers = Array.from({ length: 6 }, () =>
          cache.compute('k', async () => {
            const mine = ++runs;
            await gate.promise;
            return mine;
          }),
        );
        // Every caller missed: all six computes start before any of them finishes.
        while (runs < 6) await new Promise((resolve) => setImmediate(resolve));
        gate.resolve();
        const values = await Promise.all(callers);
        assert.equal(runs, 6);
        assert.deepEqual([...values].sort(), [1, 2, 3, 4, 5, 6]);
        assert.equal(cache.stats().computes, 6);
      } finally {
        await cache.close();
      }
    });

    it('a compute that throws stores nothing and leaves the older value untouched (property 6)', async () => {
      const clock = manualClock();
      const cache = build(variant, clock, { ttl: 1_000, maxAge: 10_000 });
      try {
        await cache.compute('k', () => 'old');
        clock.advance(1_500);
        const boom = new Error('boom');
        await assert.rejects(cache.compute('k', () => { throw boom; }), (err) => err === boom);
        assert.equal(cache.stats().computeErrors, 1);
        assert.equal(await cache.get('k'), undefined, 'nothing fresh was stored');
        let seen: unknown;
        assert.equal(await cache.compute('k', ({ stale }) => { seen = stale; return 'new'; }), 'new');
        assert.equal(seen, 'old', 'the older value was still kept');
      } finally {
        await cache.close();
      }
    });
  });
}

describe('traditional TTL: property 5', () => {
  it('a value stored at t0 with ttl T is served without computing iff t < t0 + T', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 10_000 }),
        fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        async (T, offsets, emptyPipeline) => {
          const clock = manualClock(5_000_000);
          const cache = createCache({ ttl: T, clock, lmdb: false, policies: emptyPipeline ? [] : [ttl()] });
          try {
            const t0 = clock();
            let runs = 0;
            await cache.compute('k', () => ++runs);
            let storedAt = t0;
            let current = 1;
            for (const offset of [...offsets].sort((a, b) => a - b)) {
              clock.set(t0 + offset);
              const fresh = clock() < storedAt + T;
              const before = runs;
              const value = await cache.compute('k', () => ++runs);
              if (fresh) {
                assert.equal(runs, before, `computed at ${clock() - storedAt} ms with ttl ${T}`);
                assert.equal(value, current);
              } else {
                assert.equal(runs, before + 1, `served at ${clock() - storedAt} ms with ttl ${T}`);
                assert.equal(value, runs);
                current = runs;
                storedAt = clock();
              }
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
