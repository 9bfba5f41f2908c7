// barrier()'s waits while another caller holds the lease and no news of the key comes: pauses
// that double from `poll.first` up to `poll.longest`, each followed by one look at the lease.
// What is checked is the sequence of pauses the waiter asks for and of its looks, in order, not
// how long anything took: the pauses are read off the timers the waiter sets, the looks off a
// wrapper around the LMDB tier's lease store.
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { barrier, createCache, lmdbTier, memoryTier, type LeaseStore } from '../../src/index.js';
import { deferred, until, within } from '../fixtures/policy-support.js';
import { tempDir } from '../helpers/tmp.js';

const dirs: Array<{ cleanup: () => void }> = [];
after(() => dirs.forEach((d) => d.cleanup()));

it('a waiter with no news of the key pauses 7, 14, 28, 56, 56, ... ms (poll { first: 7, longest: 56 }), looking at the lease after each pause', async (t) => {
  const dir = tempDir('herdcache-barrier-poll');
  dirs.push(dir);
  const steps: string[] = [];
  // Every look of the waiter at the lease, through a wrapper of its LMDB tier's lease store.
  const tier = lmdbTier({ path: dir.path });
  const leases = tier.leases as { holder: LeaseStore['holder'] };
  const holder = leases.holder.bind(tier.leases);
  leases.holder = (key) => {
    steps.push('look');
    return holder(key);
  };
  // Every pause the waiter asks for: the key's sleepers wait on a timer named `woken` (src/core/wakers.ts).
  const realSetTimeout = globalThis.setTimeout;
  const recording = ((callback: (...args: unknown[]) => void, ms?: number, ...rest: unknown[]) => {
    if (callback.name === 'woken') steps.push(`pause ${ms}`);
    return realSetTimeout(callback, ms, ...rest);
  }) as typeof setTimeout;
  globalThis.setTimeout = recording;
  t.after(() => {
    globalThis.setTimeout = realSetTimeout;
  });

  // Two caches on one file hold leases apart, as two processes do.
  const leader = createCache({ lmdb: { path: dir.path }, policies: [barrier({ lease: 60_000 })] });
  const waiter = createCache({ tiers: [memoryTier(), tier], policies: [barrier({ lease: 60_000, maxWait: 20_000, poll: { first: 7, longest: 56 } })] });
  t.after(async () => {
    await Promise.all([leader.close(), waiter.close()]);
  });
  const gate = deferred();
  let leaderRuns = 0;
  const first = leader.compute('k', async () => { leaderRuns++; await gate.promise; return 'from leader'; });
  await until(() => leaderRuns === 1, 'the leader holds the lease');
  const second = waiter.compute('k', () => 'from waiter');
  await until(() => steps.filter((s) => s.startsWith('pause')).length >= 8, 'the waiter paused eight times', 10_000);
  gate.resolve();
  assert.equal(await first, 'from leader');
  assert.equal(await within(second, 5_000, 'the waiter'), 'from leader');

  const expected = [7, 14, 28, 56, 56, 56, 56].flatMap((ms) => [`pause ${ms}`, 'look']);
  assert.deepEqual(steps.slice(0, expected.length), expected);
});
