// The whole-history checker of property 19 on small hand-made histories: a clean history
// passes; each kind of violation is caught; concurrent operations whose outcome the rules leave
// open are not flagged either way.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkHistory, formatViolation, historyOrigin, type CheckName, type OpRecord } from '../history/checker.js';

const BOUNDS = { sameMachine: 250, crossMachine: 1_000 };

let seq = 0;
type Draft = Partial<OpRecord> & Pick<OpRecord, 'op' | 'invokedAt'>;
/** An operation of p1 on m0, ns/k, that completed ok 1 ms after its invocation unless told otherwise. */
function op(draft: Draft): OpRecord {
  return { id: `t#${seq++}`, process: 'p1', machine: 'm0', namespace: 'ns', key: draft.op === 'clear' ? undefined : 'k', ok: true, completedAt: draft.invokedAt + 1, ...draft };
}
const set = (value: string, invokedAt: number, more: Partial<OpRecord> = {}): OpRecord => op({ op: 'set', value, invokedAt, ...more });
const del = (invokedAt: number, more: Partial<OpRecord> = {}): OpRecord => op({ op: 'delete', invokedAt, ...more });
const get = (value: string | undefined, invokedAt: number, more: Partial<OpRecord> = {}): OpRecord => op({ op: 'get', value, invokedAt, ...more });
const getSync = (value: string | undefined, invokedAt: number, more: Partial<OpRecord> = {}): OpRecord => op({ op: 'getSync', value, invokedAt, ...more });
/** A compute that missed and stored its own fn's value, its fn running from `fnAt` to completion. */
const computed = (value: string, invokedAt: number, fnAt: number, completedAt: number, more: Partial<OpRecord> = {}): OpRecord =>
  op({ op: 'compute', value, fnValue: value, own: true, invokedAt, fnStartedAt: fnAt, completedAt, ...more });

function checks(history: readonly OpRecord[]): CheckName[] {
  return checkHistory(history, BOUNDS).violations.map((v) => v.check);
}

function explain(history: readonly OpRecord[]): string {
  const origin = historyOrigin(history);
  return checkHistory(history, BOUNDS).violations.map((v) => formatViolation(v, origin)).join('\n');
}

describe('history checker', () => {
  it('passes a clean history of sets, deletes, clears, computes and reads, and counts the reads it constrained', () => {
    const history = [
      set('p1:0', 0, { completedAt: 5 }),
      get('p1:0', 300, { process: 'p2' }),
      getSync('p1:0', 301),
      del(400, { completedAt: 405 }),
      getSync(undefined, 700, { process: 'p2' }),
      computed('p2:1', 710, 711, 740, { process: 'p2' }),
      get('p2:1', 1_000),
      op({ op: 'compute', value: 'p2:1', fnValue: 'p1:9', own: false, invokedAt: 1_010 }),
      op({ op: 'clear', invokedAt: 1_100, completedAt: 1_110 }),
      get(undefined, 1_400, { process: 'p2' }),
    ];
    const result = checkHistory(history, BOUNDS);
    assert.deepEqual(result.violations, [], explain(history));
    assert.equal(result.ok, true);
    assert.equal(result.operations, history.length);
    assert.equal(result.reads, 7);
    assert.ok(result.interestingReads > 0);
    assert.ok(result.constrained.stale > 0 && result.constrained.lost > 0, JSON.stringify(result.constrained));
  });

  describe('(a) no value from thin air', () => {
    it('flags a read of a value nobody wrote', () => {
      assert.deepEqual(checks([set('p1:0', 0), get('p9:9', 10)]), ['thin-air']);
    });

    it('flags a read of a value written to another key or namespace', () => {
      assert.deepEqual(checks([set('p1:0', 0, { key: 'other' }), get('p1:0', 10)]), ['thin-air']);
      assert.deepEqual(checks([set('p1:0', 0, { namespace: 'ns2' }), get('p1:0', 10)]), ['thin-air']);
    });

    it('flags a read that completed before its writer was invoked, and allows one that overlaps it', () => {
      assert.deepEqual(checks([get('p1:0', 0, { completedAt: 2 }), set('p1:0', 5)]), ['thin-air']);
      assert.deepEqual(checks([get('p1:0', 0, { completedAt: 6 }), set('p1:0', 5, { completedAt: 10 })]), []);
    });

    it('counts a compute as the writer of its fn value only if its fn ran (killed or not)', () => {
      const killedAfterFn = op({ op: 'compute', fnValue: 'p1:0', invokedAt: 0, fnStartedAt: 1, completedAt: undefined, ok: undefined, killedAt: 30 });
      assert.deepEqual(checks([killedAfterFn, get('p1:0', 50, { process: 'p2' })]), []);
      const killedBeforeFn = op({ op: 'compute', fnValue: 'p1:0', invokedAt: 0, completedAt: undefined, ok: undefined, killedAt: 30 });
      assert.deepEqual(checks([killedBeforeFn, get('p1:0', 50, { process: 'p2' })]), ['thin-air']);
      const hit = op({ op: 'compute', value: 'p9:0', fnValue: 'p1:0', own: false, invokedAt: 0 });
      assert.deepEqual(checks([set('p9:0', -10), hit, get('p1:0', 50)]), ['thin-air']);
    });

    it('counts a set as the writer of its value even if it failed or never completed', () => {
      assert.deepEqual(checks([set('p1:0', 0, { ok: false, error: 'E_STORAGE' }), get('p1:0', 10)]), []);
      assert.deepEqual(checks([set('p1:0', 0, { completedAt: undefined, ok: undefined, killedAt: 3 }), get('p1:0', 10)]), []);
    });
  });

  describe('(b) no stale read beyond the bound', () => {
    it('flags a value read after a completed delete plus the bound, and allows it within the bound', () => {
      const history = [set('p1:0', 0, { completedAt: 5 }), del(10, { completedAt: 15 })];
      assert.deepEqual(checks([...history, get('p1:0', 15 + 251, { process: 'p2' })]), ['stale-read']);
      assert.deepEqual(checks([...history, getSync('p1:0', 15 + 249, { process: 'p2' })]), []);
    });

    it('flags a value replaced by a later set, and by a clear of its namespace only', () => {
      const history = [set('p1:0', 0, { completedAt: 5 }), set('p2:0', 10, { completedAt: 15, process: 'p2' })];
      // Reading the older value after a later set is also a lost write of the newer one.
      assert.deepEqual(checks([...history, get('p1:0', 300)]), ['stale-read', 'lost-write']);
      const cleared = [set('p1:0', 0, { completedAt: 5 }), op({ op: 'clear', invokedAt: 10, completedAt: 15 })];
      assert.deepEqual(checks([...cleared, get('p1:0', 300)]), ['stale-read']);
      const otherNamespace = [set('p1:0', 0, { completedAt: 5 }), op({ op: 'clear', namespace: 'ns2', invokedAt: 10, completedAt: 15 })];
      assert.deepEqual(checks([...otherNamespace, get('p1:0', 300)]), []);
    });

    it('flags a compute whose fn began before a delete and whose value outlived it (stored after it, or stored before and not replaced)', () => {
      const storedAfter = [computed('p1:0', 0, 2, 60), del(10, { process: 'p2', completedAt: 15 })];
      assert.deepEqual(checks([...storedAfter, get('p1:0', 400, { process: 'p3' })]), ['stale-read']);
      const storedBefore = [computed('p1:0', 0, 2, 8), del(10, { process: 'p2', completedAt: 15 })];
      assert.deepEqual(checks([...storedBefore, getSync('p1:0', 400, { process: 'p3' })]), ['stale-read']);
    });

    it('allows the value of a compute whose fn began after the delete was invoked, even though it completed later', () => {
      const history = [del(10, { completedAt: 15 }), computed('p2:0', 9, 12, 60, { process: 'p2' })];
      assert.deepEqual(checks([...history, get('p2:0', 400)]), []);
    });

    it('allows either outcome of a set concurrent with a delete', () => {
      const history = [set('p1:0', 0, { completedAt: 20 }), del(10, { process: 'p2', completedAt: 15 })];
      assert.deepEqual(checks([...history, get('p1:0', 500)]), []);
      assert.deepEqual(checks([...history, get(undefined, 500)]), []);
      const overlapping = [set('p1:0', 0, { completedAt: 12 }), del(10, { process: 'p2', completedAt: 15 })];
      assert.deepEqual(checks([...overlapping, getSync('p1:0', 900)]), []);
    });

    it('allows either value of two concurrent sets', () => {
      const history = [set('p1:0', 0, { completedAt: 20 }), set('p2:0', 5, { process: 'p2', completedAt: 25 })];
      assert.deepEqual(checks([...history, get('p1:0', 500)]), []);
      assert.deepEqual(checks([...history, get('p2:0', 500)]), []);
    });

    it('ignores changes that failed or never completed', () => {
      assert.deepEqual(checks([set('p1:0', 0, { completedAt: 5 }), del(10, { ok: false, error: 'E_STORAGE' }), get('p1:0', 500)]), []);
      assert.deepEqual(checks([set('p1:0', 0, { completedAt: 5 }), del(10, { completedAt: undefined, ok: undefined, killedAt: 11 }), get('p1:0', 500)]), []);
    });

    it('uses the cross-machine bound when the writer, the change or the reader is on another machine', () => {
      const history = [set('p1:0', 0, { completedAt: 5 }), del(10, { completedAt: 15, process: 'p3', machine: 'm1' })];
      assert.deepEqual(checks([...history, get('p1:0', 500)]), []);
      assert.deepEqual(checks([...history, get('p1:0', 1_100)]), ['stale-read']);
      const readElsewhere = [set('p1:0', 0, { completedAt: 5 }), del(10, { completedAt: 15 })];
      assert.deepEqual(checks([...readElsewhere, get('p1:0', 500, { machine: 'm1', process: 'p3' })]), []);
    });

    it('treats a compute that returned a cached value as a read', () => {
      const hit = op({ op: 'compute', value: 'p1:0', fnValue: 'p2:7', own: false, invokedAt: 400, process: 'p2' });
      assert.deepEqual(checks([set('p1:0', 0, { completedAt: 5 }), del(10, { completedAt: 15 }), hit]), ['stale-read']);
    });

    it('explains the violation with the read, its writer and the change that replaced it', () => {
      const history = [computed('p1:0', 0, 2, 60), del(10, { process: 'p2', completedAt: 15 }), get('p1:0', 400, { process: 'p3' })];
      const [violation] = checkHistory(history, BOUNDS).violations;
      assert.ok(violation !== undefined);
      assert.equal(violation.writer, history[0]);
      assert.equal(violation.cause, history[1]);
      assert.match(formatViolation(violation, historyOrigin(history)), /fn began at 2\.0 ms, before t#\d+ \(delete\) was invoked at 10\.0 ms/);
    });
  });

  describe('(c) no lost committed write', () => {
    it('flags a miss after a completed set plus the bound, and allows it within the bound', () => {
      assert.deepEqual(checks([set('p1:0', 0, { completedAt: 5 }), get(undefined, 300, { process: 'p2' })]), ['lost-write']);
      assert.deepEqual(checks([set('p1:0', 0, { completedAt: 5 }), getSync(undefined, 200, { process: 'p2' })]), []);
    });

    it('flags a compute that ran its fn although the value had to be there', () => {
      assert.deepEqual(checks([set('p1:0', 0, { completedAt: 5 }), computed('p2:0', 300, 301, 310, { process: 'p2' })]), ['lost-write']);
    });

    it('does not apply when another write of the key was invoked since, or overlapped the set', () => {
      assert.deepEqual(checks([set('p1:0', 0, { completedAt: 5 }), computed('p2:0', 100, 101, 120), get(undefined, 400)]), []);
      assert.deepEqual(checks([set('p1:0', 0, { completedAt: 5 }), op({ op: 'compute', value: 'p1:0', fnValue: 'p2:0', own: false, invokedAt: 100 }), get(undefined, 400)]), []);
      assert.deepEqual(checks([del(-5, { completedAt: 2, process: 'p2' }), set('p1:0', 0, { completedAt: 5 }), get(undefined, 400)]), []);
      assert.deepEqual(checks([set('p1:0', 0, { completedAt: 5 }), op({ op: 'clear', invokedAt: 100 }), get(undefined, 400)]), []);
    });

    it('is not confused by a write that completed before the set began, or by writes of other keys', () => {
      assert.deepEqual(checks([del(-20, { completedAt: -10 }), set('p1:0', 0, { completedAt: 5 }), get(undefined, 400)]), ['lost-write']);
      assert.deepEqual(checks([set('p1:0', 0, { completedAt: 5 }), del(100, { key: 'other' }), op({ op: 'clear', namespace: 'ns2', invokedAt: 100 }), get(undefined, 400)]), ['lost-write']);
    });

    it('treats an operation left unsettled by a kill as overlapping what began before its effects could have landed', () => {
      const killed = del(-5, { completedAt: undefined, ok: undefined, killedAt: 1 });
      assert.deepEqual(checks([killed, set('p1:0', 10, { completedAt: 15 }), get(undefined, 400)]), []);
      const longAgo = del(-5_000, { completedAt: undefined, ok: undefined, killedAt: -4_000 });
      assert.deepEqual(checks([longAgo, set('p1:0', 10, { completedAt: 15 }), get(undefined, 400)]), ['lost-write']);
    });

    it('does not require a set that failed or never completed', () => {
      assert.deepEqual(checks([set('p1:0', 0, { ok: false, error: 'E_STORAGE' }), get(undefined, 400)]), []);
      assert.deepEqual(checks([set('p1:0', 0, { completedAt: undefined, ok: undefined, killedAt: 2 }), get(undefined, 400)]), []);
    });

    it('holds getSync to writes of its own machine only (it never reads Redis), get to every machine', () => {
      const history = [set('p1:0', 0, { completedAt: 5 })];
      assert.deepEqual(checks([...history, getSync(undefined, 2_000, { machine: 'm1', process: 'p3' })]), []);
      assert.deepEqual(checks([...history, get(undefined, 2_000, { machine: 'm1', process: 'p3' })]), ['lost-write']);
      assert.deepEqual(checks([...history, get(undefined, 900, { machine: 'm1', process: 'p3' })]), []);
    });

    it('lets a getSync miss after a change made on another machine just before the set (its invalidation may drop the newer local copy); a get must still find it', () => {
      const history = [del(-20, { completedAt: -5, machine: 'm1', process: 'p3' }), set('p1:0', 0, { completedAt: 5 })];
      assert.deepEqual(checks([...history, getSync(undefined, 400, { process: 'p2' })]), []);
      assert.deepEqual(checks([...history, get(undefined, 400, { process: 'p2' })]), ['lost-write']);
      const longBefore = [del(-2_000, { completedAt: -1_500, machine: 'm1', process: 'p3' }), set('p1:0', 0, { completedAt: 5 })];
      assert.deepEqual(checks([...longBefore, getSync(undefined, 400, { process: 'p2' })]), ['lost-write']);
    });

    it('flags an older value read instead of the set (as stale and as lost)', () => {
      const history = [set('p1:0', 0, { completedAt: 5 }), set('p1:1', 10, { completedAt: 15 }), get('p1:0', 400, { process: 'p2' })];
      assert.deepEqual(checks(history).sort(), ['lost-write', 'stale-read']);
    });
  });
});
