// Coherence of one machine's processes sharing one LMDB file: writes made together must all
// reach the other processes' memory copies, and a write that lands while a compute of its key
// runs (here or in another process) must win over that compute's result, while a compute that
// began after the write must still be stored. Real child processes, real LMDB files; every
// check waits for its condition within a generous bound and asserts the outcome, never a
// latency.
import assert from 'node:assert/strict';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { test, type TestContext } from 'node:test';
import { createCache, type Cache } from '../../src/index.js';
import {
  startCoherenceWorker,
  type BeginReply,
  type CacheConfig,
  type CoherenceConfig,
  type CoherenceWorker,
  type KeyRef,
  type ManyReply,
  type ReleaseReply,
} from '../fixtures/coherence-worker.js';
import { tempDir } from '../helpers/tmp.js';

const TTL = 60_000;
/** How long a change may take to reach every process: far over the documented ~20 ms plus a commit, for a loaded machine. */
const SETTLE_MS = 2_000;
/** How long a converged value must then stay put: a late write-back would show within this. */
const STAY_MS = 300;
const POLL_MS = 10;

/** A temporary LMDB directory and workers on it, all killed and removed after the test. */
async function machine(t: TestContext, configs: ReadonlyArray<Omit<CoherenceConfig, 'path'>>): Promise<{ path: string; workers: CoherenceWorker[] }> {
  const dir = tempDir('herdcache-coherence');
  const started: CoherenceWorker[] = [];
  t.after(async () => {
    await Promise.all(started.map((w) => w.kill('SIGKILL')));
    dir.cleanup();
  });
  for (const config of configs) started.push(await startCoherenceWorker({ path: dir.path, ttl: TTL, ...config }));
  return { path: dir.path, workers: started };
}

/** Starts one more worker on `path`, killed after the test. */
async function another(t: TestContext, path: string, config: Omit<CoherenceConfig, 'path'>): Promise<CoherenceWorker> {
  const worker = await startCoherenceWorker({ path, ttl: TTL, ...config });
  t.after(() => worker.kill('SIGKILL'));
  return worker;
}

/** Reads until `done` holds or `withinMs` passed; returns the last reading and whether it held. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, withinMs = SETTLE_MS): Promise<{ last: T; met: boolean }> {
  const start = Date.now();
  for (;;) {
    const last = await read();
    if (done(last)) return { last, met: true };
    if (Date.now() - start >= withinMs) return { last, met: false };
    await sleep(POLL_MS);
  }
}

/** Reads every POLL_MS for `ms`; returns every reading. */
async function sample<T>(read: () => Promise<T>, ms = STAY_MS): Promise<T[]> {
  const readings: T[] = [];
  const start = Date.now();
  do {
    readings.push(await read());
    await sleep(POLL_MS);
  } while (Date.now() - start < ms);
  return readings;
}

function getSyncMany(worker: CoherenceWorker, refs: readonly KeyRef[]): Promise<unknown[]> {
  return worker.call({ op: 'getSyncMany', refs }) as Promise<unknown[]>;
}

function getMany(worker: CoherenceWorker, refs: readonly KeyRef[]): Promise<unknown[]> {
  return worker.call({ op: 'getMany', refs }) as Promise<unknown[]>;
}

async function memoryHits(worker: CoherenceWorker, caches: readonly string[]): Promise<number> {
  let sum = 0;
  for (const cache of caches) sum += (await worker.call({ op: 'memoryHits', cache })) as number;
  return sum;
}

/**
 * For each process, waits until every key reads as expected, then checks that it stays so.
 * Returns the indexes of the keys that were wrong for anyone at any point after the wait, with
 * what was read.
 */
async function converged(readers: ReadonlyArray<{ name: string; read: () => Promise<unknown[]> }>, expected: readonly unknown[]): Promise<Map<number, string[]>> {
  const wrong = new Map<number, string[]>();
  const note = (name: string, values: unknown[], phase: string): void => {
    expected.forEach((want, i) => {
      if (isDeepStrictEqual(values[i], want)) return;
      const list = wrong.get(i) ?? [];
      list.push(`${name} ${phase}: ${JSON.stringify(values[i])}`);
      wrong.set(i, list);
    });
  };
  const readings = await Promise.all(
    readers.map(async (reader) => {
      const { last, met } = await until(reader.read, (values) => isDeepStrictEqual(values, expected));
      return { reader, last, met, later: met ? await sample(reader.read) : [] };
    }),
  );
  for (const { reader, last, met, later } of readings) {
    if (!met) note(reader.name, last, `after ${SETTLE_MS} ms`);
    for (const values of later) note(reader.name, values, 'later');
  }
  return wrong;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function summary(wrong: Map<number, string[]>, labels: readonly string[]): string {
  return [...wrong.entries()].map(([i, seen]) => `${labels[i] ?? i}: ${[...new Set(seen)].slice(0, 3).join('; ')}`).join('\n');
}

// ------------------------------------------------------------------------------------------

test('writes of two caches of one process committed in the same LMDB transactions all reach the memory copies another process holds', async (t) => {
  const caches: CacheConfig[] = [{ name: 'a', namespace: 'a' }, { name: 'b', namespace: 'b' }];
  const { workers } = await machine(t, [{ caches }, { caches }]);
  const [p0, p1] = workers as [CoherenceWorker, CoherenceWorker];
  // Interleaved a/b: both caches of P0 are at their n-th write in the same transaction.
  const refs: KeyRef[] = range(50).flatMap((i) => [{ cache: 'a', key: `k${i}` }, { cache: 'b', key: `k${i}` }]);
  const labels = refs.map((r) => `${r.cache}/${r.key}`);
  const olds = refs.map((r) => `old:${r.cache}:${r.key}`);
  const news = refs.map((r) => `new:${r.cache}:${r.key}`);
  await p0.call({ op: 'setMany', items: refs.map((r, i) => ({ ...r, value: olds[i] })) });

  // P1 must serve the old values from its memory tier: only a copy held there can hide a later
  // write. Its change-log poll may still drop each copy once for the write that created it, so
  // read until a full pass is answered from memory.
  const held = await until(async () => {
    const values = await getSyncMany(p1, refs);
    if (!isDeepStrictEqual(values, olds)) return false;
    const before = await memoryHits(p1, ['a', 'b']);
    const again = await getSyncMany(p1, refs);
    return isDeepStrictEqual(again, olds) && (await memoryHits(p1, ['a', 'b'])) === before + refs.length;
  }, (ok) => ok, 5_000);
  assert.ok(held.met, 'P1 never held all 100 old values in its memory tier');

  // All 100 at once, so lmdb-js commits both caches' writes together.
  await p0.call({ op: 'setMany', items: refs.map((r, i) => ({ ...r, value: news[i] })) });
  const { last } = await until(() => getSyncMany(p1, refs), (values) => isDeepStrictEqual(values, news), 5_000);
  const stale = refs.flatMap((_, i) => (isDeepStrictEqual(last[i], news[i]) ? [] : [labels[i] ?? '']));
  assert.equal(stale.length, 0, `${stale.length} of ${refs.length} keys still read old in P1 after 5000 ms: ${stale.slice(0, 10).join(', ')}${stale.length > 10 ? ', ...' : ''}`);
});

type RacingWrite = 'delete' | 'set' | 'clear';

/**
 * Process B computes a key while process A changes it; B's function returns only after A's
 * change committed. The change landed while the compute ran, so it must win everywhere.
 */
async function writeDuringRemoteCompute(t: TestContext, write: RacingWrite): Promise<void> {
  const trials = 20;
  // A clear removes its whole namespace: each trial gets its own, so no trial clears another's
  // key and hides its outcome.
  const caches: CacheConfig[] = write === 'clear' ? range(trials).map((i) => ({ name: `c${i}`, namespace: `c${i}` })) : [{ name: 'main' }];
  const { path, workers } = await machine(t, [{ caches }, { caches }]);
  const [a, b] = workers as [CoherenceWorker, CoherenceWorker];
  const refs: KeyRef[] = range(trials).map((i) => ({ cache: caches[write === 'clear' ? i : 0]!.name, key: `${write}:k${i}` }));
  const expected = refs.map(() => (write === 'set' ? 'from-A' : undefined));
  const callerGot: string[] = [];
  for (const [i, ref] of refs.entries()) {
    // Half the trials start from an expired value, half from nothing: both make B compute.
    if (i % 2 === 0) {
      await a.call({ op: 'set', ...ref, value: 'expired', ttl: 1 });
      await sleep(10);
    }
    const begun = (await b.call({ op: 'computeBegin', ...ref, gate: `g${i}` })) as BeginReply;
    assert.deepEqual(begun, { started: true }, `trial ${i}: B's compute did not run its function`);
    if (write === 'delete') await a.call({ op: 'delete', ...ref });
    else if (write === 'set') await a.call({ op: 'set', ...ref, value: 'from-A' });
    else await a.call({ op: 'clear', cache: ref.cache });
    const released = (await b.call({ op: 'computeRelease', gate: `g${i}`, value: 'from-B' })) as ReleaseReply;
    // The compute's own caller still gets what it computed.
    if (!isDeepStrictEqual(released.outcome, { ok: true, value: 'from-B' }) || released.runs !== 1) callerGot.push(`trial ${i}: ${JSON.stringify(released)}`);
  }
  assert.deepEqual(callerGot, [], 'B\'s compute did not resolve to its own value for its caller');
  await sleep(200);
  // A process that never held anything in memory shows what the file holds.
  const c = await another(t, path, { caches: caches.map((cc) => ({ ...cc, memory: false })) });
  const wrong = await converged(
    [
      { name: 'fresh C get', read: () => getMany(c, refs) },
      { name: 'A getSync', read: () => getSyncMany(a, refs) },
      { name: 'B getSync', read: () => getSyncMany(b, refs) },
    ],
    expected,
  );
  const what = write === 'set' ? "'from-A'" : 'undefined';
  assert.equal(wrong.size, 0, `${wrong.size} of ${trials} trials ended with B's result instead of ${what}:\n${summary(wrong, refs.map((r) => r.key))}`);
}

test('a delete committed in process A while process B computes the key wins: nobody reads B\'s result afterwards', async (t) => {
  await writeDuringRemoteCompute(t, 'delete');
});

test('a set committed in process A while process B computes the key wins: everybody reads A\'s value, never B\'s result', async (t) => {
  await writeDuringRemoteCompute(t, 'set');
});

test('a clear of the namespace committed in process A while process B computes a key of it wins: nobody reads B\'s result afterwards', async (t) => {
  await writeDuringRemoteCompute(t, 'clear');
});

// ------------------------------------------------------------------------------------------

/** A cache with memory over LMDB in a temp dir, and a second cache on the same file reading LMDB only. */
function localPair(t: TestContext): { cache: Cache; reader: Cache } {
  const dir = tempDir('herdcache-coherence-local');
  const cache = createCache({ lmdb: { path: dir.path }, ttl: TTL });
  const reader = createCache({ lmdb: { path: dir.path }, memory: false, ttl: TTL });
  t.after(async () => {
    await cache.close();
    await reader.close();
    dir.cleanup();
  });
  return { cache, reader };
}

/** A compute whose function runs once it is called and returns what `release` gives it. */
function gatedCompute(cache: Cache, key: string): { result: Promise<unknown>; started: Promise<void>; release: (value: string) => void; settled: () => boolean; runs: () => number } {
  let release: (value: string) => void = () => undefined;
  const value = new Promise<string>((resolve) => {
    release = resolve;
  });
  let signal: () => void = () => undefined;
  const started = new Promise<void>((resolve) => {
    signal = resolve;
  });
  let runs = 0;
  let settled = false;
  const result = cache.compute(key, () => {
    runs++;
    signal();
    return value;
  });
  result.then(
    () => { settled = true; },
    () => { settled = true; },
  );
  return { result, started, release, settled: () => settled, runs: () => runs };
}

test('in one process, a delete issued while a compute of the key is still storing its result wins on every tier', async (t) => {
  const { cache, reader } = localPair(t);
  // The function's value arrives, then the delete is issued at a different point of the
  // compute's store in each trial: at once, some microtasks later, or one or more event-loop
  // turns later. The waits are written out here, not in a helper, so that each trial moves the
  // delete by exactly one microtask.
  const waits: Array<{ label: string; microtasks: number; turns: number }> = [
    ...range(31).map((n) => ({ label: `${n} microtasks`, microtasks: n, turns: 0 })),
    ...[1, 2, 3].map((n) => ({ label: `${n} setImmediate`, microtasks: 0, turns: n })),
  ];
  let hit = 0;
  let skipped = 0;
  const failed: string[] = [];
  for (const [i, { label, microtasks, turns }] of waits.entries()) {
    const key = `local-delete:${i}`;
    const compute = gatedCompute(cache, key);
    await compute.started;
    compute.release('computed');
    for (let m = 0; m < microtasks; m++) await null;
    for (let n = 0; n < turns; n++) await immediate();
    // Only a delete issued before the compute settled for its caller is bound to win.
    if (compute.settled()) {
      skipped++;
      await compute.result;
      continue;
    }
    hit++;
    const deleting = cache.delete(key);
    const [value] = await Promise.all([compute.result, deleting]);
    assert.equal(value, 'computed', `${label}: the compute's caller gets its own value`);
    const inProcess = cache.getSync(key);
    const inFile = await reader.get(key);
    if (inProcess !== undefined || inFile !== undefined) failed.push(`${label}: getSync ${JSON.stringify(inProcess)}, LMDB ${JSON.stringify(inFile)}`);
  }
  t.diagnostic(`${hit} trials issued the delete while the compute was storing, ${skipped} skipped (compute already settled)`);
  assert.ok(hit >= 10, `only ${hit} trials issued the delete before the compute settled`);
  assert.equal(failed.length, 0, `${failed.length} of ${hit} trials kept the computed value after the delete:\n${failed.join('\n')}`);
});

test('a write refused as not serializable does not supersede a running compute: its value is stored and its function ran once', async (t) => {
  const { cache, reader } = localPair(t);
  const compute = gatedCompute(cache, 'refused');
  await compute.started;
  // Refused before anything was written, so nothing newer than the compute exists.
  await assert.rejects(cache.set('refused', () => 1), (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, 'E_NOT_SERIALIZABLE');
    return true;
  });
  compute.release('computed');
  assert.equal(await compute.result, 'computed');
  assert.equal(compute.runs(), 1);
  assert.equal(cache.getSync('refused'), 'computed', 'the compute\'s value is in this process');
  assert.equal(await reader.get('refused'), 'computed', 'the compute\'s value is in the LMDB file');
  // A second compute is a hit: the function never runs again.
  let again = 0;
  assert.equal(await cache.compute('refused', () => ++again), 'computed');
  assert.equal(again, 0);
});

// ------------------------------------------------------------------------------------------

test('a compute in process B that started after process A\'s delete committed is stored as usual', async (t) => {
  const { path, workers } = await machine(t, [{}, {}]);
  const [a, b] = workers as [CoherenceWorker, CoherenceWorker];
  // How long B's function runs after it started: from "returns at once" to "B hears A's
  // delete through the change log before its compute finishes" (the case a rule that refuses
  // too much would get wrong).
  const holds = [0, 0, 50, 50, 250, 250];
  const refs = holds.map((_, i) => ({ key: `after-delete:${i}` }));
  const expected = holds.map((_, i) => `b${i}`);
  for (const [i, hold] of holds.entries()) {
    const ref = refs[i]!;
    await a.call({ op: 'set', ...ref, value: 'old' });
    await a.call({ op: 'delete', ...ref });
    const begun = (await b.call({ op: 'computeBegin', ...ref, gate: `g${i}` })) as BeginReply;
    assert.deepEqual(begun, { started: true }, `trial ${i}: B's compute found a value after A's delete`);
    if (hold > 0) await sleep(hold);
    const released = (await b.call({ op: 'computeRelease', gate: `g${i}`, value: expected[i] })) as ReleaseReply;
    assert.deepEqual(released, { outcome: { ok: true, value: expected[i] }, runs: 1 });
  }
  const reader = await another(t, path, { caches: [{ name: 'main', memory: false }] });
  const wrong = await converged(
    [
      { name: 'fresh reader get', read: () => getMany(reader, refs) },
      { name: 'A getSync', read: () => getSyncMany(a, refs) },
      { name: 'B getSync', read: () => getSyncMany(b, refs) },
    ],
    expected,
  );
  assert.equal(wrong.size, 0, `${wrong.size} of ${holds.length} computes begun after the delete were not stored:\n${summary(wrong, holds.map((h, i) => `trial ${i} (fn held ${h} ms)`))}`);
});

test('computes of keys nobody writes, in two processes at once, are stored while each process deletes other keys', async (t) => {
  const { path, workers } = await machine(t, [{}, {}]);
  const [a, b] = workers as [CoherenceWorker, CoherenceWorker];
  const n = 10;
  const computedBy = (who: string): KeyRef[] => range(n).map((i) => ({ key: `computed:${who}:${i}` }));
  const deletedBy = (who: string): KeyRef[] => range(n).map((i) => ({ key: `deleted:${who}:${i}` }));
  await a.call({ op: 'setMany', items: [...deletedBy('A'), ...deletedBy('B')].map((r) => ({ ...r, value: 'doomed' })) });
  // Functions run long enough for each process to hear the other's deletes while computing.
  const [fromA, fromB] = (await Promise.all([
    a.call({ op: 'computeMany', refs: computedBy('A'), prefix: 'A=', delayMs: 150, deletes: deletedBy('A') }),
    b.call({ op: 'computeMany', refs: computedBy('B'), prefix: 'B=', delayMs: 150, deletes: deletedBy('B') }),
  ])) as [ManyReply, ManyReply];
  assert.deepEqual(fromA.outcomes, computedBy('A').map((r) => ({ ok: true, value: `A=${r.key}` })));
  assert.deepEqual(fromB.outcomes, computedBy('B').map((r) => ({ ok: true, value: `B=${r.key}` })));
  assert.equal(fromA.runs + fromB.runs, 2 * n);
  const reader = await another(t, path, { caches: [{ name: 'main', memory: false }] });
  const refs = [...computedBy('A'), ...computedBy('B'), ...deletedBy('A'), ...deletedBy('B')];
  const expected = [...computedBy('A').map((r) => `A=${r.key}`), ...computedBy('B').map((r) => `B=${r.key}`), ...range(2 * n).map(() => undefined)];
  const wrong = await converged(
    [
      { name: 'fresh reader get', read: () => getMany(reader, refs) },
      { name: 'A getSync', read: () => getSyncMany(a, refs) },
      { name: 'B getSync', read: () => getSyncMany(b, refs) },
    ],
    expected,
  );
  assert.equal(wrong.size, 0, `${wrong.size} keys read wrong:\n${summary(wrong, refs.map((r) => r.key))}`);
});
