// barrier() across real OS processes sharing one LMDB file (properties 8, 9, 11): a cold herd
// over 5 processes computes once; a lease holder killed with SIGKILL is taken over.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../helpers/tmp.js';
import { computesIn, killAll, startWorker, stopAll, type Child } from '../fixtures/policy-children.js';
import type { WorkerConfig } from '../fixtures/policy-worker.js';

const dirs: Array<{ cleanup: () => void }> = [];
after(() => {
  killAll();
  dirs.forEach((d) => d.cleanup());
});

function setup(): { path: string; counterFile: string } {
  const dir = tempDir('policies-mp-barrier');
  dirs.push(dir);
  return { path: join(dir.path, 'lmdb'), counterFile: join(dir.path, 'computes.log') };
}

describe('barrier() across processes', () => {
  it('5 processes x 20 concurrent cold computes of one key: the function runs exactly once, all 100 callers get its value', async () => {
    const { path, counterFile } = setup();
    const config: WorkerConfig = { path, counterFile, key: 'landing', pipeline: 'barrier', ttl: 60_000, lease: 10_000, callers: 20, computeMs: 300, lifetime: 20_000 };
    const children: Child[] = Array.from({ length: 5 }, () => startWorker(config));
    try {
      await Promise.all(children.map((c) => c.next('ready')));
      for (const child of children) child.send({ type: 'go' });
      const results = await Promise.all(children.map((c) => c.next('result', 15_000)));

      const computes = computesIn(counterFile);
      assert.equal(computes.length, 1, `computes ran in processes ${computes.join(', ')}`);
      const outcomes = results.flatMap((r) => r.outcomes);
      assert.equal(outcomes.length, 100);
      for (const outcome of outcomes) assert.deepEqual(outcome, { ok: true, value: `computed by ${computes[0]}` });
      for (const result of results) {
        assert.equal(result.stats['computes'], result.pid === Number(computes[0]) ? 1 : 0);
        assert.ok((result.stats['leaseWaits'] as number) <= 1, `process ${result.pid}: its waiters shared one wait`);
      }
    } finally {
      await stopAll(children);
    }
  });

  it('a lease holder killed with SIGKILL mid-compute is taken over after its lease, and the waiter completes', async () => {
    const { path, counterFile } = setup();
    const base = { path, counterFile, key: 'report', pipeline: 'barrier', ttl: 60_000, lease: 500, lifetime: 15_000 } as const;
    const holder = startWorker({ ...base, callers: 1, computeMs: 'forever' });
    const waiter = startWorker({ ...base, callers: 3, computeMs: 50 });
    try {
      await Promise.all([holder.next('ready'), waiter.next('ready')]);
      holder.send({ type: 'go' });
      await holder.next('computing');
      waiter.send({ type: 'go' });
      // Let the waiter find the lease held, then kill the holder without letting it release.
      await new Promise((resolve) => setTimeout(resolve, 100));
      holder.process.kill('SIGKILL');
      assert.equal(await holder.exited, 'SIGKILL');

      const result = await waiter.next('result', 10_000);
      for (const outcome of result.outcomes) assert.deepEqual(outcome, { ok: true, value: `computed by ${waiter.pid}` });
      assert.ok((result.stats['leaseTakeovers'] as number) >= 1, 'the waiter took the expired lease over');
      assert.equal(result.stats['computes'], 1);
      assert.deepEqual(computesIn(counterFile), [String(holder.pid), String(waiter.pid)]);
    } finally {
      await stopAll([holder, waiter]);
    }
  });
});
