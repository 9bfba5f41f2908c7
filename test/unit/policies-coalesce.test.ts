// coalesce(): in-process singleflight (property 7), including interleavings explored by
// fast-check's scheduler.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { coalesce, createCache } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';
import { propertyParams } from '../helpers/fc.js';
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

  it('property 7 under every interleaving: one run in flight per key, each caller gets exactly its run\'s value or error', async () => {
    const call = fc.record({ key: fc.constantFrom('a', 'b', 'c'), fail: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(call, { minLength: 1, maxLength: 10 }), async (s, calls) => {
        const clock = manualClock();
        const cache = build(clock);
        try {
          const inFlight = new Map<string, number>();
          const outcomes = new Map<number, { key: string; outcome: { ok: boolean; value: unknown } }>();
          let runId = 0;
          const received: Array<Promise<{ key: string; ok: boolean; value: unknown; joined: number | undefined }>> = [];
          for (const [index, { key, fail }] of calls.entries()) {
            // Each caller starts at a moment the scheduler picks, interleaved with the computes.
            received.push(
              s.schedule(Promise.resolve(), `call ${index} ${key}`).then(async () => {
                // Entries are always expired: only coalesce can spare a run.
                clock.advance(1_000);
                const joined = inFlight.get(key);
                try {
                  const value = await cache.compute(key, async () => {
                    const id = ++runId;
                    assert.equal(inFlight.get(key), undefined, `two runs of ${key} in flight at once`);
                    inFlight.set(key, id);
                    const outcome = fail ? { ok: false, value: new Error(`run ${id}`) } : { ok: true, value: { run: id } };
                    outcomes.set(id, { key, outcome });
                    try {
                      await s.schedule(Promise.resolve(), `run ${id} of ${key} settles`);
                      if (!outcome.ok) throw outcome.value;
                      return outcome.value;
                    } finally {
                      inFlight.delete(key);
                    }
                  });
                  return { key, ok: true, value, joined };
                } catch (error) {
                  return { key, ok: false, value: error, joined };
                }
              }),
            );
          }
          // Releases scheduled steps (including those scheduled later by the computes) until all answered.
          const results = await s.waitFor(Promise.all(received));
          for (const result of results) {
            const produced = [...outcomes.values()].find((o) => o.outcome.value === result.value);
            assert.ok(produced !== undefined, 'every caller got the very value or error one run produced');
            assert.equal(produced.key, result.key, 'never the value of another key');
            assert.equal(produced.outcome.ok, result.ok);
            if (result.joined !== undefined) {
              // A run was in flight when this caller arrived: it must have joined that run.
              assert.equal(outcomes.get(result.joined)?.outcome.value, result.value, 'a caller arriving during a run shares it');
            }
          }
          const perKey = new Map<string, number>();
          for (const { key } of calls) perKey.set(key, (perKey.get(key) ?? 0) + 1);
          for (const [key, count] of perKey) {
            const runs = [...outcomes.values()].filter((o) => o.key === key).length;
            assert.ok(runs >= 1 && runs <= count, `${runs} runs for ${count} callers of ${key}`);
          }
        } finally {
          await cache.close();
        }
      }),
      propertyParams({ numRuns: 150 }),
    );
  });

  it('all callers arriving before the first run settles share it (scheduled settle order)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(fc.constantFrom('a', 'b'), { minLength: 1, maxLength: 12 }), async (s, keys) => {
        const cache = build();
        try {
          const runs = new Map<string, number>();
          const callers = keys.map((key) =>
            cache.compute(key, () => {
              runs.set(key, (runs.get(key) ?? 0) + 1);
              return s.schedule(Promise.resolve({ key }), `settle ${key}`);
            }),
          );
          const values = await s.waitFor(Promise.all(callers));
          for (const key of new Set(keys)) assert.equal(runs.get(key), 1, `key ${key} ran once`);
          const firstOf = new Map<string, unknown>();
          values.forEach((value, i) => {
            const key = keys[i]!;
            if (!firstOf.has(key)) firstOf.set(key, value);
            assert.equal(value, firstOf.get(key));
            assert.deepEqual(value, { key });
          });
        } finally {
          await cache.close();
        }
      }),
      propertyParams({ numRuns: 100 }),
    );
  });
});
