// Property 10 on real OS processes sharing one LMDB file: keys are independent. While a compute
// of key A is held open in one process (its lease taken in the file), with callers of A waiting for
// it in other processes, every caller of key B, in any process, including the one computing A and
// the ones waiting for A, gets B's value, and A is still being computed when they all have it.
// The pool and its clock are test/fixtures/process-pool.ts; see p8-p17-processes.test.ts.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { ProcRequest } from '../fixtures/proc-worker.js';
import { until } from '../fixtures/policy-support.js';
import { arrivals, arrive, BOUND_MS, callersOf, COMBOS, MINUTE, pipeline, Pool, settle, statsOf } from '../fixtures/process-pool.js';
import { coverage, propertyParams, runsFor } from '../helpers/fc.js';

describe('P10 on real processes: keys are independent', () => {
  const pool = new Pool();
  before(() => pool.start());
  after(() => pool.close());

  it('P10: while a compute of A is held in one process and other processes wait for it, every caller of B in any process gets B\'s value, before A ends', async (t) => {
    const seen = coverage('P10 processes');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          holder: fc.integer({ min: 0, max: 2 }),
          /** Processes (by offset from the holder) with a caller of A waiting for its lease. */
          waitingOnA: fc.subarray([1, 2]),
          procs: fc.integer({ min: 1, max: 3 }),
          arrivals,
          comboA: fc.constantFrom(...COMBOS),
          comboB: fc.constantFrom(...COMBOS),
          ms: fc.constantFrom(0, 5),
        }),
        async ({ holder, waitingOnA, procs, arrivals: perProcess, comboA, comboB, ms }) => {
          run++;
          const a = `p10a-${run}`;
          const b = `p10b-${run}`;
          const computeA: ProcRequest = { op: 'compute', key: a, tag: a, value: `va-${run}`, gate: a, ttl: MINUTE, policies: pipeline(comboA, MINUTE) };
          const held = settle(pool.worker(holder).call(computeA, BOUND_MS));
          await until(() => pool.lines(a).length === 1, `${a}: the holder computes`, BOUND_MS);
          const waiters = waitingOnA.map((offset) => pool.worker((holder + offset) % 3));
          const waitsBefore = await Promise.all(waiters.map(async (w) => (await statsOf(w)).leaseWaits));
          const waitingA = waiters.map((w) => settle(w.call(computeA, BOUND_MS)));
          const deadline = Date.now() + BOUND_MS;
          while (!(await Promise.all(waiters.map(async (w, i) => (await statsOf(w)).leaseWaits > waitsBefore[i]!))).every(Boolean)) {
            assert.ok(Date.now() < deadline, `${a}: the other processes never waited for its lease`);
            await delay(5);
          }

          const workers = pool.workers.slice(0, procs);
          const callers = callersOf(perProcess, procs);
          const computeB: ProcRequest = { op: 'compute', key: b, tag: b, value: `vb-${run}`, ms, ttl: MINUTE, policies: pipeline(comboB, MINUTE) };
          const results = await Promise.all(callers.map(({ proc, ms: at }) => arrive(workers[proc]!, at, computeB, () => undefined)));
          results.forEach((r, i) => {
            assert.ok(r.ok, `P10: caller ${i} of ${b} failed: ${r.ok ? '' : r.error.message}`);
            assert.equal(r.reply.value, `vb-${run}`, `P10: caller ${i} of ${b} got its value`);
          });
          assert.deepEqual(pool.lines(a).map((line) => line.split(' ')[0]), ['start'], `P10: every caller of ${b} had its value while ${a} was still computed`);

          await Promise.all(pool.workers.map((w) => w.call({ op: 'open', gate: a })));
          for (const outcome of [await held, ...(await Promise.all(waitingA))]) {
            assert.ok(outcome.ok && outcome.reply.value === `va-${run}`, `${a}: its callers get its value once it ends`);
          }
          await pool.released(a);
          const bProcs = new Set(callers.map(({ proc }) => workers[proc]!.pid));
          seen.run({
            'B was called in the process computing A': bProcs.has(pool.worker(holder).pid),
            'B was called in a process waiting for A': waiters.some((w) => bProcs.has(w.pid)),
            'B was called in two processes or more': bProcs.size >= 2,
          });
        },
      ),
      { ...propertyParams({ endOnFailure: true, includeErrorInReport: true }), numRuns: runsFor(10, 120) },
    );
    seen.check(t, {
      'B was called in the process computing A': 0.2,
      'B was called in a process waiting for A': 0.2,
      'B was called in two processes or more': 0.2,
    });
  });
});
