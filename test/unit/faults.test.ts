// Faults of the compute function, with real components (an LMDB file shared by two caches that
// stand for two processes, barrier leases in it): a compute that throws, one that hangs (bounded
// by timeouts({ hard }), or cut short by close()), one that returns a value that cannot be
// stored. Each time: the caller gets a typed error (or the function's own), nothing is stored,
// the lease is released so the next caller is not held up, and no rejection goes unhandled
// (the test runner fails the file on one).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { barrier, coalesce, createCache, errors, timeouts, type Cache, type ComputeContext, type Policy } from '../../src/index.js';
import { acquireEnvironment, releaseEnvironment } from '../../src/tiers/lmdb/env.js';
import { manualClock, type ManualClock } from '../helpers/clock.js';
import { tempDir } from '../helpers/tmp.js';
import { deferred, settledWithin, PENDING, turns, until, within } from '../fixtures/policy-support.js';

/** Real-time bound on every wait: generous, a correct run takes milliseconds. */
const BOUND_MS = 5_000;
/** Leases that never expire during a test: a caller let through got there by a release. */
const LONG_LEASE = 600_000;
/**
 * The hard timeout of the hanging computes: it runs from the call, lease included, so it must
 * leave a busy machine time to take the lease and start the function the test watches.
 */
const HARD_MS = 400;

const dirs: Array<{ cleanup: () => void }> = [];
after(() => dirs.forEach((d) => d.cleanup()));

/** Two caches on one fresh LMDB file (two processes, as far as leases go) and a raw view of the file. */
function pair(clock: ManualClock, first: readonly Policy[], second: readonly Policy[] = [barrier({ lease: LONG_LEASE })]): { a: Cache; b: Cache; file: RawFile; close(): Promise<void> } {
  const dir = tempDir('herdcache-faults');
  dirs.push(dir);
  const options = { ttl: 1_000, maxAge: 10_000, clock, lmdb: { path: dir.path } };
  const a = createCache({ ...options, policies: first });
  const b = createCache({ ...options, policies: second });
  const file = rawFile(dir.path);
  return {
    a,
    b,
    file,
    async close() {
      await file.close();
      await a.close();
      await b.close();
    },
  };
}

interface RawFile {
  /** The entry record the file holds for a key of the default namespace. */
  entry(key: string): { value: unknown; storedAt: number } | undefined;
  /** The lease record the file holds for a key. */
  lease(key: string): { token: string; expiresAt: number } | undefined;
  close(): Promise<void>;
}

/** The LMDB environment the caches use (one per path per process), read directly. */
function rawFile(path: string): RawFile {
  const env = acquireEnvironment(path, 16 * 1024 * 1024);
  return {
    entry(key) {
      env.root.resetReadTxn();
      return env.entries.get(`0::${key}`) as { value: unknown; storedAt: number } | undefined;
    },
    lease(key) {
      env.root.resetReadTxn();
      return env.leases.get(`0::${key}`);
    },
    close: () => releaseEnvironment(env),
  };
}

/** A compute held open until the test says, counting its runs and keeping its signal. */
function held<T>(outcome: () => T): { fn: (ctx: ComputeContext<unknown>) => Promise<T>; release(): void; runs(): number; signal(): AbortSignal | undefined } {
  const gate = deferred();
  let runs = 0;
  let signal: AbortSignal | undefined;
  return {
    fn: async (ctx) => {
      runs++;
      signal = ctx.signal;
      await gate.promise;
      return outcome();
    },
    release: () => gate.resolve(),
    runs: () => runs,
    signal: () => signal,
  };
}

describe('fault: a compute that throws', () => {
  it('every coalesced caller gets the very error, nothing is stored (the older value stays), and the lease is released at once so a caller waiting in another process computes without waiting for expiry', async () => {
    const clock = manualClock();
    const { a, b, file, close } = pair(clock, [coalesce(), barrier({ lease: LONG_LEASE })]);
    try {
      await a.set('k', 'old');
      const old = file.entry('k');
      clock.advance(1_500); // stale, still kept
      const boom = new Error('boom');
      const failing = held(() => { throw boom; });
      const callers = [a.compute('k', failing.fn), a.compute('k', failing.fn), a.compute('k', failing.fn)];
      await until(() => failing.runs() === 1, 'the failing compute holds the lease', BOUND_MS);
      assert.ok(file.lease('k') !== undefined, 'the failing compute runs under the lease');

      const waiting = held(() => 'from b');
      const other = b.compute('k', waiting.fn);
      await until(() => b.stats().leaseWaits === 1, 'the other process waits for the lease', BOUND_MS);

      failing.release();
      for (const caller of callers) await assert.rejects(within(caller, BOUND_MS, 'a failing caller'), (err) => err === boom);
      assert.equal(failing.runs(), 1, 'the function ran once for the three callers');
      // The waiter takes the released lease and runs its own compute, on the same clock: no expiry involved.
      await until(() => waiting.runs() === 1, 'the waiter computes after the release', BOUND_MS);
      assert.deepEqual(file.entry('k'), old, 'the failed compute stored nothing; the older value is untouched');
      waiting.release();
      assert.equal(await within(other, BOUND_MS, 'the waiter'), 'from b');
      assert.equal(file.entry('k')?.value, 'from b');
      assert.equal(file.lease('k'), undefined, 'no lease left behind');
      assert.equal(a.stats().computeErrors, 1);
    } finally {
      await close();
    }
  });
});

describe('fault: a compute that hangs', () => {
  it('timeouts({ hard }) rejects with HardTimeoutError (E_HARD_TIMEOUT) and aborts its signal; a compute that honours the signal frees the lease at once and stores nothing', async () => {
    const clock = manualClock();
    const { a, b, file, close } = pair(clock, [timeouts({ hard: HARD_MS }), barrier({ lease: LONG_LEASE })]);
    try {
      let signal: AbortSignal | undefined;
      const hanging = a.compute('k', (ctx) => {
        signal = ctx.signal;
        return new Promise<string>((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)));
      });
      await assert.rejects(within(hanging, BOUND_MS, 'the hard timeout'), (err: unknown) => {
        assert.ok(err instanceof errors.HardTimeoutError);
        assert.equal(err.code, 'E_HARD_TIMEOUT');
        assert.equal(err.key, 'k');
        return true;
      });
      assert.equal(signal?.aborted, true, 'the compute signal was aborted');
      assert.ok(signal?.reason instanceof errors.HardTimeoutError);
      await until(() => file.lease('k') === undefined, 'the lease is released', BOUND_MS);
      assert.equal(file.entry('k'), undefined, 'nothing stored');
      // The next caller, in another process, computes at once.
      assert.equal(await within(b.compute('k', () => 'next'), BOUND_MS, 'the next caller'), 'next');
      assert.equal(b.stats().leaseWaits, 0);
      assert.equal(a.stats().hardTimeouts, 1);
    } finally {
      await close();
    }
  });

  it('a compute that ignores its aborted signal: the caller still gets HardTimeoutError in time; the late value is never stored, its failure is counted as a background error, and the lease is released when it finally settles', async () => {
    const clock = manualClock();
    const { a, b, file, close } = pair(clock, [timeouts({ hard: HARD_MS }), barrier({ lease: LONG_LEASE })]);
    try {
      const late = held(() => 'late');
      await assert.rejects(within(a.compute('k', late.fn), BOUND_MS, 'the hard timeout'), errors.HardTimeoutError);
      assert.equal(late.signal()?.aborted, true);
      // Still running, so still under its lease: another process waits for it.
      assert.ok(file.lease('k') !== undefined);
      const other = b.compute('k', () => 'from b');
      assert.equal(await settledWithin(other, 30), PENDING, 'the other process waits while the abandoned compute holds the lease');
      late.release();
      assert.equal(await within(other, BOUND_MS, 'the waiter'), 'from b', 'the late value was not stored: the waiter computed its own');
      await until(() => a.stats().backgroundErrors === 1, 'the abandoned compute is counted', BOUND_MS);
      assert.equal(file.entry('k')?.value, 'from b');
      assert.equal(file.lease('k'), undefined);
    } finally {
      await close();
    }
  });

  it('close() with a compute that honours its signal resolves in time; the pending compute and a caller queued behind it reject with AbortedError (E_ABORTED); nothing is stored and the lease is released', async () => {
    const clock = manualClock();
    // A short lease: it also bounds, in real time, how long the queued caller would wait for
    // the key's in-process lock if the compute never gave it up (the clock never reaches it).
    const { a, file, close } = pair(clock, [barrier({ lease: 2_000 })]);
    try {
      let signal: AbortSignal | undefined;
      let runs = 0;
      const fn = (ctx: ComputeContext<unknown>): Promise<string> => {
        runs++;
        signal = ctx.signal;
        return new Promise<string>((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)));
      };
      const pending = a.compute('k', fn);
      const queued = a.compute('k', fn);
      await until(() => runs === 1, 'the compute runs', BOUND_MS);
      await within(a.close(), BOUND_MS, 'close()');
      assert.equal(signal?.aborted, true);
      for (const caller of [pending, queued]) {
        await assert.rejects(within(caller, BOUND_MS, 'a pending caller'), (err: unknown) => {
          assert.ok(err instanceof errors.AbortedError, `got ${String(err)}`);
          assert.equal(err.code, 'E_ABORTED');
          return true;
        });
      }
      assert.equal(runs, 1, 'the queued caller did not start a compute on a closing cache');
      assert.equal(file.entry('k'), undefined, 'nothing stored');
      assert.equal(file.lease('k'), undefined, 'the lease was released');
    } finally {
      await close();
    }
  });

  it('close() with a compute that never settles and ignores its signal resolves in time and rejects the pending compute with AbortedError (E_ABORTED)', async () => {
    const clock = manualClock();
    const { a, file, close } = pair(clock, [barrier({ lease: LONG_LEASE })]);
    try {
      const hanging = held(() => 'never');
      const pending = a.compute('k', hanging.fn);
      await until(() => hanging.runs() === 1, 'the compute runs', BOUND_MS);
      await within(a.close(), BOUND_MS, 'close()');
      assert.equal(hanging.signal()?.aborted, true);
      await assert.rejects(within(pending, 1_000, 'the pending compute after close()'), (err: unknown) => err instanceof errors.AbortedError && err.code === 'E_ABORTED');
      assert.equal(file.entry('k'), undefined);
    } finally {
      await close();
    }
  });
});

describe('fault: a compute that returns a value that cannot be stored', () => {
  it('every coalesced caller gets NotSerializableError (E_NOT_SERIALIZABLE) naming the path, nothing is stored, and the lease is released so a caller waiting in another process computes at once', async () => {
    const clock = manualClock();
    const { a, b, file, close } = pair(clock, [coalesce(), barrier({ lease: LONG_LEASE })]);
    try {
      const bad = held(() => ({ ok: 1, render: () => 'html' }));
      const callers = [a.compute('k', bad.fn), a.compute('k', bad.fn)];
      await until(() => bad.runs() === 1, 'the compute holds the lease', BOUND_MS);
      const waiting = held(() => 'from b');
      const other = b.compute('k', waiting.fn);
      await until(() => b.stats().leaseWaits === 1, 'the other process waits', BOUND_MS);

      bad.release();
      const failures = await Promise.all(callers.map((c) => within(c, BOUND_MS, 'a caller').then(() => undefined, (err: unknown) => err)));
      for (const err of failures) {
        assert.ok(err instanceof errors.NotSerializableError, `got ${String(err)}`);
        assert.equal(err.code, 'E_NOT_SERIALIZABLE');
        assert.equal(err.path, 'render');
      }
      assert.equal(failures[0], failures[1], 'coalesced callers share the one error');
      await until(() => waiting.runs() === 1, 'the waiter computes after the release', BOUND_MS);
      assert.equal(file.entry('k'), undefined, 'nothing stored');
      waiting.release();
      assert.equal(await within(other, BOUND_MS, 'the waiter'), 'from b');
      assert.equal(await within(a.compute('k', () => 'again'), BOUND_MS, 'the next caller'), 'from b', 'the next caller here is served the good value');
      assert.equal(file.lease('k'), undefined);
    } finally {
      await close();
    }
  });

  const unstorable: Array<[string, () => unknown]> = [
    ['a function', () => () => 1],
    ['a symbol inside an array', () => [1, Symbol('s')]],
    ['a class instance', () => new (class Widget { size = 1; })()],
    ['a cycle', () => { const o: { self?: unknown } = {}; o.self = o; return o; }],
    ['-0', () => -0],
  ];
  for (const [what, make] of unstorable) {
    it(`${what}: NotSerializableError, nothing kept in memory or the file, and the next compute of the key runs at once`, async () => {
      const clock = manualClock();
      const { a, file, close } = pair(clock, [barrier({ lease: LONG_LEASE })]);
      try {
        await assert.rejects(within(a.compute('k', make), BOUND_MS, 'the compute'), errors.NotSerializableError);
        await turns();
        assert.equal(a.getSync('k'), undefined);
        assert.equal(file.entry('k'), undefined);
        assert.equal(file.lease('k'), undefined, 'the lease was released');
        assert.equal(await within(a.compute('k', () => 'good'), BOUND_MS, 'the next compute'), 'good');
        assert.equal(a.stats().leaseWaits, 0, 'nobody waited for a lease left behind');
      } finally {
        await close();
      }
    });
  }
});
