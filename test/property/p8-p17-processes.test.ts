// Properties 8, 9, 11, 14, 16 and 17 on real OS processes sharing one LMDB file: the same
// properties as p8-p17-interleavings.test.ts, where one process stands in for several, here with
// the leases, the change log and the values going through the file between processes.
//
// Each describe starts a pool of three worker processes (test/fixtures/proc-worker.ts) once and
// reuses it across the runs of its property; every run uses keys of its own (prefixed with the run
// number), so runs are independent. fast-check draws how many processes take part, how many
// callers each has and when they arrive, the pipeline (each call brings its own), whether the
// compute throws and, for P11, whether the holder is killed with SIGKILL (a new process then takes
// its place in the pool). Computes are held on gates that the test opens, and the workers' clocks
// (Date.now plus an offset that the test moves in every process of the pool at once) stand in for
// waiting: every assertion is about order and outcome, read from the replies and from the shared
// counter file, where each compute appends `<tag> start <pid>` and `<tag> end <pid>` as it begins
// and ends (appends to one file are totally ordered). The only real-time waits are the bounded
// "until" of a condition, and, in P11, a lease of a few hundred milliseconds running out.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { ProcRequest } from '../fixtures/proc-worker.js';
import { until } from '../fixtures/policy-support.js';
import {
  arrivals, arrive, assertSerial, BOUND_MS, callersOf, COMBOS, eventsOf, eventuallyReads, MINUTE, pidOf, pipeline, Pool, settle, statsOf, type Combo, type Outcome,
} from '../fixtures/process-pool.js';
import { coverage, propertyParams, runsFor } from '../helpers/fc.js';


describe('P8 P9 on real processes: cold callers over several processes', () => {
  const pool = new Pool();
  before(() => pool.start());
  after(() => pool.close());

  it('P8 P9: N cold callers spread over P processes: never two computes of the key at once; one compute and its value for everyone, or, for a compute that throws, its error for everyone and nothing cached', async (t) => {
    const seen = coverage('P8 P9 processes');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          procs: fc.integer({ min: 2, max: 3 }),
          arrivals,
          /** The gate opens once the compute started and this many callers were sent (at most all). */
          openAfter: fc.integer({ min: 1, max: 9 }),
          ms: fc.constantFrom(0, 5),
          throws: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
          combo: fc.constantFrom(...COMBOS),
        }),
        async ({ procs, arrivals: perProcess, openAfter, ms, throws, combo }) => {
          const key = `p9-${++run}`;
          const workers = pool.workers.slice(0, procs);
          const callers = callersOf(perProcess, procs);
          const waitsBefore = await Promise.all(workers.map(async (w) => (await statsOf(w)).leaseWaits));
          const request: ProcRequest = {
            op: 'compute', key, tag: key, value: `v-${run}`, gate: key, ms, ttl: MINUTE, policies: pipeline(combo, MINUTE),
            ...(throws ? { throws: `boom-${run}` } : {}),
          };
          let sent = 0;
          const outcomes = callers.map(({ proc, ms: at }) => arrive(workers[proc]!, at, request, () => sent++));
          const threshold = Math.min(openAfter, callers.length);
          await until(() => pool.lines(key).length > 0 && sent >= threshold, `${key}: a compute started and ${threshold} callers were sent`, BOUND_MS);
          await Promise.all(workers.map((w) => w.call({ op: 'open', gate: key })));
          const results = await Promise.all(outcomes);

          const lines = pool.lines(key);
          assertSerial(lines, key);
          const holderPid = pidOf(lines[0]!);
          if (!throws) {
            assert.deepEqual(lines, [`start ${holderPid}`, `end ${holderPid}`], `P9: one compute of ${key} across the processes`);
            results.forEach((r, i) => {
              assert.ok(r.ok, `P9: caller ${i} failed: ${r.ok ? '' : r.error.message}`);
              assert.equal(r.reply.value, `v-${run}`, `P9: caller ${i} got the compute's value`);
            });
            const ran = results.flatMap((r, i) => (r.ok && r.reply.ran ? [workers[callers[i]!.proc]!.pid] : []));
            assert.deepEqual(ran, [holderPid], 'P9: the only caller whose function ran is in the process that computed');
          } else {
            assert.ok(lines.length / 2 <= callers.length, `at most one compute per caller: ${lines.join(', ')}`);
            results.forEach((r, i) => {
              assert.ok(!r.ok, `P9: caller ${i} of a throwing compute got ${r.ok ? String(r.reply.value) : ''}`);
              assert.match(r.error.message, new RegExp(`boom-${run}\\b`), `P9: caller ${i} got the compute's own error, not ${r.error.message} (${String(r.error.code)})`);
            });
            // The error is not cached: nothing is stored and the next caller computes.
            assert.equal(await pool.stored('entries', key), undefined, 'P9: a compute that threw stored nothing');
            assert.deepEqual(await workers[0]!.call({ op: 'compute', key, tag: `${key}-again`, value: 'again', policies: pipeline(combo, MINUTE) }, BOUND_MS), { value: 'again', ran: true });
          }
          assert.equal(await pool.stored('leases', key), undefined, `no lease of ${key} is left behind`);
          const waitsAfter = await Promise.all(workers.map(async (w) => (await statsOf(w)).leaseWaits));
          const waitedElsewhere = workers.some((w, i) => w.pid !== holderPid && waitsAfter[i]! > waitsBefore[i]!);
          seen.run({
            'a caller in another process than the holder waited for its lease': waitedElsewhere,
            'three processes took part': procs === 3,
            'the compute threw': throws,
            'a throwing compute ran again after it failed, never alongside': throws && lines.length > 2,
            'serveStale composed (its cold path)': combo.startsWith('serveStale'),
          });
        },
      ),
      {
        ...propertyParams({ endOnFailure: true, includeErrorInReport: true }),
        numRuns: runsFor(12, 150),
        // Once a deadlock: under the flagship pipeline a caller holding the key's lease (taken
        // by serveStale) queued on the process's lock held by a caller waiting for that lease.
        examples: [[{ procs: 2, arrivals: [[12, 0, 12], [24, 28, 18], [21]], openAfter: 2, ms: 0, throws: true, combo: 'serveStale+xfetch+barrier' }]],
      },
    );
    seen.check(t, {
      'a caller in another process than the holder waited for its lease': 0.4,
      'three processes took part': 0.2,
      'the compute threw': 0.1,
      'serveStale composed (its cold path)': 0.2,
    });
  });
});

describe('P11 on real processes: a holder killed with SIGKILL, or overrunning its lease', () => {
  const pool = new Pool();
  before(() => pool.start());
  after(() => pool.close());

  it('P11: a killed holder is replaced once its lease expired, and every waiter gets the successor\'s value; a holder that overruns its lease is taken over and its late release never frees the successor\'s lease; nobody waits forever', async (t) => {
    const seen = coverage('P11 processes');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          mode: fc.constantFrom('killed' as const, 'overruns' as const),
          holder: fc.nat({ max: 2 }),
          lease: fc.constantFrom(200, 400),
          /** Waiters in the two other processes: which one (0 or 1) and when they arrive. */
          waiters: fc.array(fc.record({ proc: fc.nat({ max: 1 }), ms: fc.integer({ min: 0, max: 30 }) }), { minLength: 2, maxLength: 3 }),
          holderThrows: fc.boolean(),
          lateCaller: fc.boolean(),
          combo: fc.constantFrom<Combo>('barrier', 'serveStale+barrier', 'xfetch+barrier'),
        }),
        async ({ mode, holder, lease, waiters, holderThrows, lateCaller, combo }) => {
          const key = `p11-${++run}`;
          const holderWorker = pool.worker(holder);
          const others = pool.workers.filter((_w, i) => i !== holder);
          // The holder's lease is short; everyone else's lasts a minute, so only the holder's runs out.
          const held = settle(holderWorker.call({
            op: 'compute', key, tag: key, value: 'from holder', gate: `${key}-first`, policies: pipeline(combo, lease),
            ...(mode === 'overruns' && holderThrows ? { throws: `boom-${run}` } : {}),
          }, BOUND_MS));
          await until(() => pool.lines(key).length === 1, `${key}: the holder computes`, BOUND_MS);
          const first = (await pool.stored('leases', key)) as { token: string; expiresAt: number } | undefined;
          assert.ok(first !== undefined, 'the holder took the lease in the file');
          const request = { op: 'compute', key, tag: key, value: 'from successor', gate: `${key}-next`, policies: pipeline(combo, MINUTE) } satisfies ProcRequest;
          const outcomes = waiters.map(({ proc, ms }) => arrive(others[proc]!, ms, request, () => undefined));
          if (mode === 'killed') await holderWorker.kill('SIGKILL');
          await until(() => pool.lines(key).length >= 2, `${key}: a successor starts once the holder's lease expired`, lease + BOUND_MS);
          const successorPid = pidOf(pool.lines(key)[1]!);
          const successor = others.find((w) => w.pid === successorPid);
          assert.ok(successor !== undefined, `the second compute of ${key} is in a waiting process, not ${pool.lines(key).join(', ')}`);
          const second = (await pool.stored('leases', key)) as { token: string; expiresAt: number } | undefined;
          assert.ok(second !== undefined && second.token !== first.token, 'the successor holds a lease of its own');
          assert.ok(second.expiresAt - MINUTE >= first.expiresAt, `P11: the successor took the lease at ${second.expiresAt - MINUTE}, before the holder's expired at ${first.expiresAt}`);

          let lateWaited = false;
          let late: Promise<Outcome> | undefined;
          if (mode === 'overruns') {
            await holderWorker.call({ op: 'open', gate: `${key}-first` });
            const outcome = await held;
            if (holderThrows) assert.ok(!outcome.ok && /boom/.test(outcome.error.message), 'the holder got its own error');
            else assert.deepEqual(outcome.ok ? outcome.reply : outcome.error.message, { value: 'from holder', ran: true });
            // Only the owner releases: the holder's late release left the successor's lease in place.
            assert.deepEqual(await pool.stored('leases', key), second, "P11: the holder's late release never frees the successor's lease");
            if (lateCaller) {
              const waitsBefore = (await statsOf(holderWorker)).leaseWaits;
              late = settle(holderWorker.call({ ...request, value: 'late', gate: `${key}-late` }, BOUND_MS));
              if (holderThrows) {
                // Nothing was stored: the late caller waits for the successor rather than computing.
                const deadline = Date.now() + BOUND_MS;
                while ((await statsOf(holderWorker)).leaseWaits === waitsBefore) {
                  if (Date.now() > deadline) assert.fail('the late caller never waited for the successor');
                  await delay(2);
                }
                lateWaited = true;
              }
            }
          }
          await Promise.all(others.map((w) => w.call({ op: 'open', gate: `${key}-next` })));
          const results = await Promise.all(outcomes);
          const values = mode === 'overruns' && !holderThrows ? ['from holder', 'from successor'] : ['from successor'];
          results.forEach((r, i) => {
            assert.ok(r.ok, `P11: waiter ${i} failed: ${r.ok ? '' : r.error.message}`);
            assert.ok(values.includes(r.reply.value as string), `P11: waiter ${i} got ${String(r.reply.value)}`);
          });
          assert.equal(results.filter((r) => r.ok && r.reply.ran).length, 1, 'one waiter computed: the successor');
          if (late !== undefined) {
            const outcome = await late;
            assert.ok(outcome.ok, `the late caller failed: ${outcome.ok ? '' : outcome.error.message}`);
            // (Whether the holder's late store was kept or refused as superseded, the late caller computes nothing.)
            assert.equal(outcome.reply.ran, false, 'the late caller computed nothing');
            assert.ok(values.includes(outcome.reply.value as string), `the late caller got ${String(outcome.reply.value)}`);
          }
          const lines = pool.lines(key);
          const holderPid = holderWorker.pid;
          assert.deepEqual(
            lines,
            mode === 'killed'
              ? [`start ${holderPid}`, `start ${successorPid}`, `end ${successorPid}`]
              : [`start ${holderPid}`, `start ${successorPid}`, `end ${holderPid}`, `end ${successorPid}`],
            'P8: only the holder whose lease expired overlapped the successor; nobody else computed',
          );
          assert.ok((await eventsOf(successor, key)).includes('lease-takeover'), 'the successor reported the takeover');
          assert.equal(await pool.stored('leases', key), undefined, 'no lease is left behind');
          if (mode === 'killed') await pool.replace(holder);
          seen.run({
            'the holder was killed with SIGKILL': mode === 'killed',
            'the holder overran its lease and let go late': mode === 'overruns',
            'a late caller waited for the successor after the holder let go': lateWaited,
            'waiters in both other processes': new Set(waiters.map((w) => w.proc)).size === 2,
          });
        },
      ),
      {
        ...propertyParams({
          endOnFailure: true,
          includeErrorInReport: true,
          // Both modes on every run of the suite: a kill, and an overrun whose holder throws while a late caller waits.
          examples: [
            [{ mode: 'killed', holder: 0, lease: 200, waiters: [{ proc: 0, ms: 0 }, { proc: 1, ms: 5 }], holderThrows: false, lateCaller: false, combo: 'barrier' }],
            [{ mode: 'overruns', holder: 1, lease: 200, waiters: [{ proc: 0, ms: 0 }, { proc: 1, ms: 0 }], holderThrows: true, lateCaller: true, combo: 'serveStale+barrier' }],
          ],
        }),
        numRuns: runsFor(8, 40),
      },
    );
    seen.check(t, {
      'the holder was killed with SIGKILL': 0.2,
      'the holder overran its lease and let go late': 0.2,
      'a late caller waited for the successor after the holder let go': 0.01,
      'waiters in both other processes': 0.2,
    });
  });
});

describe('P14 on real processes: xfetch', () => {
  // Every fresh hit draws r = 2^-52 (ln r = -36): it triggers while 36 x delta x beta covers the
  // time left, which the deltas below make sure of.
  const pool = new Pool({ random: 'trigger' });
  before(() => pool.start());
  after(() => pool.close());

  it('P14: processes hammering a key whose every hit triggers: one background recompute per window across the processes, every caller answered with the current value while it runs; then delta is the measured compute time and the expiry store time + ttl', async (t) => {
    const seen = coverage('P14 processes');
    const ttl = 10_000;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          procs: fc.integer({ min: 2, max: 3 }),
          rounds: fc.integer({ min: 1, max: 2 }),
          beta: fc.constantFrom(0.5, 1, 2),
          /** How far the clocks move while the refresh is held, ms: its measured delta. */
          held: fc.array(fc.constantFrom(1_000, 2_000), { minLength: 2, maxLength: 2 }),
          hammers: fc.array(fc.record({ calls: fc.integer({ min: 1, max: 4 }), after: fc.integer({ min: 1, max: 5 }), pause: fc.integer({ min: 0, max: 5 }) }), { minLength: 3, maxLength: 3 }),
          combo: fc.constantFrom<Combo>('xfetch+barrier', 'serveStale+xfetch+barrier'),
        }),
        async ({ procs, rounds, beta, held, hammers, combo }) => {
          const key = `p14-${++run}`;
          const workers = pool.workers.slice(0, procs);
          const policies = pipeline(combo, MINUTE, beta);
          // The seed compute is held while the clocks move 2.5 s: delta 2.5 s, so each refresh
          // lease (4 x delta) outlasts anything the test does while a refresh is held.
          const seeded = workers[0]!.call({ op: 'compute', key, tag: `${key}-seed`, value: 'v0', gate: `${key}-seed`, ttl, policies }, BOUND_MS);
          await until(() => pool.lines(`${key}-seed`).length === 1, 'the seed compute started', BOUND_MS);
          await pool.advance(2_500);
          await workers[0]!.call({ op: 'open', gate: `${key}-seed` });
          assert.deepEqual(await seeded, { value: 'v0', ran: true });
          for (let round = 1; round <= rounds; round++) {
            const tag = `${key}-r${round}`;
            const current = `v${round - 1}`;
            // Each process calls until a refresh has started somewhere, then `after` calls more,
            // each one more trigger: a refresh that held no lease would start in every process.
            const replies = (await Promise.all(workers.map((w, i) => w.call({ op: 'hammer', key, tag, gate: tag, value: `v${round}`, ttl, policies, ...hammers[i]! }, BOUND_MS)))) as Array<{ values: unknown[]; ran: number }>;
            // Every call of every process was answered, and the refresh is still held on its
            // gate: they were answered before it finished, with the current value.
            for (const reply of replies) for (const value of reply.values) assert.equal(value, current, `P14: ${tag}: a caller got ${String(value)}, not the current ${current}`);
            const lines = pool.lines(tag);
            assert.equal(lines.length, 1, `P14: ${tag}: one background recompute across the processes, not ${lines.join(', ')}`);
            assert.equal(replies.reduce((sum, r) => sum + r.ran, 0), 1, 'one function ran, in the background');
            await pool.advance(held[round - 1]!);
            await Promise.all(workers.map((w) => w.call({ op: 'open', gate: tag })));
            await until(() => pool.lines(tag).length === 2, `${tag}: the refresh finished`, BOUND_MS);
            assertSerial(pool.lines(tag), tag);
            const deadline = Date.now() + BOUND_MS;
            let entry: { value?: unknown; storedAt: number; freshUntil: number; delta: number } | undefined;
            while ((entry = (await pool.stored('entries', key)) as typeof entry)?.value !== `v${round}`) {
              if (Date.now() > deadline) assert.fail(`${tag}: the refreshed value was never stored`);
              await delay(5);
            }
            assert.ok(entry !== undefined);
            assert.ok(entry.delta >= held[round - 1]!, `P14: delta ${entry.delta} is the measured compute time (at least the ${held[round - 1]} ms the clocks moved while it ran)`);
            assert.equal(entry.freshUntil, entry.storedAt + ttl, 'P14: the new expiry is store time + ttl');
            for (const w of workers) await eventuallyReads(w, key, `v${round}`);
          }
          seen.run({
            'three processes triggered while one refresh was held': procs === 3,
            'two windows in a row': rounds === 2,
            'serveStale composed': combo.startsWith('serveStale'),
          });
        },
      ),
      {
        ...propertyParams({
          endOnFailure: true,
          includeErrorInReport: true,
          examples: [[{ procs: 3, rounds: 2, beta: 0.5, held: [1_000, 2_000], hammers: [{ calls: 1, after: 3, pause: 0 }, { calls: 2, after: 2, pause: 1 }, { calls: 1, after: 1, pause: 5 }], combo: 'serveStale+xfetch+barrier' }]],
        }),
        numRuns: runsFor(5, 40),
      },
    );
    seen.check(t, { 'three processes triggered while one refresh was held': 0.2, 'two windows in a row': 0.2, 'serveStale composed': 0.2 });
  });
});

/** Waits until the counter lines of `tag` are even and stay the same for 150 ms, within the bound. */
async function restingLines(pool: Pool, tag: string): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  let last = -1;
  let sameSince = Date.now();
  for (;;) {
    const count = pool.lines(tag).length;
    if (count !== last) {
      last = count;
      sameSince = Date.now();
    } else if (count % 2 === 0 && Date.now() - sameSince >= 150) return;
    if (Date.now() > deadline) assert.fail(`${tag}: the refreshes never came to rest (${pool.lines(tag).join(', ')})`);
    await delay(10);
  }
}

describe('P16 P17 on real processes: serveStale', () => {
  const pool = new Pool();
  before(() => pool.start());
  after(() => pool.close());

  it('P16 P17: a stale value is returned without blocking while one process refreshes it; at most one refresher across the processes; a failed refresh keeps the stale value until maxAge, and not at or past it', async (t) => {
    const seen = coverage('P16 P17 processes');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          procs: fc.integer({ min: 2, max: 3 }),
          arrivals,
          again: fc.array(fc.record({ proc: fc.nat({ max: 2 }), ms: fc.integer({ min: 0, max: 20 }) }), { minLength: 1, maxLength: 3 }),
          fails: fc.boolean(),
          pastMaxAge: fc.boolean(),
          combo: fc.constantFrom<Combo>('serveStale+barrier', 'serveStale+xfetch+barrier'),
        }),
        async ({ procs, arrivals: perProcess, again, fails, pastMaxAge, combo }) => {
          const key = `p16-${++run}`;
          const workers = pool.workers.slice(0, procs);
          const policies = pipeline(combo, MINUTE);
          const durations = { ttl: MINUTE, maxAge: 2 * MINUTE };
          assert.deepEqual(await workers[0]!.call({ op: 'compute', key, tag: `${key}-fill`, value: 'old', policies, ...durations }, BOUND_MS), { value: 'old', ran: true });
          const { staleUntil } = (await pool.stored('entries', key)) as { staleUntil: number };
          await pool.advance(MINUTE); // every process: ttl <= age < maxAge
          const tag = `${key}-refresh`;
          const request: ProcRequest = { op: 'compute', key, tag, gate: tag, value: 'new', policies, ...durations, ...(fails ? { throws: `boom-${run}` } : {}) };
          const callers = callersOf(perProcess, procs);
          const results = await Promise.all(callers.map(({ proc, ms }) => arrive(workers[proc]!, ms, request, () => undefined)));
          // The refresh is held on its gate: every caller was answered without waiting for it.
          results.forEach((r, i) => {
            assert.ok(r.ok, `caller ${i} failed: ${r.ok ? '' : r.error.message}`);
            assert.equal(r.reply.value, 'old', `P16: caller ${i} got the stale value at once`);
          });
          await until(() => pool.lines(tag).length > 0, `${tag}: a refresh started`, BOUND_MS);
          const lines = pool.lines(tag);
          assert.equal(lines.length, 1, `P17: one refresher across the processes, not ${lines.join(', ')}`);
          const refresher = workers.find((w) => w.pid === pidOf(lines[0]!));
          assert.ok(refresher !== undefined);
          await Promise.all(workers.map((w) => w.call({ op: 'open', gate: tag })));
          await until(() => pool.lines(tag).length === 2, `${tag}: the refresh finished`, BOUND_MS);
          let checkedMaxAge = false;
          if (!fails) {
            for (const w of workers) await eventuallyReads(w, key, 'new');
            assert.deepEqual(pool.lines(tag), [`start ${refresher.pid}`, `end ${refresher.pid}`]);
          } else {
            const deadline = Date.now() + BOUND_MS;
            while (!(await eventsOf(refresher, key)).includes('background-error')) {
              if (Date.now() > deadline) assert.fail('the failed refresh was never reported');
              await delay(5);
            }
            // The failed refresh kept the stale value: later callers get it, and at most one of
            // them refreshes again at a time.
            const later = await Promise.all(again.filter((a) => a.proc < procs).map(({ proc, ms }) => arrive(workers[proc]!, ms, request, () => undefined)));
            later.forEach((r, i) => assert.equal(r.ok ? r.reply.value : r.error.message, 'old', `P17: later caller ${i} got the stale value kept by the failed refresh`));
            // Their refreshes run in the background, each after its caller was answered: one may
            // start after another ended, so an even count is a moment between two, not the end.
            // Wait for the count to rest (even, and the same over a few polls), then check.
            await restingLines(pool, tag);
            assertSerial(pool.lines(tag), tag);
            assert.equal(((await pool.stored('entries', key)) as { value: unknown }).value, 'old', 'the failed refresh stored nothing');
            if (pastMaxAge) {
              // At maxAge (and past it) the stale value is never served: the next caller computes.
              await pool.advance(MINUTE);
              for (const w of workers) assert.equal(await w.call({ op: 'getSync', key }), undefined, 'P15: nothing is read at or past maxAge');
              const cold = await workers[workers.length - 1]!.call({ op: 'compute', key, tag: `${key}-cold`, value: 'fresh', policies, ...durations }, BOUND_MS);
              assert.deepEqual(cold, { value: 'fresh', ran: true }, `P17: at ${staleUntil} (maxAge) the stale value is gone`);
              checkedMaxAge = true;
            }
          }
          await pool.released(key);
          seen.run({
            'callers of two or more processes were served stale while the refresh was held': new Set(callers.map((c) => c.proc)).size >= 2,
            'the refresh failed and the stale value was kept': fails,
            'checked at maxAge after a failed refresh': checkedMaxAge,
            'xfetch composed': combo.includes('xfetch'),
            'xfetch not composed': !combo.includes('xfetch'),
          });
        },
      ),
      {
        ...propertyParams({
          endOnFailure: true,
          includeErrorInReport: true,
          // Each pipeline and each outcome on every run of the suite.
          examples: [
            [{ procs: 3, arrivals: [[0], [0, 5], [10]], again: [{ proc: 0, ms: 0 }], fails: false, pastMaxAge: false, combo: 'serveStale+barrier' }],
            [{ procs: 2, arrivals: [[0, 0], [3], [0]], again: [{ proc: 1, ms: 0 }, { proc: 0, ms: 2 }], fails: true, pastMaxAge: true, combo: 'serveStale+xfetch+barrier' }],
          ],
        }),
        numRuns: runsFor(10, 80),
      },
    );
    seen.check(t, {
      'callers of two or more processes were served stale while the refresh was held': 1,
      'the refresh failed and the stale value was kept': 0.2,
      'checked at maxAge after a failed refresh': 0.1,
      'xfetch composed': 0.05,
      'xfetch not composed': 0.05,
    });
  });
});
