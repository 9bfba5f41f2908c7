// serveStale() across real OS processes sharing one LMDB file (properties 16, 17): onCold
// 'throw' while another process computes, and exactly one refresher for a stale key.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createCache } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';
import { computesIn, killAll, startWorker, stopAll, type Child } from '../fixtures/policy-children.js';
import type { WorkerConfig } from '../fixtures/policy-worker.js';

const dirs: Array<{ cleanup: () => void }> = [];
after(() => {
  killAll();
  dirs.forEach((d) => d.cleanup());
});

function setup(): { path: string; counterFile: string } {
  const dir = tempDir('policies-mp-stale');
  dirs.push(dir);
  return { path: join(dir.path, 'lmdb'), counterFile: join(dir.path, 'computes.log') };
}

describe('serveStale() across processes', () => {
  it("onCold 'throw': while process A computes a cold key, process B gets ColdCacheError; then A's value", async () => {
    const { path, counterFile } = setup();
    const base = { path, counterFile, key: 'cold', pipeline: 'serveStale+barrier', ttl: 60_000, maxAge: 600_000, onCold: 'throw', lease: 10_000, callers: 1, lifetime: 15_000 } as const;
    const a = startWorker({ ...base, computeMs: 'message' });
    const b = startWorker({ ...base, computeMs: 50 });
    try {
      await Promise.all([a.next('ready'), b.next('ready')]);
      a.send({ type: 'go' });
      await a.next('computing');
      b.send({ type: 'go' });
      const refused = await b.next('result');
      assert.equal(refused.outcomes.length, 1);
      const outcome = refused.outcomes[0]!;
      assert.equal(outcome.ok, false);
      assert.ok(!outcome.ok && outcome.code === 'E_COLD_CACHE' && outcome.name === 'ColdCacheError', JSON.stringify(outcome));
      assert.equal(refused.stats['coldErrors'], 1);

      a.send({ type: 'finish' });
      const filled = await a.next('result');
      assert.deepEqual(filled.outcomes, [{ ok: true, value: `computed by ${a.pid}` }]);
      b.send({ type: 'go' });
      const served = await b.next('result');
      assert.deepEqual(served.outcomes, [{ ok: true, value: `computed by ${a.pid}` }], 'B reads what A stored');
      assert.deepEqual(computesIn(counterFile), [String(a.pid)]);
    } finally {
      await stopAll([a, b]);
    }
  });

  it('a stale key read by 3 processes x 10 callers at once: served stale to all, exactly one refresher', async () => {
    const { path, counterFile } = setup();
    // The seed is fresh for 50 ms and kept for 10 minutes: stale by the time the children read it.
    const seeder = createCache({ ttl: 60_000, maxAge: 600_000, memory: false, lmdb: { path } });
    await seeder.set('page', 'seed', { ttl: 50, maxAge: 600_000 });
    const config: WorkerConfig = { path, counterFile, key: 'page', pipeline: 'serveStale+barrier', ttl: 60_000, maxAge: 600_000, lease: 10_000, callers: 10, computeMs: 300, lifetime: 15_000 };
    const children: Child[] = Array.from({ length: 3 }, () => startWorker(config));
    try {
      await Promise.all(children.map((c) => c.next('ready')));
      await new Promise((resolve) => setTimeout(resolve, 60));
      for (const child of children) child.send({ type: 'go' });
      const first = await Promise.all(children.map((c) => c.next('result')));
      for (const outcome of first.flatMap((r) => r.outcomes)) assert.deepEqual(outcome, { ok: true, value: 'seed' }, 'stale value served at once');
      const served = first.reduce((sum, r) => sum + (r.stats['staleServed'] as number), 0);
      assert.equal(served, 30);

      // Wait (bounded) for the one refresh to land, then every process reads the new value.
      const deadline = Date.now() + 10_000;
      let refreshed: unknown;
      while ((refreshed = await seeder.get('page')) === undefined) {
        assert.ok(Date.now() < deadline, 'the refresh never landed');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const computes = computesIn(counterFile);
      assert.equal(computes.length, 1, `refreshes ran in processes ${computes.join(', ')}`);
      assert.equal(refreshed, `computed by ${computes[0]}`);

      for (const child of children) child.send({ type: 'go' });
      const second = await Promise.all(children.map((c) => c.next('result')));
      for (const outcome of second.flatMap((r) => r.outcomes)) assert.deepEqual(outcome, { ok: true, value: refreshed });
      assert.equal(computesIn(counterFile).length, 1, 'still one compute in total');
      const refreshes = second.reduce((sum, r) => sum + (r.stats['staleRefreshes'] as number), 0);
      assert.equal(refreshes, 1, 'one process counted one refresh');
    } finally {
      await stopAll(children);
      await seeder.close();
    }
  });
});
