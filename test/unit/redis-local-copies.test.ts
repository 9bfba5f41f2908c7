// A change announced by Redis must leave no old copy on this machine: neither in LMDB nor in
// the memory tier, even when a read lands between the memory drop and the LMDB commit.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createCache, lmdbTier, memoryTier, redisTier, type Invalidation } from '../../src/index.js';
import { makeEntry } from '../../src/core/entry.js';
import { redisSkip, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { tempDir } from '../helpers/tmp.js';

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
        await other.set('0::k', makeEntry('old', Date.now(), 60_000, 60_000, 0), -1);
        assert.equal(await cache.get('k'), 'old');
        await delay(50); // the promotion into LMDB has committed
        await other.set('0::k', makeEntry('new', Date.now(), 60_000, 60_000, 0), -1);
        const deadline = Date.now() + 2_000;
        while (readsInWindow.length === 0 && Date.now() < deadline) await delay(5);
        assert.equal(readsInWindow.length, 1, 'the change arrived');
        await delay(200);
        assert.notEqual(cache.getSync('k'), 'old', 'the old value came back into memory and stayed there');
        assert.equal(await cache.get('k'), 'new');
      } finally {
        await cache.close();
        await other.close();
        dir.cleanup();
      }
    },
  );
});
