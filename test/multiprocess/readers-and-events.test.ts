// README claims about dead processes, with real processes on one LMDB file: the reader slot of a
// process killed with SIGKILL is cleared by the next process to open the file; a lease holder
// killed with SIGKILL is taken over once its lease expires, and the cache that takes over emits
// `lease-takeover` with the key, on `cache.on` and on the `herdcache:events` diagnostics channel.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { open, type RootDatabase } from 'lmdb';
import { barrier, createCache, DIAGNOSTICS_CHANNEL } from '../../src/index.js';
import { linesOf, PROC_NAMESPACE, startProcWorker, type ProcWorker } from '../fixtures/proc-worker.js';
import { until } from '../fixtures/policy-support.js';
import { tempDir } from '../helpers/tmp.js';

const started: ProcWorker[] = [];
const dirs: Array<{ cleanup: () => void }> = [];
after(async () => {
  await Promise.all(started.map((w) => w.kill('SIGKILL')));
  dirs.forEach((d) => d.cleanup());
});

function paths(): { path: string; other: string; counterFile: string } {
  const dir = tempDir('herdcache-readers');
  dirs.push(dir);
  return { path: join(dir.path, 'lmdb'), other: join(dir.path, 'other'), counterFile: join(dir.path, 'computes.log') };
}

async function start(path: string, counterFile: string, extra: Parameters<typeof startProcWorker>[0]['policies'] = []): Promise<ProcWorker> {
  const worker = await startProcWorker({ path, counterFile, policies: extra });
  started.push(worker);
  return worker;
}

/** The pids of the reader table as `mdb_reader_list` prints it. */
function readerPids(root: RootDatabase): number[] {
  return root.readerList().split('\n').slice(1).map((line) => Number(line.trim().split(/\s+/)[0])).filter((pid) => Number.isInteger(pid) && pid > 0);
}

/**
 * A process holding a read transaction is killed with SIGKILL while this process keeps the file
 * open (so the next opener finds the lock file in use, its reader table as the dead process left
 * it). Returns the raw environment, the dead pid, and the worker to open the file next.
 */
async function deadReader(): Promise<{ path: string; keeper: RootDatabase; dead: number; opener: ProcWorker }> {
  const { path, other, counterFile } = paths();
  const reader = await start(path, counterFile);
  await reader.call({ op: 'set', key: 'k', value: 'v' });
  assert.equal(await reader.call({ op: 'getSync', key: 'k' }), 'v');
  const keeper = open({ path, maxDbs: 12, noSubdir: false });
  await until(() => readerPids(keeper).includes(reader.pid), 'the reader holds a slot of the reader table');
  await reader.kill('SIGKILL');
  assert.equal((await reader.exited).signal, 'SIGKILL');
  assert.ok(readerPids(keeper).includes(reader.pid), 'the dead process left its reader slot behind');
  // Its own cache on another file: the file under test is opened only by `openTier`.
  const opener = await start(other, counterFile);
  return { path, keeper, dead: reader.pid, opener };
}

describe('reader slots of dead processes', () => {
  it('a process killed with SIGKILL while reading: its reader slot is cleared by the next process to open the file', async () => {
    const { path, keeper, dead, opener } = await deadReader();
    try {
      await opener.call({ op: 'openTier', path });
      assert.ok(!readerPids(keeper).includes(dead), `the slot of ${dead} is still in the reader table`);
    } finally {
      await keeper.close();
    }
  });
});

describe('a lease holder killed with SIGKILL', () => {
  it('the cache that takes the lease over once it expires computes, and emits lease-takeover with the key on cache.on and on the herdcache:events diagnostics channel', async (t) => {
    const { path, counterFile } = paths();
    const lease = 1_000;
    const holder = await start(path, counterFile, [{ name: 'barrier', lease, maxWait: 60_000 }]);
    const cache = createCache({ lmdb: { path }, namespace: PROC_NAMESPACE, policies: [barrier({ lease, maxWait: 20_000 })] });
    const events: unknown[] = [];
    const published: unknown[] = [];
    const onMessage = (message: unknown): void => {
      if ((message as { type?: unknown }).type === 'lease-takeover') published.push(message);
    };
    subscribe(DIAGNOSTICS_CHANNEL, onMessage);
    t.after(async () => {
      unsubscribe(DIAGNOSTICS_CHANNEL, onMessage);
      await cache.close();
    });
    cache.on('lease-takeover', (event) => events.push(event));

    const held = holder.call({ op: 'compute', key: 'report', value: 'never', tag: 'holder', gate: 'never' });
    held.catch(() => undefined); // it dies without replying
    await until(() => linesOf(counterFile, 'holder').length === 1, 'the holder computes');
    let runs = 0;
    const waited = cache.compute('report', () => { runs++; return 'taken over'; });
    await until(() => cache.stats().leaseWaits === 1, 'this process waits for the lease');
    await holder.kill('SIGKILL');
    assert.equal(await waited, 'taken over');
    assert.equal(runs, 1);
    assert.equal(cache.stats().leaseTakeovers, 1);
    assert.deepEqual(events, [{ key: 'report' }]);
    assert.deepEqual(published, [{ type: 'lease-takeover', namespace: PROC_NAMESPACE, key: 'report' }]);
  });
});
