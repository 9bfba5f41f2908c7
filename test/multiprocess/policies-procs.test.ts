// Policies across real OS processes on one LMDB file, for what the in-process tests check with
// several caches in one process: XFetch's one background recompute per key across processes
// (property 14), a hard timeout in the lease holder, close() in a holder or in a waiter, and a
// value that cannot be stored computed under the lease while another process waits.
//
// Computes are held open on gates that the test opens, so every assertion is about order and
// outcome. The leases are long (a minute) wherever the point is that a waiter proceeds because
// the holder let go: only the release can wake it before the test's bound.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { acquireEnvironment, releaseEnvironment } from '../../src/tiers/lmdb/env.js';
import { linesOf, startProcWorker, type ComputeSpec, type PolicySpec, type ProcConfig, type ProcWorker } from '../fixtures/proc-worker.js';
import { until } from '../fixtures/policy-support.js';
import { tempDir } from '../helpers/tmp.js';

const started: ProcWorker[] = [];
const dirs: Array<{ cleanup: () => void }> = [];
after(async () => {
  await Promise.all(started.map((w) => w.kill('SIGKILL')));
  dirs.forEach((d) => d.cleanup());
});

/** A fresh LMDB directory and counter file, and a way to start workers on them. */
function rig(): { path: string; counterFile: string; start(config?: Partial<ProcConfig>): Promise<ProcWorker> } {
  const dir = tempDir('herdcache-procs');
  dirs.push(dir);
  const path = join(dir.path, 'lmdb');
  const counterFile = join(dir.path, 'computes.log');
  return {
    path,
    counterFile,
    async start(config = {}) {
      const worker = await startProcWorker({ path, counterFile, ...config });
      started.push(worker);
      return worker;
    },
  };
}

/** What a worker's compute replied. */
interface Ran {
  readonly value: unknown;
  readonly ran: boolean;
}

/** The worker's error as the test sees it. */
type WorkerError = Error & { code?: string; errorName?: string };

function codeIs(code: string): (error: WorkerError) => boolean {
  return (error) => {
    assert.equal(error.code, code, error.message);
    return true;
  };
}

/** Waits until `worker` counts a wait for another's lease. */
async function waitsForLease(worker: ProcWorker): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (((await worker.call({ op: 'stats' })) as { leaseWaits: number }).leaseWaits < 1) {
    if (Date.now() > deadline) assert.fail(`process ${worker.pid} never waited for the lease`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * The holder computes `report` (taking its lease) with `holding`, then the waiter in another
 * process asks for the same key; `waits`: once the waiter is seen waiting for the lease. Both
 * replies are observed at once, since either may reject while the test awaits another step; each
 * test asserts them.
 */
async function holderAndWaiter(counterFile: string, holder: ProcWorker, waiter: ProcWorker, holding: Omit<ComputeSpec, 'key' | 'tag'>, waits = true): Promise<{ held: Promise<unknown>; waited: Promise<unknown> }> {
  const held = holder.call({ op: 'compute', key: 'report', tag: 'holder', ...holding });
  held.catch(() => undefined);
  await until(() => linesOf(counterFile, 'holder').length === 1, 'the holder computes');
  const waited = waiter.call({ op: 'compute', key: 'report', value: 'from waiter', tag: 'waiter' }, 20_000);
  waited.catch(() => undefined);
  if (waits) await waitsForLease(waiter);
  return { held, waited };
}

/** Polls getSync in `worker` until it returns `expected`, within a generous bound. */
async function eventuallyReads(worker: ProcWorker, key: string, expected: unknown): Promise<void> {
  const deadline = Date.now() + 5_000;
  let last: unknown;
  while ((last = await worker.call({ op: 'getSync', key })) !== expected) {
    if (Date.now() > deadline) assert.fail(`process ${worker.pid} reads ${String(last)} for ${key}, not ${String(expected)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The record of a storage key in one of the file's databases, read through a fresh snapshot. */
async function stored(path: string, db: 'entries' | 'leases', storageKey: string): Promise<unknown> {
  const env = acquireEnvironment(path, 16 * 1024 * 1024);
  try {
    env.root.resetReadTxn();
    return env[db].get(storageKey);
  } finally {
    await releaseEnvironment(env);
  }
}

const MINUTE = 60_000;
const barrierLong: PolicySpec = { name: 'barrier', lease: MINUTE, maxWait: MINUTE };

describe('xfetch across processes (property 14)', () => {
  it('3 processes hammering a key that triggers on every hit: one background recompute per window, every call answered with the current value while it runs', async () => {
    const { path, counterFile, start } = rig();
    // delta >= 300 ms and ln(r) = -36: every fresh hit triggers (36 x 300 ms > ttl).
    const ttl = 10_000;
    const config: Partial<ProcConfig> = { ttl, random: 'trigger', policies: [{ name: 'xfetch', beta: 1 }, { name: 'barrier', lease: 20_000, maxWait: 20_000 }] };
    const workers = await Promise.all([start(config), start(config), start(config)]);
    const first = workers[0]!;
    assert.deepEqual(await first.call({ op: 'compute', key: 'page', value: 'v0', tag: 'seed', ms: 300 }), { value: 'v0', ran: true });

    for (const round of [1, 2]) {
      const tag = `round${round}`;
      const current = `v${round - 1}`;
      // Each process keeps calling until a refresh has started somewhere, then 10 calls more, each
      // one more trigger: a refresh that held no lease would have started in every process.
      const hammers = (await Promise.all(workers.map((w) => w.call({ op: 'hammer', key: 'page', value: `v${round}`, tag, gate: tag, ms: 300, calls: 5, after: 10, pause: 10 }, 20_000)))) as Array<{ values: unknown[]; ran: number }>;
      // Every call of every process has resolved, and the refresh is still held on its gate:
      // they resolved before it finished, with the current value.
      for (const hammer of hammers) for (const value of hammer.values) assert.equal(value, current);
      const lines = linesOf(counterFile, tag);
      assert.equal(lines.filter((l) => l.startsWith('start')).length, 1, `${tag}: one background recompute across the processes, not ${lines.join(', ')}`);
      assert.deepEqual(lines.filter((l) => l.startsWith('end')), [], `${tag}: the refresh had not finished when the callers were answered`);
      assert.equal(hammers.reduce((sum, h) => sum + h.ran, 0), 1);

      for (const w of workers) await w.call({ op: 'open', gate: tag });
      await until(() => linesOf(counterFile, tag).some((l) => l.startsWith('end')), `${tag}: the refresh finished`, 5_000);
      const deadline = Date.now() + 5_000;
      let entry: { value?: unknown; storedAt: number; freshUntil: number; delta: number } | undefined;
      do {
        entry = (await stored(path, 'entries', '5:procs:page')) as typeof entry;
        if (entry?.value === `v${round}`) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      } while (Date.now() < deadline);
      assert.equal(entry?.value, `v${round}`, `${tag}: the refreshed value was stored`);
      // After it, delta is the measured compute time (the gate and 300 ms) and the expiry is store time + ttl.
      assert.ok(entry.delta >= 300, `delta ${entry.delta}`);
      assert.equal(entry.freshUntil, entry.storedAt + ttl);
      // Every process reads the new value before the next round (its memory copy of the old one
      // is dropped within its change-log poll).
      for (const w of workers) await eventuallyReads(w, 'page', `v${round}`);
    }
    assert.deepEqual(workers.flatMap((w) => w.unhandled), []);
  });
});

describe('a hard timeout in the lease holder, across processes', () => {
  it('the holder times out and its compute honours the signal: the holder gets HardTimeoutError, the lease is let go, and the waiter in another process computes at once', async () => {
    const { path, counterFile, start } = rig();
    const holder = await start({ policies: [{ name: 'timeouts', hard: 2_000 }, barrierLong] });
    const waiter = await start({ policies: [barrierLong] });
    const { held, waited } = await holderAndWaiter(counterFile, holder, waiter, { value: 'never', gate: 'never' });
    await assert.rejects(held, codeIs('E_HARD_TIMEOUT'));
    // The lease lasts a minute: only its release can have let the waiter compute now.
    assert.deepEqual(await waited, { value: 'from waiter', ran: true });
    assert.deepEqual(linesOf(counterFile, 'holder'), [`start ${holder.pid}`, `end ${holder.pid}`], 'the aborted compute stopped');
    assert.equal(((await stored(path, 'entries', '5:procs:report')) as { value: unknown }).value, 'from waiter', "only the waiter's value was stored");
    assert.equal(await stored(path, 'leases', '5:procs:report'), undefined, 'no lease is left behind');
    assert.deepEqual([...holder.unhandled, ...waiter.unhandled], []);
  });

  it('the holder times out and its compute ignores the signal and never settles: the holder gets HardTimeoutError; the waiter takes the lease over once it expires, computes, and reports lease-takeover with the key', async () => {
    const { path, counterFile, start } = rig();
    const lease = 1_500;
    const holder = await start({ policies: [{ name: 'timeouts', hard: 500 }, { name: 'barrier', lease, maxWait: MINUTE }] });
    const waiter = await start({ policies: [{ name: 'barrier', lease, maxWait: MINUTE }] });
    const { held, waited } = await holderAndWaiter(counterFile, holder, waiter, { value: 'never', gate: 'never', honourSignal: false }, false);
    await assert.rejects(held, codeIs('E_HARD_TIMEOUT'));
    assert.deepEqual(await waited, { value: 'from waiter', ran: true });
    assert.deepEqual(linesOf(counterFile, 'holder'), [`start ${holder.pid}`], 'the abandoned compute still runs');
    const heard = (await waiter.call({ op: 'events' })) as { events: Array<{ name: string; key?: string }> };
    assert.deepEqual(heard.events.filter((e) => e.name === 'lease-takeover'), [{ name: 'lease-takeover', key: 'report' }]);
    assert.equal(((await stored(path, 'entries', '5:procs:report')) as { value: unknown }).value, 'from waiter');
    assert.deepEqual([...holder.unhandled, ...waiter.unhandled], []);
  });
});

describe('close() across processes', () => {
  it('the lease holder closes while another process waits: the holder\'s caller gets AbortedError, the lease is let go, and the waiter computes at once', async () => {
    const { path, counterFile, start } = rig();
    const holder = await start({ policies: [barrierLong] });
    const waiter = await start({ policies: [barrierLong] });
    const { held, waited } = await holderAndWaiter(counterFile, holder, waiter, { value: 'never', gate: 'never' });
    await holder.call({ op: 'close' });
    await assert.rejects(held, codeIs('E_ABORTED'));
    assert.deepEqual(await waited, { value: 'from waiter', ran: true });
    assert.equal(await stored(path, 'leases', '5:procs:report'), undefined, 'no lease is left behind');
    assert.deepEqual([...holder.unhandled, ...waiter.unhandled], []);
  });

  it('a waiting process closes: its caller gets AbortedError at once, and the holder in another process goes on, stores and is read by a third', async () => {
    const { counterFile, start } = rig();
    const holder = await start({ policies: [barrierLong] });
    const waiter = await start({ policies: [barrierLong] });
    const { held, waited } = await holderAndWaiter(counterFile, holder, waiter, { value: 'from holder', gate: 'go' });
    await waiter.call({ op: 'close' });
    await assert.rejects(waited, codeIs('E_ABORTED'));
    await holder.call({ op: 'open', gate: 'go' });
    assert.deepEqual(await held, { value: 'from holder', ran: true });
    const reader = await start();
    await eventuallyReads(reader, 'report', 'from holder');
    assert.deepEqual(linesOf(counterFile, 'waiter'), [], 'the closed waiter never computed');
  });

  it('closing never loses a committed set: close() resolves after a set still in flight commits, and that set and one seen by another process are read by a process started after the writer was killed', async () => {
    const { start } = rig();
    const writer = await start();
    const other = await start();
    await writer.call({ op: 'set', key: 'seen', value: 'one' });
    await eventuallyReads(other, 'seen', 'one');
    assert.equal(await writer.call({ op: 'setThenClose', key: 'last', value: 'in flight' }), 'committed', 'close() resolved only after the set in flight had committed');
    await writer.kill('SIGKILL');
    const later = await start();
    assert.equal(await later.call({ op: 'getSync', key: 'seen' }), 'one');
    assert.equal(await later.call({ op: 'getSync', key: 'last' }), 'in flight');
  });
});

describe('a value that cannot be stored, computed under the lease while another process waits', () => {
  for (const unstorable of ['function', 'symbol'] as const) {
    it(`an object holding a ${unstorable}: the holder gets NotSerializableError, the waiter in another process computes at once, and no lease is left behind`, async () => {
      const { path, counterFile, start } = rig();
      const holder = await start({ policies: [barrierLong] });
      const waiter = await start({ policies: [barrierLong] });
      const { held, waited } = await holderAndWaiter(counterFile, holder, waiter, { gate: 'go', unstorable });
      await holder.call({ op: 'open', gate: 'go' });
      await assert.rejects(held, (error: WorkerError) => {
        assert.equal(error.code, 'E_NOT_SERIALIZABLE', error.message);
        assert.equal(error.errorName, 'NotSerializableError');
        assert.match(error.message, unstorable === 'function' ? /render/ : /tag/, 'the message names where the value is');
        return true;
      });
      // The lease lasts a minute: only its release can have let the waiter compute now.
      assert.deepEqual(await waited, { value: 'from waiter', ran: true });
      assert.equal(((await stored(path, 'entries', '5:procs:report')) as { value: unknown }).value, 'from waiter');
      assert.equal(await stored(path, 'leases', '5:procs:report'), undefined, 'no lease is left behind');
      assert.deepEqual([...holder.unhandled, ...waiter.unhandled], []);
    });
  }
});
