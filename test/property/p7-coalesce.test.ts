// Property 7, coalesce: N concurrent computes of one key in one process run the function once;
// all N see the identical value or the identical error (the same object); a later call runs
// again; different keys never coalesce. fast-check generates the keys, how many callers each
// has, whether its function fails, whether it settles at once or when the scheduler says, and
// whether the callers arrive together or at moments fc.scheduler() picks among the settles.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { coalesce, createCache, type Cache } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';
import { coverage, propertyParams } from '../helpers/fc.js';

const TTL = 1_000;

function show(value: unknown): string {
  return inspect(value, { depth: 3, breakLength: Infinity });
}

/** Keys that a careless key join would confuse: 'a' + ':b' and 'a:' + 'b'. */
const KEYS = ['a', 'b', 'a:b', 'a:'] as const;

interface Group {
  readonly key: string;
  readonly callers: number;
  readonly fails: boolean;
  /** 'sync': the function returns or throws at once; 'scheduled': it settles when the scheduler says. */
  readonly body: 'sync' | 'scheduled';
}

const groups: fc.Arbitrary<Group[]> = fc.uniqueArray(
  fc.record({
    key: fc.constantFrom(...KEYS),
    callers: fc.integer({ min: 1, max: 8 }),
    fails: fc.boolean(),
    body: fc.constantFrom<Group['body']>('sync', 'scheduled', 'scheduled'),
  }),
  { selector: (g) => g.key, minLength: 1, maxLength: 3 },
);

/** 'together': every caller calls before anything settles; 'scattered': each arrives when the scheduler says. */
type Arrival = 'together' | 'scattered';

/** One execution of a compute function. */
interface Run {
  readonly id: number;
  readonly key: string;
  /** The caller whose function this was. */
  readonly caller: number;
  /** What it produced: a fresh object or a fresh Error, compared by identity. */
  readonly produced: object;
  readonly fails: boolean;
  settled: boolean;
}

interface Answer {
  readonly caller: number;
  readonly key: string;
  /** The run of the key that was in flight when the caller called, if any. */
  readonly joined: Run | undefined;
  readonly ok: boolean;
  readonly value: unknown;
}

function build(clock: ReturnType<typeof manualClock>): Cache {
  return createCache({ ttl: TTL, clock, lmdb: false, policies: [coalesce()] });
}

describe('P7 coalesce (one process, fc.scheduler)', () => {
  it('P7 coalesce: concurrent computes of one key run the function once and every caller gets the identical value or error; a later call runs again; different keys never coalesce', async (t) => {
    const seen = coverage('P7 coalesce');
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), groups, fc.constantFrom<Arrival>('together', 'scattered'), async (s, plan, arrival) => {
        const clock = manualClock();
        const cache = build(clock);
        try {
          const runs: Run[] = [];
          const overlaps: string[] = [];
          let mostKeysInFlight = 0;
          const inFlight = (key: string): Run | undefined => runs.find((r) => r.key === key && !r.settled);
          const fnFor = (group: Group, caller: number) => (): unknown => {
            const before = inFlight(group.key);
            if (before !== undefined) overlaps.push(`run ${runs.length + 1} of ${group.key} started while run ${before.id} was in flight`);
            const id = runs.length + 1;
            const produced = group.fails ? new Error(`run ${id} of ${group.key} failed`) : { key: group.key, run: id };
            const run: Run = { id, key: group.key, caller, produced, fails: group.fails, settled: false };
            runs.push(run);
            mostKeysInFlight = Math.max(mostKeysInFlight, new Set(runs.filter((r) => !r.settled).map((r) => r.key)).size);
            const settle = (): unknown => {
              run.settled = true;
              if (run.fails) throw produced;
              return produced;
            };
            if (group.body === 'sync') return settle();
            return s.schedule(Promise.resolve(), `run ${id} of ${group.key} settles`).then(settle);
          };
          let callers = 0;
          const call = (group: Group): Promise<Answer> => {
            const caller = callers++;
            const start = (): Promise<Answer> => {
              // What an earlier run stored has expired by now: only coalesce can spare a run.
              if (arrival === 'scattered') clock.advance(TTL);
              const joined = inFlight(group.key);
              return cache.compute(group.key, fnFor(group, caller)).then(
                (value) => ({ caller, key: group.key, joined, ok: true, value }),
                (error: unknown) => ({ caller, key: group.key, joined, ok: false, value: error }),
              );
            };
            return arrival === 'together' ? start() : s.schedule(Promise.resolve(), `caller ${caller} of ${group.key} arrives`).then(start);
          };
          const pending = plan.flatMap((group) => Array.from({ length: group.callers }, () => call(group)));
          const answers = await s.waitFor(Promise.all(pending));
          const concurrentRuns = runs.length;

          assert.deepEqual(overlaps, [], 'one run per key in flight at a time');
          for (const answer of answers) {
            const what = `caller ${answer.caller} of ${answer.key}`;
            const from = runs.find((r) => r.produced === answer.value);
            assert.ok(from !== undefined, `${what} got ${show(answer.value)}, which no run produced (a copy, or another value)`);
            assert.equal(from.key, answer.key, `${what} got the ${from.fails ? 'error' : 'value'} of run ${from.id} of ${from.key}: different keys coalesced`);
            assert.equal(answer.ok, !from.fails, `${what} ${answer.ok ? 'resolved with' : 'rejected with'} the outcome of run ${from.id}`);
            const own = runs.find((r) => r.caller === answer.caller);
            if (own !== undefined) assert.equal(from, own, `${what} ran its own function (run ${own.id}) but got run ${from.id}'s outcome`);
            if (answer.joined !== undefined) assert.equal(from, answer.joined, `${what} arrived during run ${answer.joined.id} but got run ${from.id}'s outcome`);
          }
          for (const group of plan) {
            const ofKey = runs.filter((r) => r.key === group.key);
            assert.ok(ofKey.length >= 1 && ofKey.length <= group.callers, `${ofKey.length} runs for ${group.callers} callers of ${group.key}`);
            // Arriving together, before anything settled: one run, one identical outcome for all.
            if (arrival === 'together') assert.equal(ofKey.length, 1, `${group.callers} callers of ${group.key} arrived together, yet the function ran ${ofKey.length} times`);
          }
          const joiners = answers.filter((a) => !runs.some((r) => r.caller === a.caller)).length;
          assert.equal(cache.stats().coalesced, joiners, 'every caller that ran no function of its own was counted as coalesced');

          // A later call runs again: a failure was never kept; a value only until it expires.
          const again = async (group: Group): Promise<void> => {
            const before = runs.length;
            const outcome = await cache.compute(group.key, fnFor({ ...group, body: 'sync', fails: false }, callers++));
            assert.equal(runs.length, before + 1, `a later call of ${group.key} did not run its function`);
            assert.equal(outcome, runs.at(-1)?.produced, `a later call of ${group.key} got ${show(outcome)}, not its own run's value`);
          };
          for (const group of plan.filter((g) => g.fails)) await again(group);
          clock.advance(TTL);
          for (const group of plan) await again(group);

          const sharedBy = (run: Run): number => answers.filter((a) => a.value === run.produced).length;
          seen.run({
            'had a caller join a run in flight': joiners > 0,
            'shared one error among several callers': runs.some((r) => r.fails && sharedBy(r) >= 2),
            'shared one value among several callers': runs.some((r) => !r.fails && sharedBy(r) >= 2),
            'had runs of two keys in flight at once': mostKeysInFlight >= 2,
            'ran a key again within the concurrent phase (a caller after the settle)': plan.some((g) => runs.slice(0, concurrentRuns).filter((r) => r.key === g.key).length >= 2),
          });
        } finally {
          await cache.close();
        }
      }),
      propertyParams({ numRuns: 200, includeErrorInReport: true }),
    );
    seen.check(t, {
      'had a caller join a run in flight': 0.6,
      'shared one error among several callers': 0.3,
      'shared one value among several callers': 0.3,
      'had runs of two keys in flight at once': 0.3,
      'ran a key again within the concurrent phase (a caller after the settle)': 0.2,
    });
  });
});
