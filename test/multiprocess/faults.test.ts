// Faults with real processes on one LMDB file (issue 4). A process killed with SIGKILL in the
// middle of its writes: each of its writes is all-or-nothing in the file (the entry, its by-age
// index row and its change-log record exist together or not at all), the writes it had started
// land in order, and another process's committed sets are intact. A full disk (a child under
// `ulimit -f`): a set fails with StorageError (E_STORAGE) and the same cache keeps serving the
// values committed before, through getSync, get and compute, with no unhandled rejection.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import { createCache } from '../../src/index.js';
import { bootId } from '../../src/tiers/lmdb/boot.js';
import { openEntries } from '../../src/tiers/lmdb/seal.js';
import { startEngineWorker, type EngineWorker } from '../fixtures/engine-worker.js';
import { startFaultWorker, type FaultWorker, type WorkerError } from '../fixtures/fault-worker.js';
import { tempDir } from '../helpers/tmp.js';

const PAYLOAD_BYTES = 64 * 1024;

/** What the file holds, read with lmdb directly (the databases named in src/tiers/lmdb/env.ts). */
interface FileContents {
  /** storage key -> storedAt of the decoded entry record (or 'corrupt'). */
  readonly entries: Map<string, number | 'corrupt'>;
  /** storage key -> storedAt of each by-age index row. */
  readonly byAge: Map<string, number[]>;
  /** storage keys named by change-log records. */
  readonly changed: Set<string>;
}

async function readFile(path: string): Promise<FileContents> {
  const root = open({ path, maxDbs: 12 });
  try {
    // The entries database as the tier opens it: sealed msgpackr records with shared structures.
    const entriesDb = openEntries(root);
    const byAgeDb = root.openDB<number, [number, string]>('by-age', {});
    const changesDb = root.openDB<{ k?: string }, number>('change-log', {});
    const entries = new Map<string, number | 'corrupt'>();
    for (const key of entriesDb.getKeys({})) {
      if (typeof key !== 'string') continue; // msgpackr's shared structures record
      let record: unknown;
      try {
        record = entriesDb.get(key);
      } catch {
        record = undefined;
      }
      const storedAt = (record as { storedAt?: unknown } | undefined)?.storedAt;
      entries.set(key, typeof storedAt === 'number' ? storedAt : 'corrupt');
    }
    const byAge = new Map<string, number[]>();
    for (const [storedAt, key] of byAgeDb.getKeys({})) byAge.set(key, [...(byAge.get(key) ?? []), storedAt]);
    const changed = new Set<string>();
    for (const { value } of changesDb.getRange({})) if (value.k !== undefined) changed.add(value.k);
    return { entries, byAge, changed };
  } finally {
    await root.close();
  }
}

/**
 * Sets ever smaller values until even a 16-byte write finds no room in the file; resolves with
 * the keys that were written.
 */
async function fillToTheBrim(worker: FaultWorker): Promise<string[]> {
  const written: string[] = [];
  let full = false;
  for (const bytes of [16 * 1024, 2 * 1024, 256, 16]) {
    full = false;
    for (let i = 0; i < 3_000 && !full; i++) {
      const key = `fill-${bytes}-${i}`;
      full = await worker.call({ op: 'set', key, bytes }).then(() => false, (err: WorkerError) => err.code === 'E_STORAGE');
      if (!full) written.push(key);
    }
  }
  assert.ok(full, 'the file filled up');
  return written;
}

describe('faults with real processes', () => {
  it('a process killed with SIGKILL in the middle of a write loop: each of its writes is all-or-nothing (entry, by-age row and change record together), they land in order, and the other process\'s committed sets are intact', async (t) => {
    const dir = tempDir('herdcache-kill');
    const workers: EngineWorker[] = [];
    t.after(async () => {
      await Promise.all(workers.map((w) => w.kill('SIGKILL')));
      dir.cleanup();
    });
    const writer = await startEngineWorker({ path: dir.path });
    workers.push(writer);
    const acknowledged = 20;
    const victims = ['v0:', 'v1:', 'v2:'];
    let kept = 0;
    for (const [round, prefix] of victims.entries()) {
      const victim = await startEngineWorker({ path: dir.path });
      workers.push(victim);
      // The victim acknowledges some sets, then keeps four 64 KiB writes in flight at all times.
      const started = victim.call({ op: 'writeLoop', prefix, bytes: PAYLOAD_BYTES, committed: acknowledged });
      // Meanwhile, and while the victim dies, the other process commits its own sets, each
      // acknowledged before the next.
      let stop = false;
      const writing = (async () => {
        while (!stop) {
          await writer.call({ op: 'set', key: `kept:${kept}`, value: { kept, text: 'x'.repeat(300) } });
          kept++;
        }
      })();
      await started;
      // Kill it at a different moment of its loop each round.
      await sleep(5 + round * 15);
      await victim.kill('SIGKILL');
      assert.equal((await victim.exited).signal, 'SIGKILL');
      await sleep(10);
      stop = true;
      await writing;
      // The survivor still commits after the crash: the dead writer held no lock for ever.
      await writer.call({ op: 'set', key: `after:${round}`, value: round });
    }
    await writer.call({ op: 'close' });
    await writer.exited;

    const file = await readFile(dir.path);
    for (const prefix of victims) {
      const storageKey = (i: number): string => `0::${prefix}${i}`;
      const written = [...file.entries.keys()].filter((k) => k.startsWith(`0::${prefix}`));
      const indexed = [...file.byAge.keys()].filter((k) => k.startsWith(`0::${prefix}`));
      const logged = [...file.changed].filter((k) => k.startsWith(`0::${prefix}`));
      // All or nothing: the three records of one set exist together.
      assert.deepEqual(new Set(indexed), new Set(written), `${prefix} by-age rows and entries differ`);
      assert.deepEqual(new Set(logged), new Set(written), `${prefix} change records and entries differ`);
      for (const key of written) {
        const storedAt = file.entries.get(key);
        assert.notEqual(storedAt, 'corrupt', `${key} does not decode`);
        assert.deepEqual(file.byAge.get(key), [storedAt], `${key}: its by-age row has another storedAt`);
      }
      // In order: what landed is a prefix of the loop, at least the acknowledged part.
      assert.ok(written.length >= acknowledged, `${prefix}: only ${written.length} of the ${acknowledged} acknowledged sets are there`);
      for (let i = 0; i < written.length; i++) assert.ok(file.entries.has(storageKey(i)), `${prefix}${i} is missing though ${written.length} writes landed`);
    }
    for (let i = 0; i < kept; i++) {
      assert.ok(typeof file.entries.get(`0::kept:${i}`) === 'number', `kept:${i}, acknowledged to the other process, is gone`);
      assert.deepEqual(file.byAge.get(`0::kept:${i}`)?.length, 1);
    }

    // And every value reads back whole through a fresh cache (no memory tier) in this process.
    const cache = createCache({ lmdb: { path: dir.path }, memory: false });
    try {
      for (let i = 0; i < kept; i++) assert.deepEqual(cache.getSync(`kept:${i}`), { kept: i, text: 'x'.repeat(300) }, `kept:${i}`);
      for (const prefix of victims) {
        for (const key of file.entries.keys()) {
          if (!key.startsWith(`0::${prefix}`)) continue;
          const value = cache.getSync<Uint8Array>(key.slice(3));
          assert.ok(value instanceof Uint8Array && value.length === PAYLOAD_BYTES && value.every((b) => b === 9), `${key} did not read back whole`);
        }
      }
      await cache.set('parent', 'ok');
      assert.equal(cache.getSync('parent'), 'ok');
    } finally {
      await cache.close();
    }
    assert.deepEqual(writer.unhandled, []);
  });

  for (const memory of [true, false]) {
    it(`disk full (child under ulimit -f, ${memory ? 'memory + LMDB' : 'LMDB only'}): a set fails with StorageError E_STORAGE and the same cache keeps serving what it committed before, through getSync, get and a compute hit, with no unhandled rejection`, async (t) => {
      const dir = tempDir('herdcache-full');
      // 4 096 blocks of 512 bytes: the file cannot grow past 2 MiB, so a 6 MiB value cannot commit.
      const worker = await startFaultWorker({ path: dir.path, memory }, 4_096);
      t.after(async () => {
        await worker.kill('SIGKILL');
        dir.cleanup();
      });
      await worker.call({ op: 'set', key: 'small', value: 'fits' });
      assert.deepEqual(await worker.call({ op: 'compute', key: 'warm', value: { n: 1 } }), { value: { n: 1 }, ran: true });

      await assert.rejects(worker.call({ op: 'set', key: 'big', bytes: 6 * 1024 * 1024 }), (err: WorkerError) => {
        assert.equal(err.code, 'E_STORAGE');
        assert.equal(err.errorName, 'StorageError');
        return true;
      });

      assert.equal(await worker.call({ op: 'getSync', key: 'small' }), 'fits');
      assert.equal(await worker.call({ op: 'get', key: 'small' }), 'fits');
      assert.deepEqual(await worker.call({ op: 'get', key: 'warm' }), { n: 1 });
      assert.deepEqual(await worker.call({ op: 'compute', key: 'warm', value: 'recomputed' }), { value: { n: 1 }, ran: false }, 'a compute of a committed key is a hit');
      assert.deepEqual(await worker.call({ op: 'compute', key: 'small', value: 'recomputed' }), { value: 'fits', ran: false });
      assert.equal(await worker.call({ op: 'getSync', key: 'big' }), undefined, 'nothing of the failed set is served');
      assert.equal(await worker.call({ op: 'get', key: 'big' }), undefined);
      const stats = (await worker.call({ op: 'stats' })) as { errors: number; sets: number };
      assert.ok(stats.errors >= 1, 'the failed commit was counted');

      await sleep(50);
      await worker.call({ op: 'close' });
      assert.deepEqual(await worker.exited, { code: 0, signal: null });
      assert.deepEqual(worker.unhandled, []);
      assert.equal(worker.stderr(), '', 'the refused set printed nothing: it never reached LMDB');
    });
  }

  it('disk full: reads go on, writes reject with E_STORAGE, deletes and a clear that free space succeed, and writes resume by themselves', async (t) => {
    const dir = tempDir('herdcache-full-delete');
    const worker = await startFaultWorker({ path: dir.path }, 4_096);
    t.after(async () => {
      await worker.kill('SIGKILL');
      dir.cleanup();
    });
    const filled = await fillToTheBrim(worker);
    assert.ok(filled.length > 10, 'the file filled up');
    const [first, second, ...rest] = filled as [string, string, ...string[]];
    await assert.rejects(worker.call({ op: 'set', key: 'more', bytes: 16 * 1024 }), (err: WorkerError) => err.code === 'E_STORAGE', 'a write that does not fit is refused');
    assert.ok(await worker.call({ op: 'getSync', key: second }) instanceof Uint8Array, 'reads go on');
    await worker.call({ op: 'delete', key: first });
    assert.equal(await worker.call({ op: 'getSync', key: first }), undefined, 'the delete took effect');
    assert.equal(await worker.call({ op: 'get', key: first }), undefined);
    await worker.call({ op: 'clear' });
    assert.equal(await worker.call({ op: 'getSync', key: second }), undefined, 'the clear took effect');
    assert.equal(await worker.call({ op: 'getSync', key: rest.at(-1)! }), undefined);
    // The space the clear gave back is used again, with no restart and no call to anything.
    await worker.call({ op: 'set', key: 'after', bytes: 16 * 1024 });
    assert.ok(await worker.call({ op: 'getSync', key: 'after' }) instanceof Uint8Array, 'writes resumed');
    const stats = (await worker.call({ op: 'stats' })) as { errors: number };
    assert.ok(stats.errors >= 1, 'the refused writes were counted as tier errors');
    await worker.call({ op: 'close' });
    assert.deepEqual(await worker.exited, { code: 0, signal: null });
    assert.deepEqual(worker.unhandled, []);
    // The file could not grow, so no commit reached LMDB's write of a page past the end (whose
    // failure LMDB's C library prints with fprintf, where no JavaScript sees it), and lmdb-js's own
    // reports of failed commits arrive as tier errors: nothing at all on stderr.
    assert.equal(worker.stderr(), '', 'nothing on stderr');
  });

  it('disk full at open: the probe of a file that fills the disk finds no room for its write passes, and that is not damage: the file is kept, with every value in it', async (t) => {
    const dir = tempDir('herdcache-full-probe');
    const filler = await startFaultWorker({ path: dir.path, memory: false }, 4_096);
    let opener: FaultWorker | undefined;
    t.after(async () => {
      await Promise.all([filler.kill('SIGKILL'), opener?.kill('SIGKILL')]);
      dir.cleanup();
    });
    const filled = await fillToTheBrim(filler);
    // Killed, not closed: the file is not marked checked, so the next open probes it.
    await filler.kill('SIGKILL');
    opener = await startFaultWorker({ path: dir.path, memory: false }, 4_096, 30_000);
    const stats = (await opener.call({ op: 'stats' })) as { corruptFiles: number };
    assert.equal(stats.corruptFiles, 0, 'the file was not moved aside');
    for (const key of [filled[0]!, filled.at(-1)!]) assert.ok(await opener.call({ op: 'getSync', key }) instanceof Uint8Array, `${key} is still there`);
    await opener.call({ op: 'close' });
    assert.deepEqual(await opener.exited, { code: 0, signal: null });
    assert.equal(opener.stderr(), '');
  });

  it('disk full at open, in a file LMDB itself filled to the limit (no headroom left): the probe\'s failed writes for lack of room are not damage, and the file is kept', async (t) => {
    const dir = tempDir('herdcache-full-probe-raw');
    const filler = await startFaultWorker({ path: dir.path, memory: false }, 4_096);
    let opener: FaultWorker | undefined;
    t.after(async () => {
      await Promise.all([filler.kill('SIGKILL'), opener?.kill('SIGKILL')]);
      dir.cleanup();
    });
    await filler.call({ op: 'set', key: 'kept', value: 'here' });
    // Past the headroom, LMDB meets the limit itself: the filler's stderr shows its `Write error`
    // lines, which is the case being set up, not the one under test.
    assert.ok(((await filler.call({ op: 'fillPastHeadroom' }, 60_000)) as number) > 0, 'LMDB filled the file');
    await filler.kill('SIGKILL');
    opener = await startFaultWorker({ path: dir.path, memory: false }, 4_096, 30_000);
    const stats = (await opener.call({ op: 'stats' })) as { corruptFiles: number };
    assert.equal(stats.corruptFiles, 0, 'the file was not moved aside');
    assert.equal(await opener.call({ op: 'getSync', key: 'kept' }), 'here');
    await opener.call({ op: 'close' });
    assert.deepEqual(await opener.exited, { code: 0, signal: null });
  });

  for (const leaseFile of ['usable', 'unusable'] as const) {
    const how = leaseFile === 'usable' ? 'the leases live in the coordination file, which needs no room in the data file' : 'with no usable coordination file either, the leases fall back to links that need no free space';
    it(`disk full: two processes computing one cold key under barrier() never compute it at the same time (${how})`, async (t) => {
      const dir = tempDir('herdcache-full-barrier');
      // Where the coordination file would be, a directory: LMDB cannot open it, as on a disk
      // too full to create it.
      const coordination = join(dir.path, bootId() === undefined ? 'leases.mdb' : `leases-${bootId()}.mdb`);
      if (leaseFile === 'unusable') mkdirSync(coordination);
      const a = await startFaultWorker({ path: dir.path, barrier: true }, 4_096);
      const b = await startFaultWorker({ path: dir.path, barrier: true }, 4_096);
      t.after(async () => {
        await Promise.all([a.kill('SIGKILL'), b.kill('SIGKILL')]);
        dir.cleanup();
      });
      // Fill the file up to its limit, then with the smallest commits there are, so that no commit
      // of the data file finds room.
      assert.ok((await fillToTheBrim(a)).length > 0, 'the file filled up');
      await a.call({ op: 'fillWithTinyCommits' });
      type Run = { value: unknown; ran: boolean; startedAt?: number; endedAt?: number };
      for (let round = 0; round < 3; round++) {
        const runs = (await Promise.all([a, b].map((w) => w.call({ op: 'slowCompute', key: `cold${round}`, value: 'v', ms: 300 }, 20_000)))) as Run[];
        for (const r of runs) assert.equal(r.value, 'v');
        const ran = runs.filter((r) => r.ran);
        if (ran.length === 2) {
          const [x, y] = ran as [Run, Run];
          const overlap = x.startedAt! < y.endedAt! && y.startedAt! < x.endedAt!;
          assert.equal(overlap, false, `round ${round}: both processes computed at once (${x.startedAt}-${x.endedAt} and ${y.startedAt}-${y.endedAt})`);
        }
      }
      assert.equal(existsSync(join(dir.path, 'leases')), leaseFile === 'unusable', leaseFile === 'unusable' ? 'the leases fell back to links: the case under test happened' : 'the coordination file took the leases');
      assert.deepEqual([a.unhandled, b.unhandled], [[], []]);
    });
  }
});
