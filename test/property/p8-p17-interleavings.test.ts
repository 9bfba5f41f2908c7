// Properties 8-11 and 14-17 under fc.scheduler(): the scheduler decides when each caller arrives,
// when each compute finishes, when the manual clock moves and when keys are deleted or set, over
// caches sharing one real LMDB file (each cache stands for a process: its own policy state, the
// leases in the file). Lease acquisitions and writes are real LMDB commits the scheduler cannot
// order, so every wait is bounded in real time.
//
// P8: at most one compute per key is in flight while its lease is valid. P9: cold callers over
// several caches cause exactly one compute per key and all receive its value. P10: a compute of
// one key that never finishes delays no other key. P11: a holder that overruns its lease is taken
// over, only the owner's release frees a lease, and nobody waits forever.
// P14-P17: background refreshes (serveStale, xfetch) interleaved with reads, clock moves, deletes
// and sets: at most one refresher per key at a time, nothing served at or after maxAge, a caller
// never waits for a background refresh, a refreshed entry carries the measured delta and expires
// at store time + ttl, and no read after a completed delete/set sees a value older than it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { barrier, createCache, lmdbTier, memoryTier, serveStale, xfetch, type Cache, type Policy } from '../../src/index.js';
import { acquireEnvironment, releaseEnvironment, type LmdbEnvironment } from '../../src/tiers/lmdb/env.js';
import { manualClock, scriptedRandom, type ManualClock } from '../helpers/clock.js';
import { coverage, propertyParams } from '../helpers/fc.js';
import { tempDir } from '../helpers/tmp.js';
import { deferred, until, within } from '../fixtures/policy-support.js';

/** Real-time bound on any phase of one run: generous, a correct run takes milliseconds. */
const BOUND_MS = 10_000;

function show(value: unknown): string {
  return inspect(value, { depth: 4, breakLength: Infinity });
}

/** A value that says which run produced it; it survives the LMDB round trip as a plain object. */
interface Produced {
  readonly key: string;
  readonly run: number;
}

/** One execution of a compute function, as the property observed it. */
interface Run {
  readonly id: number;
  readonly key: string;
  readonly caller: number;
  /** The manual clock when the function started. */
  readonly startedAt: number;
  /** The lease record the file held for the key when the function started: the run's own. */
  readonly token: string;
  readonly expiresAt: number;
  done: boolean;
  /** Position in the run's event order when the function returned or threw. */
  endSeq: number;
}

/** The LMDB environment the caches use (one per path per process), to read lease and entry records directly. */
function fileView(path: string): { lease(key: string): { token: string; expiresAt: number } | undefined; entry(key: string): unknown; close(): Promise<void> } {
  const env: LmdbEnvironment = acquireEnvironment(path, 16 * 1024 * 1024);
  return {
    lease: (key) => env.leases.get(`0::${key}`),
    entry: (key) => env.entries.get(`0::${key}`),
    close: () => releaseEnvironment(env),
  };
}

/**
 * Records runs and checks P8 as each starts: any other run of the key still in flight must have
 * had its lease expire (the clock is past its expiry) and hold another token.
 */
class RunLog {
  readonly runs: Run[] = [];
  readonly violations: string[] = [];
  /** Runs that started while another run of their key was still in flight: each took a lease over. */
  startedOverAnother = 0;

  constructor(
    private readonly clock: ManualClock,
    private readonly leases: ReturnType<typeof fileView>,
  ) {}

  start(key: string, caller: number): Run {
    const record = this.leases.lease(key);
    const id = this.runs.length + 1;
    if (record === undefined) this.violations.push(`run ${id} of ${key} started with no lease record for the key`);
    const run: Run = { id, key, caller, startedAt: this.clock(), token: record?.token ?? '?', expiresAt: record?.expiresAt ?? -1, done: false, endSeq: Infinity };
    const inFlight = this.inFlight(key);
    if (inFlight.length > 0) this.startedOverAnother++;
    for (const other of inFlight) {
      if (run.startedAt < other.expiresAt) {
        this.violations.push(`P8/P17: run ${id} of ${key} started at ${run.startedAt} while run ${other.id} was in flight with a lease valid until ${other.expiresAt}`);
      }
      if (other.token === run.token) this.violations.push(`P8/P17: runs ${other.id} and ${id} of ${key} in flight under one lease token`);
    }
    this.runs.push(run);
    return run;
  }

  inFlight(key: string): Run[] {
    return this.runs.filter((r) => r.key === key && !r.done);
  }

  /** P11, after a caller's lease was released: every run in flight with a valid lease still owns the record. */
  checkOwnersKept(after: string): void {
    for (const run of this.runs) {
      if (run.done || this.clock() >= run.expiresAt) continue;
      const record = this.leases.lease(run.key);
      if (record?.token !== run.token) {
        this.violations.push(`P11: after ${after}, the lease of run ${run.id} (valid until ${run.expiresAt}, now ${this.clock()}) was ${record === undefined ? 'freed' : `replaced by ${record.token}`}`);
      }
    }
  }
}

interface Caller {
  readonly key: 'a' | 'b' | 'c';
  readonly cache: number;
}

const caller: fc.Arbitrary<Caller> = fc.record({ key: fc.constantFrom('a' as const, 'b' as const, 'c' as const), cache: fc.nat({ max: 1 }) });

describe('P8-P11 barrier interleavings (fc.scheduler over one LMDB file)', () => {
  it('P8 P9 P10: cold callers of a few keys over two caches: one compute per key in flight, exactly one compute per key, every caller gets the value of its own key; a key whose compute never finishes delays no other key', async (t) => {
    const seen = coverage('P8 P9 P10');
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(caller, { minLength: 1, maxLength: 10 }), fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }), async (s, callers, hungKey) => {
        const dir = tempDir('herdcache-p8');
        const clock = manualClock();
        const caches: Cache[] = [0, 1].map(() => createCache({ ttl: 60_000, clock, lmdb: { path: dir.path }, policies: [barrier({ lease: 30_000, maxWait: 60_000 })] }));
        const leases = fileView(dir.path);
        const log = new RunLog(clock, leases);
        const hung = deferred();
        try {
          const fnFor = (key: string, index: number) => async (): Promise<Produced> => {
            const run = log.start(key, index);
            try {
              // The hung key's compute finishes only once every other caller has its answer.
              if (key === hungKey) await hung.promise;
              else await s.schedule(Promise.resolve(), `run ${run.id} of ${key} finishes`);
              return { key, run: run.id };
            } finally {
              run.done = true;
            }
          };
          const answers = callers.map(({ key, cache }, index) =>
            s.schedule(Promise.resolve(), `caller ${index} of ${key} arrives at cache ${cache}`).then(() => caches[cache]!.compute(key, fnFor(key, index))),
          );
          const others = answers.filter((_answer, i) => callers[i]!.key !== hungKey);
          // P10: every other key is answered while the hung key's compute is still running.
          await within(s.waitFor(Promise.all(others)), BOUND_MS, `P10: the callers of keys other than ${String(hungKey)}`);
          hung.resolve();
          const values = await within(s.waitFor(Promise.all(answers)), BOUND_MS, 'every caller');

          assert.deepEqual(log.violations, []);
          for (const key of new Set(callers.map((c) => c.key))) {
            const runs = log.runs.filter((r) => r.key === key);
            assert.equal(runs.length, 1, `P9: ${runs.length} computes of ${key}`);
            assert.equal(leases.lease(key), undefined, `the lease of ${key} was released`);
          }
          values.forEach((value, i) => {
            const key = callers[i]!.key;
            const only = log.runs.find((r) => r.key === key);
            assert.deepEqual(value, { key, run: only?.id }, `caller ${i} of ${key} got ${show(value)}`);
          });
          seen.run({
            'had callers of one key on both caches (P8, P9 across processes)': callers.some((c) => callers.some((d) => d.key === c.key && d.cache !== c.cache)),
            'hung a key while another key had callers (P10)': hungKey !== undefined && callers.some((c) => c.key === hungKey) && callers.some((c) => c.key !== hungKey),
          });
        } finally {
          hung.resolve();
          await leases.close();
          await Promise.all(caches.map((c) => c.close()));
          dir.cleanup();
        }
      }),
      propertyParams({ numRuns: 40, includeErrorInReport: true }),
    );
    seen.check(t, { 'had callers of one key on both caches (P8, P9 across processes)': 0.3, 'hung a key while another key had callers (P10)': 0.2 });
  });

  it('P11: a holder whose compute overruns its lease (the clock moves at scheduled moments) is taken over; a late release never frees the successor\'s lease; every caller gets an answer; a holder that never finishes still lets the others through', async (t) => {
    const LEASE = 1_000;
    const seen = coverage('P11');
    /** How caller 0's compute ends: when the scheduler says, after a successor started (or nobody is left to start), or only once every other caller has its answer. */
    type HolderMode = 'prompt' | 'overruns' | 'hangs';
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.constantFrom(300, 600, 1_000), { minLength: 1, maxLength: 4 }),
        fc.constantFrom<HolderMode>('prompt', 'overruns', 'hangs'),
        async (s, latecomers, ticks, holderMode) => {
          const dir = tempDir('herdcache-p11');
          const clock = manualClock();
          // One cache per caller, as if each were a process: only the file's lease keeps them apart.
          const caches: Cache[] = Array.from({ length: latecomers + 1 }, () =>
            createCache({ ttl: 60_000, clock, lmdb: { path: dir.path }, policies: [barrier({ lease: LEASE, maxWait: 600_000 })] }),
          );
          const leases = fileView(dir.path);
          const log = new RunLog(clock, leases);
          const hang = deferred();
          let othersAnswered = 0;
          let holderAnswered = false;
          try {
            const fnFor = (index: number) => async (): Promise<Produced> => {
              const run = log.start('k', index);
              try {
                if (index === 0 && holderMode !== 'prompt') {
                  // Once this holder runs, the clock is sure to pass its lease at some point.
                  void s.schedule(Promise.resolve(), `the clock passes run ${run.id}'s lease`).then(() => clock.advance(LEASE));
                  if (holderMode === 'hangs') await hang.promise;
                  else await until(() => log.runs.some((r) => r.id > run.id) || othersAnswered === latecomers, 'a successor or every other answer', BOUND_MS);
                } else if (holderMode === 'overruns') {
                  // A successor of an overrunning holder runs on until the holder's late release is
                  // done, so that release meets a lease that is not the holder's any more.
                  await until(() => holderAnswered, 'the holder to be answered', BOUND_MS);
                }
                if (index !== 0 || holderMode !== 'hangs') await s.schedule(Promise.resolve(), `run ${run.id} (caller ${index}) finishes`);
                return { key: 'k', run: run.id };
              } finally {
                run.done = true;
              }
            };
            for (const [i, ms] of ticks.entries()) void s.schedule(Promise.resolve(), `tick ${i}: +${ms} ms`).then(() => clock.advance(ms));
            // Caller 0 arrives first and takes the lease; the others arrive when the scheduler says.
            const answers = caches.map((cache, index) =>
              (index === 0 ? Promise.resolve() : s.schedule(Promise.resolve(), `caller ${index} arrives`)).then(async () => {
                const value = await cache.compute('k', fnFor(index));
                if (index !== 0) othersAnswered++;
                else holderAnswered = true;
                log.checkOwnersKept(`caller ${index} answered`);
                return value;
              }),
            );
            // Nobody waits for a hanging holder: the others are all answered while it still runs.
            await within(s.waitFor(Promise.all(answers.slice(1))), BOUND_MS, 'P11: the callers other than the holder');
            const holderRun = log.runs.find((r) => r.caller === 0);
            if (holderMode === 'hangs' && holderRun !== undefined) {
              assert.ok(!holderRun.done, 'the hanging holder is still running');
              // Whoever ran first, a hanging holder with company means someone's lease was taken over.
              assert.ok(log.startedOverAnother >= 1, `no run took an expired lease over: ${show(log.runs)}`);
            }
            hang.resolve();
            const values = await within(s.waitFor(Promise.all(answers)), BOUND_MS, 'every caller');
            await within(s.waitAll(), BOUND_MS, 'the remaining ticks');

            assert.deepEqual(log.violations, []);
            const takeovers = caches.reduce((sum, c) => sum + c.stats().leaseTakeovers, 0);
            assert.ok(takeovers >= log.startedOverAnother, `${log.startedOverAnother} runs started over another's expired lease, ${takeovers} takeovers counted`);
            assert.ok(log.runs.length >= 1 && log.runs.length <= caches.length, `${log.runs.length} runs for ${caches.length} callers`);
            values.forEach((value, i) => {
              const own = log.runs.find((r) => r.caller === i);
              const produced = log.runs.some((r) => r.id === (value as Produced).run);
              assert.ok(produced, `caller ${i} got ${show(value)}, which no run produced`);
              if (own !== undefined) assert.deepEqual(value, { key: 'k', run: own.id }, `caller ${i} ran its own compute and got ${show(value)}`);
            });
            assert.equal(leases.lease('k'), undefined, 'every owner released its lease; nothing was left behind');
            seen.run({ 'took an expired lease over while its holder still ran': log.startedOverAnother > 0 });
          } finally {
            hang.resolve();
            await leases.close();
            await Promise.all(caches.map((c) => c.close()));
            dir.cleanup();
          }
        },
      ),
      propertyParams({ numRuns: 50, includeErrorInReport: true }),
    );
    seen.check(t, { 'took an expired lease over while its holder still ran': 0.3 });
  });
});

// ---------------------------------------------------------------- background refreshes

const TTL = 1_000;
const MAX_AGE = 3_000;
/** Short leases, so that the clock moves past them while a refresh runs. */
const LEASE = 1_500;

type Key = 'k' | 'j';
type Op =
  | { readonly op: 'read'; readonly cache: number; readonly key: Key; readonly fail: boolean }
  | { readonly op: 'tick'; readonly ms: number }
  | { readonly op: 'delete'; readonly key: Key }
  | { readonly op: 'set'; readonly key: Key };

const anyKey = fc.constantFrom<Key>('k', 'j');
/**
 * What random() returns: uniform on a grid, or close to 1 (r = 1 - random() small), where
 * xfetch's window, -delta * beta * ln(r), spans most of the ttl and early refreshes happen.
 */
const draw = fc.oneof(fc.integer({ min: 0, max: 999_999 }).map((n) => n / 1e6), fc.constantFrom(0.9, 0.99, 0.999_999));
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('read' as const), cache: fc.nat({ max: 1 }), key: anyKey, fail: fc.nat({ max: 3 }).map((n) => n === 0) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.constantFrom(250, 500, 1_000) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), key: anyKey }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('set' as const), key: anyKey }) },
);

/** A value some set or compute produced, with when it was stored. */
interface Origin {
  readonly key: Key;
  readonly id: number;
  readonly storedAt: number;
  readonly staleUntil: number;
  /** Event position when the value came to be: the set's start, or the compute function's return. */
  readonly seq: number;
  /** The run that computed it, if a compute did. */
  readonly run: Run | undefined;
  /** The compute time its entry must carry. */
  readonly delta: number;
}

/** A delete or set through cache 0, with its event positions. */
interface Write {
  readonly key: Key;
  readonly kind: 'delete' | 'set';
  readonly id: number | undefined;
  readonly startSeq: number;
  endSeq: number;
}

interface ReadOutcome {
  readonly index: number;
  readonly cache: number;
  readonly key: Key;
  readonly at: number;
  readonly startSeq: number;
  readonly endSeq: number;
  readonly ok: boolean;
  readonly value: unknown;
}

interface PipelineCase {
  readonly name: string;
  readonly policies: () => Policy[];
  /** How long entries are kept: the grand timeout of what this pipeline stores. */
  readonly keptFor: number;
}

const PIPELINES: readonly PipelineCase[] = [
  { name: 'serveStale + barrier', policies: () => [serveStale({ maxAge: MAX_AGE, lease: LEASE }), barrier({ lease: LEASE })], keptFor: MAX_AGE },
  { name: 'xfetch + barrier', policies: () => [xfetch(), barrier({ lease: LEASE })], keptFor: TTL },
  { name: 'serveStale + xfetch + barrier', policies: () => [serveStale({ maxAge: MAX_AGE, lease: LEASE }), xfetch(), barrier({ lease: LEASE })], keptFor: MAX_AGE },
];

describe('P14-P17 background refreshes interleaved with reads, clock moves, deletes and sets (fc.scheduler over one LMDB file)', () => {
  for (const pipeline of PIPELINES) {
    it(`P14 P15 P16 P17 ${pipeline.name}: one refresher per key at a time (lease), nothing served at or after maxAge, no caller waits for a background refresh, a refreshed entry has the measured delta and expires at store time + ttl, no read after a completed delete/set sees an older value`, async (t) => {
      const seen = coverage(`P14-P17 ${pipeline.name}`);
      await fc.assert(
        fc.asyncProperty(fc.scheduler(), fc.array(fc.array(op, { minLength: 3, maxLength: 12 }), { minLength: 1, maxLength: 3 }), fc.array(draw, { minLength: 1, maxLength: 6 }), fc.constantFrom(0, 200, 600), async (s, threads, draws, firstDelta) => {
          const dir = tempDir('herdcache-p14');
          const clock = manualClock();
          // Cache 0 has a memory tier and does the deletes and sets; cache 1 reads the file only,
          // so what it reads is what the file holds.
          const caches: Cache[] = [
            createCache({ ttl: TTL, clock, random: scriptedRandom(draws), lmdb: { path: dir.path }, policies: pipeline.policies() }),
            createCache({ ttl: TTL, clock, random: scriptedRandom(draws), memory: false, lmdb: { path: dir.path }, policies: pipeline.policies() }),
          ];
          const files = fileView(dir.path);
          const log = new RunLog(clock, files);
          const origins = new Map<number, Origin>();
          const writes: Write[] = [];
          const outcomes: ReadOutcome[] = [];
          let seq = 0;
          let nextId = 1;
          const originate = (key: Key, run: Run | undefined, delta = run === undefined ? 0 : clock() - run.startedAt): { key: Key; id: number } => {
            const id = nextId++;
            const storedAt = clock();
            origins.set(id, { key, id, storedAt, staleUntil: storedAt + pipeline.keptFor, seq: ++seq, run, delta });
            return { key, id };
          };
          try {
            // Both keys start computed, with a compute time (delta) that xfetch weighs.
            for (const key of ['k', 'j'] as const) {
              const startSeq = ++seq;
              const value = await caches[0]!.compute(key, () => {
                clock.advance(firstDelta);
                return originate(key, undefined, firstDelta);
              });
              writes.push({ key, kind: 'set', id: value.id, startSeq, endSeq: ++seq });
            }
            const fnFor = (index: number, key: Key, fail: boolean) => async (): Promise<{ key: Key; id: number }> => {
              const run = log.start(key, index);
              try {
                await s.schedule(Promise.resolve(), `run ${run.id} of ${key} (op ${index}) ${fail ? 'fails' : 'finishes'}`);
                if (fail) throw new Error(`run ${run.id} failed`);
                return originate(key, run);
              } finally {
                run.done = true;
                run.endSeq = ++seq;
              }
            };
            const perform = async (o: Op, index: number): Promise<void> => {
              switch (o.op) {
                case 'tick':
                  clock.advance(o.ms);
                  return;
                case 'delete':
                case 'set': {
                  const value = o.op === 'set' ? originate(o.key, undefined) : undefined;
                  const write: Write = { key: o.key, kind: o.op, id: value?.id, startSeq: value === undefined ? ++seq : seq, endSeq: Infinity };
                  writes.push(write);
                  await (value === undefined ? caches[0]!.delete(o.key) : caches[0]!.set(o.key, value));
                  write.endSeq = ++seq;
                  return;
                }
                case 'read': {
                  const at = clock();
                  const startSeq = ++seq;
                  let outcome: { ok: boolean; value: unknown };
                  try {
                    outcome = { ok: true, value: await caches[o.cache]!.compute(o.key, fnFor(index, o.key, o.fail)) };
                  } catch (error) {
                    outcome = { ok: false, value: error };
                  }
                  outcomes.push({ index, cache: o.cache, key: o.key, at, startSeq, endSeq: ++seq, ...outcome });
                  return;
                }
              }
            };
            // Each thread performs its operations one after the other (a write completes before
            // the thread's next read) and starts each when the scheduler says; the threads, the
            // computes and the clock interleave.
            let numbered = 0;
            const done = threads.map(async (thread, t) => {
              const numbers = thread.map(() => numbered++);
              for (const [i, o] of thread.entries()) {
                const index = numbers[i]!;
                await s.schedule(Promise.resolve(), `thread ${t} op ${index}: ${show(o)}`);
                await perform(o, index);
              }
            });
            await within(s.waitFor(Promise.all(done)), BOUND_MS, 'every operation');
            // Let the background refreshes still running finish (their lease commits are real I/O).
            for (let quiet = 0, i = 0; quiet < 3; i++) {
              assert.ok(i < 2_000, 'the background refreshes never settled');
              if (s.count() > 0) {
                quiet = 0;
                await within(s.waitAll(), BOUND_MS, 'the scheduled steps');
              } else {
                quiet = log.runs.some((r) => !r.done) ? 0 : quiet + 1;
                await new Promise((resolve) => setTimeout(resolve, 3));
              }
            }

            assert.deepEqual(log.violations, [], 'P17: one refresher (one compute) per key at a time');
            const exercised = { background: false, afterWrite: false, stale: false };
            for (const o of outcomes) {
              const what = `op ${o.index} (read of ${o.key} at ${o.at} on cache ${o.cache})`;
              const own = log.runs.find((r) => r.caller === o.index);
              if (!o.ok) {
                // Only the caller's own foreground compute may fail it.
                assert.ok(own !== undefined && o.value instanceof Error && o.value.message === `run ${own.id} failed`, `${what} failed with ${show(o.value)}`);
                continue;
              }
              const got = o.value as { key?: unknown; id?: unknown };
              const origin = origins.get(Number(got.id));
              assert.ok(origin !== undefined && origin.key === o.key && got.key === o.key, `${what} got ${show(o.value)}, which nobody produced for ${o.key}`);
              assert.ok(o.at < origin.staleUntil, `P15: ${what} got value ${origin.id} stored at ${origin.storedAt}, kept until ${origin.staleUntil}: served at or after its grand timeout`);
              if (o.at >= origin.storedAt + TTL) exercised.stale = true;
              if (own !== undefined && own !== origin.run) {
                // The caller's own compute ran in the background: it must not have waited for it.
                assert.ok(own.endSeq > o.endSeq, `P16: ${what} was answered only after its background run ${own.id} finished`);
                exercised.background = true;
              }
              if (o.cache === 1) {
                // Cache 1 reads the file itself: no completed delete or set is ever undone there.
                const before = writes.filter((w) => w.key === o.key && w.endSeq < o.startSeq);
                // The two initial computes count as writes; a delete or set of the run is what matters.
                if (before.length > 1 || before.some((w) => w.kind === 'delete')) exercised.afterWrite = true;
                for (const w of before) {
                  assert.ok(origin.id === w.id || origin.seq > w.startSeq, `${what} got value ${origin.id} (from event ${origin.seq}), older than the ${w.kind} of events ${w.startSeq}-${w.endSeq}`);
                }
              }
            }
            for (const key of ['k', 'j'] as const) {
              const entry = files.entry(key) as { value: { id: number }; storedAt: number; freshUntil: number; staleUntil: number; delta: number } | undefined;
              if (entry === undefined) continue;
              const origin = origins.get(entry.value.id);
              assert.ok(origin !== undefined, `the file holds ${show(entry)} for ${key}, which nobody produced`);
              assert.equal(entry.storedAt, origin.storedAt, `P14: ${key} stored at the time its value was produced`);
              assert.equal(entry.freshUntil, entry.storedAt + TTL, `P14: ${key} expires at store time + ttl`);
              assert.equal(entry.staleUntil, entry.storedAt + pipeline.keptFor, `P14: ${key} is kept until store time + maxAge`);
              assert.equal(entry.delta, origin.delta, `P14: delta of ${key} is the measured compute time`);
            }
            // close() waits for background work (a refresh may still be committing its lease or
            // its release, without a run to show for it); the scheduler lets any late run finish.
            await within(s.waitFor(Promise.all(caches.map((c) => c.close()))), BOUND_MS, 'close()');
            for (const key of ['k', 'j'] as const) assert.equal(files.lease(key), undefined, `the lease of ${key} was released`);
            seen.run({
              'answered a read while its own compute ran in the background (P16)': exercised.background,
              'read on cache 1 after a completed delete or set of the key': exercised.afterWrite,
              'served a value past its ttl': exercised.stale,
            });
          } finally {
            await files.close();
            await Promise.all(caches.map((c) => c.close()));
            dir.cleanup();
          }
        }),
        propertyParams({ numRuns: 40, includeErrorInReport: true }),
      );
      seen.check(t, {
        'answered a read while its own compute ran in the background (P16)': 0.2,
        'read on cache 1 after a completed delete or set of the key': 0.2,
        // xfetch alone serves nothing past the ttl: only the stale-serving pipelines must.
        'served a value past its ttl': pipeline.keptFor > TTL ? 0.2 : 0,
      });
    });
  }
});

// ---------------------------------------------------------------- writes racing a refresh or a read

/**
 * Orderings the properties above leave to chance, pinned one by one: a write that lands while a
 * background refresh or a read of the same key is under way.
 */
describe('P1 P17 writes racing a refresh or a read', () => {
  async function staleRefreshInFlight(t: { after(fn: () => Promise<void> | void): void }): Promise<{ cache: Cache; other: Cache; finish: () => void; refreshed: Promise<void> }> {
    const dir = tempDir('herdcache-p17-gap');
    const clock = manualClock();
    const cache = createCache({ ttl: TTL, clock, lmdb: { path: dir.path }, policies: [serveStale({ maxAge: MAX_AGE }), barrier()] });
    const other = createCache({ ttl: TTL, clock, memory: false, lmdb: { path: dir.path } });
    t.after(async () => {
      await cache.close();
      await other.close();
      dir.cleanup();
    });
    await cache.set('k', 'old');
    clock.advance(TTL);
    const gate = deferred();
    let started = false;
    const refreshed = new Promise<void>((resolve) => cache.on('refresh', () => resolve()));
    assert.equal(await cache.compute('k', async () => { started = true; await gate.promise; return 'refreshed'; }), 'old');
    await until(() => started, 'the background refresh runs', BOUND_MS);
    return { cache, other, finish: () => gate.resolve(), refreshed: within(refreshed, BOUND_MS, 'the refresh') };
  }

  it('P17 a background refresh that started before a delete does not bring the deleted key back', async (t) => {
    const { cache, other, finish, refreshed } = await staleRefreshInFlight(t);
    await cache.delete('k');
    finish();
    await refreshed;
    assert.equal(other.getSync('k'), undefined, 'the refresh that began before the delete resurrected the key');
  });

  it('P17 a background refresh that started before a set does not overwrite the value set meanwhile', async (t) => {
    const { cache, other, finish, refreshed } = await staleRefreshInFlight(t);
    await cache.set('k', 'explicit');
    finish();
    await refreshed;
    assert.equal(other.getSync('k'), 'explicit', 'the refresh overwrote a value set after it began');
  });

  /**
   * P1 in one process, a read racing a write: a cache over a memory tier and an LMDB file that
   * already holds 'old'. The read starts first (memory miss, LMDB hit) and copies what it read
   * into memory a few microtasks later; the write starts `hops` microtasks after the read, so
   * it can start between the read's LMDB lookup and that copy (the race), or after the copy.
   * Either way, once the write resolved, this process must read what the write left.
   */
  it('P1 a read racing delete() or set() in the same process does not leave the old value in its memory tier', async (t) => {
    const seen = coverage('P1 read racing a write');
    const RACED = 'started the write between the read\'s LMDB lookup and its copy into memory';
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('delete' as const, 'set' as const), fc.nat({ max: 3 }), async (write, hops) => {
        const dir = tempDir('herdcache-race');
        const writer = createCache({ ttl: 60_000, lmdb: { path: dir.path } });
        const memory = memoryTier();
        const lmdb = lmdbTier({ path: dir.path });
        // What happened, in order: the tiers' own calls, recorded by wrapping them.
        const events: string[] = [];
        const lmdbRead = lmdb.read!.bind(lmdb);
        lmdb.read = (k) => {
          const found = lmdbRead(k);
          const note = (r: { entry?: { value: unknown } | undefined }): void => void events.push(`lmdb read ${String(r.entry?.value)}`);
          if (found instanceof Promise) void found.then(note);
          else note(found);
          return found;
        };
        const memorySet = memory.set.bind(memory);
        memory.set = (k, entry, bytes, condition) => {
          events.push(`memory set ${String(entry.value)}`);
          return memorySet(k, entry, bytes, condition);
        };
        const memoryDelete = memory.delete.bind(memory);
        memory.delete = (k, condition) => {
          events.push('memory delete');
          return memoryDelete(k, condition);
        };
        const cache = createCache({ ttl: 60_000, tiers: [memory, lmdb] });
        try {
          await writer.set('k', 'old');
          const read = cache.get('k').then((value) => {
            events.push('read answered');
            return value;
          });
          for (let i = 0; i < hops; i++) await Promise.resolve();
          events.push(`${write} starts`);
          const written = write === 'delete' ? cache.delete('k') : cache.set('k', 'new');
          const [value] = await Promise.all([read, written]);
          assert.equal(value, 'old', 'the read started before the write');
          const expected = write === 'delete' ? undefined : 'new';
          assert.equal(cache.getSync('k'), expected, `after ${write}() resolved, this process still reads the old value (events: ${events.join(', ')})`);
          const looked = events.indexOf('lmdb read old');
          const answered = events.indexOf('read answered');
          // The race: the write started after the read's LMDB lookup, before the read had copied
          // what it found into memory (the correct code then copies nothing) and before it answered.
          const started = events.indexOf(`${write} starts`);
          const copied = events.indexOf('memory set old');
          seen.run({ [RACED]: looked >= 0 && looked < started && started < answered && (copied === -1 || copied > started) });
        } finally {
          await writer.close();
          await cache.close();
          dir.cleanup();
        }
      }),
      propertyParams({ numRuns: 30, includeErrorInReport: true }),
    );
    seen.check(t, { [RACED]: 0.3 });
  });
});
