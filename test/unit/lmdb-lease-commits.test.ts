// What a cold compute under the barrier costs the data file: one commit (the value's). Its lease is
// taken and given back in the coordination file, which is never flushed to disk, and a release
// still wakes the waiters of other processes through that file's log.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { barrier, createCache, lmdbTier, memoryTier } from '../../src/index.js';
import { bootId } from '../../src/tiers/lmdb/boot.js';
import { ChangeFeed } from '../../src/tiers/lmdb/feed.js';
import { acquireEnvironment, releaseEnvironment, type LmdbEnvironment } from '../../src/tiers/lmdb/env.js';
import { tempDir } from '../helpers/tmp.js';

/** Counts the write transactions on the data file's databases from now on: the real file, watched. */
function dataFileCommits(env: LmdbEnvironment): { count: number } {
  const seen = { count: 0 };
  const native = (env.root as unknown as { env: unknown }).env;
  const databases = new Set<unknown>([env.root, env.entries, env.byAge, env.log, env.tombstones, env.clears, env.meta, env.checkpoints, env.reserve]);
  // An older layout kept the leases in the data file: they count too if they are there.
  if ((env.leases as unknown as { env: unknown }).env === native) databases.add(env.leases);
  for (const db of databases) {
    const target = db as { transaction: (action: () => unknown) => Promise<unknown> };
    const transaction = target.transaction.bind(target);
    target.transaction = (action) => {
      seen.count++;
      return transaction(action);
    };
  }
  return seen;
}

describe('the barrier\'s leases and the data file', () => {
  it('a cold compute under barrier() commits once to the data file; its lease lives in the coordination file', async (t) => {
    const dir = tempDir('herdcache-lease-commits');
    const cache = createCache({ tiers: [memoryTier(), lmdbTier({ path: dir.path, sweepInterval: 3_600_000 })], policies: [barrier()] });
    const env = acquireEnvironment(dir.path, 16 * 1024 * 1024);
    t.after(async () => {
      await releaseEnvironment(env);
      await cache.close();
      dir.cleanup();
    });
    await cache.compute('warm', () => 'up');
    const commits = dataFileCommits(env);
    for (let i = 0; i < 5; i++) assert.equal(await cache.compute(`cold${i}`, () => `v${i}`), `v${i}`);
    assert.equal(commits.count, 5, `${commits.count} commits to the data file for 5 cold computes`);
    const expected = bootId() === undefined ? 'leases.mdb' : `leases-${bootId()}.mdb`;
    assert.ok(readdirSync(dir.path).includes(expected), `the coordination file ${expected} is beside data.mdb`);
    env.coordination.get().root.resetReadTxn();
    assert.equal(env.leases.get('0::cold4'), undefined, 'and its lease was given back');
  });

  it('a release in one process wakes the followers of the others, through the coordination file\'s log', async (t) => {
    const dir = tempDir('herdcache-lease-releases');
    const env = acquireEnvironment(dir.path, 16 * 1024 * 1024);
    const cache = createCache({ tiers: [memoryTier(), lmdbTier({ path: dir.path, sweepInterval: 3_600_000 })], policies: [barrier()] });
    t.after(async () => {
      await cache.close();
      await releaseEnvironment(env);
      dir.cleanup();
    });
    const follower = new ChangeFeed('another process', (error) => assert.fail(String(error)));
    follower.start(env);
    const released: string[] = [];
    follower.releases.add((key) => released.push(key));
    await cache.compute('k', () => 'v');
    follower.poll(env);
    assert.deepEqual(released, ['0::k']);
  });

  it('the coordination files of earlier boots are removed when a file is opened', { skip: bootId() === undefined ? 'no boot id on this system' : false }, async (t) => {
    const dir = tempDir('herdcache-lease-boots');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${dir.path}/leases-00000000-0000-0000-0000-000000000000.mdb`, 'a crash ago');
    writeFileSync(`${dir.path}/leases-00000000-0000-0000-0000-000000000000.mdb-lock`, '');
    const env = acquireEnvironment(dir.path, 16 * 1024 * 1024);
    t.after(async () => {
      await releaseEnvironment(env);
      dir.cleanup();
    });
    env.coordination.get();
    assert.deepEqual(readdirSync(dir.path).filter((name) => name.startsWith('leases-')).sort(), [`leases-${bootId()}.mdb`, `leases-${bootId()}.mdb-lock`]);
  });
});
