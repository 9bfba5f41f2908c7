// A change announced by Redis must leave no old copy on this machine: neither in LMDB nor in
// the memory tier, even when a read lands between the memory drop and the LMDB commit.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { barrier, createCache, lmdbTier, memoryTier, redisTier, type Invalidation } from '../../src/index.js';
import { makeEntry } from '../../src/core/entry.js';
import { acquireEnvironment, releaseEnvironment } from '../../src/tiers/lmdb/env.js';
import { startEngineWorker } from '../fixtures/engine-worker.js';
import { until, waiterGetsLeaderValue, waiterTakesOverFromFailedLeader } from '../fixtures/policy-support.js';
import { redisSkip, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { tempDir } from '../helpers/tmp.js';

/** The value an LMDB file holds for a key of the default namespace, read through a fresh snapshot. */
async function storedValue(path: string, key: string): Promise<unknown> {
  const env = acquireEnvironment(path, 16 * 1024 * 1024);
  try {
    env.root.resetReadTxn();
    return (env.entries.get(`0::${key}`) as { value: unknown } | undefined)?.value;
  } finally {
    await releaseEnvironment(env);
  }
}

describe('local copies after an invalidation from Redis', { skip: redisSkip() }, () => {
  let server: RedisServer;
  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    await server?.stop();
  });

  it(
    'a read between the memory drop and the LMDB commit does not bring the old value back for good',
    async () => {
      const dir = tempDir('herdcache-redis-local');
      const redis = redisTier({ url: server.url, keyPrefix: 'local-copies:' });
      // Read synchronously right after the engine handled the change, as a busy server would.
      const onInvalidation = redis.onInvalidation.bind(redis);
      const readsInWindow: unknown[] = [];
      let cacheRef: { getSync(key: string): unknown } | undefined;
      redis.onInvalidation = (listener: (change: Invalidation) => void) =>
        onInvalidation((change) => {
          listener(change);
          readsInWindow.push(cacheRef?.getSync('k'));
        });
      const cache = createCache({ tiers: [memoryTier(), lmdbTier({ path: dir.path }), redis], ttl: 60_000 });
      cacheRef = cache;
      const other = redisTier({ url: server.url, keyPrefix: 'local-copies:' });
      other.attach({ clock: Date.now, report: () => {} });
      try {
        await Promise.all([redis.ready(), other.ready()]);
        await other.set('0::k', makeEntry('old', Date.now(), 60_000, 60_000, 0));
        assert.equal(await cache.get('k'), 'old');
        // Read until the copy into LMDB stays (the news of the set of 'old' may drop the first one).
        for (let i = 0; i < 400 && (await storedValue(dir.path, 'k')) !== 'old'; i++) {
          assert.equal(await cache.get('k'), 'old');
          await delay(5);
        }
        assert.equal(await storedValue(dir.path, 'k'), 'old', 'the promotion into LMDB has committed');
        readsInWindow.length = 0; // reads after the change of 'old' itself are not the point
        await other.set('0::k', makeEntry('new', Date.now(), 60_000, 60_000, 0));
        const deadline = Date.now() + 2_000;
        while (readsInWindow.length === 0 && Date.now() < deadline) await delay(5);
        assert.equal(readsInWindow.length, 1, 'the change arrived');
        // The drop of the LMDB copy commits after the memory drop and the read in the window:
        // once it has, a read in the window that brought 'old' back would show here.
        for (let i = 0; i < 400 && (await storedValue(dir.path, 'k')) === 'old'; i++) await delay(5);
        assert.notEqual(await storedValue(dir.path, 'k'), 'old', "the change dropped the machine's LMDB copy");
        assert.notEqual(cache.getSync('k'), 'old', 'the old value came back into memory and stayed there');
        assert.equal(await cache.get('k'), 'new');
      } finally {
        await cache.close();
        await other.close();
        dir.cleanup();
      }
    },
  );

  it('a change made on this machine leaves its LMDB copy alone; the other machines drop theirs', async () => {
    const here = tempDir('herdcache-redis-site-a');
    const there = tempDir('herdcache-redis-site-b');
    const machine = (path: string) => {
      const lmdb = lmdbTier({ path });
      const redis = redisTier({ url: server.url, keyPrefix: 'site:' });
      return { lmdb, redis, cache: createCache({ tiers: [memoryTier(), lmdb, redis], ttl: 60_000 }) };
    };
    const writer = machine(here.path);
    const neighbour = machine(here.path); // another process of the writer's machine
    const remote = machine(there.path);
    try {
      await Promise.all([writer, neighbour, remote].map((m) => m.redis.ready()));
      assert.equal(writer.lmdb.site?.(), neighbour.lmdb.site?.(), 'one LMDB file, one site');
      assert.notEqual(writer.lmdb.site?.(), remote.lmdb.site?.());

      await remote.cache.set('k', 'old');
      // Read, the value is copied into this machine's LMDB; the message of the remote write may
      // arrive after the read and drop that copy, so read until it stays.
      for (let i = 0; i < 200 && (await storedValue(here.path, 'k')) !== 'old'; i++) {
        assert.equal(await neighbour.cache.get('k'), 'old');
        await delay(5);
      }
      assert.equal(await storedValue(here.path, 'k'), 'old', 'the copy into LMDB committed');
      const heard = { neighbour: neighbour.cache.stats().invalidations, remote: remote.cache.stats().invalidations };
      await writer.cache.set('k', 'new');
      // The neighbour hears it twice (LMDB change log, Redis message), the remote machine once.
      await until(() => neighbour.cache.stats().invalidations >= heard.neighbour + 2 && remote.cache.stats().invalidations >= heard.remote + 1, 'the change reached both', 2_000);
      // A drop is a write of the process that heard the change; a later write of each commits
      // after it (one process's transactions commit in order), so any drop has committed now.
      await neighbour.cache.set('marker', 1);
      await remote.cache.set('marker', 1);
      assert.equal(await storedValue(here.path, 'k'), 'new', "the writer's new value stays in its machine's LMDB");
      assert.equal(await storedValue(there.path, 'k'), undefined, "the remote machine's old copy was dropped");
      assert.equal(await neighbour.cache.get('k'), 'new');
      assert.equal(await remote.cache.get('k'), 'new');
    } finally {
      await Promise.all([writer, neighbour, remote].map((m) => m.cache.close()));
      here.cleanup();
      there.cleanup();
    }
  });

  it('a machine away while the change stream was trimmed past its checkpoint drops its copies when it returns', async (t) => {
    const here = tempDir('herdcache-redis-away-a');
    const there = tempDir('herdcache-redis-away-b');
    t.after(() => { here.cleanup(); there.cleanup(); });
    // A stream kept short: Redis trims in whole nodes (100 records by default), so 400 changes trim it.
    const machine = (path: string) => {
      const redis = redisTier({ url: server.url, keyPrefix: 'away:', changeStreamLength: 10 });
      return { redis, cache: createCache({ tiers: [memoryTier(), lmdbTier({ path }), redis], ttl: 60_000 }) };
    };
    const away = machine(here.path);
    const stays = machine(there.path);
    await Promise.all([away.redis.ready(), stays.redis.ready()]);
    await stays.cache.set('k', 'old');
    for (let i = 0; i < 200 && (await storedValue(here.path, 'k')) !== 'old'; i++) {
      assert.equal(await away.cache.get('k'), 'old');
      await delay(5);
    }
    assert.equal(await storedValue(here.path, 'k'), 'old', "the away machine's LMDB holds a copy");
    // Its checkpoint was saved when it began to follow; now every process of the machine stops.
    await away.cache.close();
    await stays.cache.set('k', 'new');
    for (let i = 0; i < 400; i++) await stays.cache.set(`filler-${i % 50}`, i);
    const probe = new Redis(server.url);
    t.after(() => probe.disconnect());
    const records = await probe.xrange('away:x', '-', '+');
    assert.ok(records.length < 402, `the stream was trimmed (${records.length} records kept)`);
    assert.ok(records.every(([, fields]) => !fields.includes('0::k')), 'no record of a change of k is left in the stream');
    assert.equal(await storedValue(here.path, 'k'), 'old', 'nothing touched the file while the machine was away');

    const back = machine(here.path);
    t.after(() => back.cache.close());
    await back.redis.ready();
    assert.equal(await storedValue(here.path, 'k'), undefined, 'the copy older than the trimmed records was dropped');
    assert.equal(await back.cache.get('k'), 'new');
    await stays.cache.close();
  });

  it("a write this machine's LMDB refuses (file full) but Redis takes leaves no older copy in LMDB", async (t) => {
    const dir = tempDir('herdcache-redis-refused');
    t.after(dir.cleanup);
    // 2 MiB of file: a 6 MiB value cannot be committed to LMDB; Redis takes it.
    const worker = await startEngineWorker({ path: dir.path, redis: { url: server.url, keyPrefix: 'refused:' } }, { fileSizeLimitBlocks: 4_096 });
    t.after(() => worker.kill('SIGKILL'));
    await worker.call({ op: 'set', key: 'k', value: 'old' });
    assert.equal(await storedValue(dir.path, 'k'), 'old');
    await assert.rejects(worker.call({ op: 'set', key: 'k', bytes: 6 * 1024 * 1024 }), (err: unknown) => (err as { code?: string }).code === 'E_STORAGE');
    assert.equal(await storedValue(dir.path, 'k'), undefined, "LMDB's older copy was dropped: Redis holds the newer value");
    assert.equal(await worker.call({ op: 'getSync', key: 'k' }), undefined, 'no local copy answers with the older value');
    const fromRedis = (await worker.call({ op: 'get', key: 'k' })) as Uint8Array;
    assert.equal(fromRedis.length, 6 * 1024 * 1024);
    await worker.call({ op: 'close' });
    assert.deepEqual(worker.unhandled, []);
  });

  for (const [news, scenario, key] of [['the value lands', waiterGetsLeaderValue, 'lands'], ['a failed holder lets go', waiterTakesOverFromFailedLeader, 'lets-go']] as const) {
    it(`a waiter on another machine hears through the Redis channel as soon as ${news}, however long its pauses`, async () => {
      const here = tempDir('herdcache-redis-wake-a');
      const there = tempDir('herdcache-redis-wake-b');
      const redisA = redisTier({ url: server.url, keyPrefix: 'wake:' });
      const redisB = redisTier({ url: server.url, keyPrefix: 'wake:' });
      const a = createCache({ tiers: [memoryTier(), lmdbTier({ path: here.path }), redisA], policies: [barrier()] });
      // Ten-minute pauses between looks: only a message from a can bring b its answer in time.
      const b = createCache({ tiers: [memoryTier(), lmdbTier({ path: there.path }), redisB], policies: [barrier({ poll: { first: 600_000, longest: 600_000 } })] });
      try {
        await Promise.all([redisA.ready(), redisB.ready()]);
        // Its own key: both scenarios share one Redis server and key prefix.
        await scenario(a, b, key, 5_000, 'the Redis channel');
      } finally {
        await Promise.all([a.close(), b.close()]);
        here.cleanup();
        there.cleanup();
      }
    });
  }
});
