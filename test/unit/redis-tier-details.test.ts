// The Redis tier in detail, against a real redis-server: the error each misuse and each failure
// gives (its message, key and cause, which is what an operator reads in a log), what a refusal
// by Redis itself changes (nothing, so no repair), expiry judged with the cache's clock, the
// site each change carries, and leases whose key has no expiry.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { makeEntry } from '../../src/core/entry.js';
import { InvalidKeyError, InvalidOptionError, StorageError } from '../../src/core/errors.js';
import type { TierHost, TierReport } from '../../src/core/tier.js';
import { RedisTimeoutError } from '../../src/tiers/redis/connection.js';
import { REDIS_MAX_KEY_BYTES, redisTier, type RedisTier, type RedisTierOptions } from '../../src/tiers/redis/tier.js';
import { manualClock } from '../helpers/clock.js';
import { redisSkip, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

/** Asserts `work` rejects with a StorageError of the Redis tier with exactly `message` and `key`. */
async function storageError(work: Promise<unknown>, message: string | RegExp, key: string | undefined): Promise<StorageError> {
  let caught: unknown;
  await assert.rejects(work, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof StorageError, `expected StorageError, got ${String(caught)}`);
  assert.equal(caught.tier, 'redis');
  assert.equal(caught.code, 'E_STORAGE');
  if (typeof message === 'string') assert.equal(caught.message, message);
  else assert.match(caught.message, message);
  assert.equal(caught.key, key);
  return caught;
}

const entry = (value: unknown, now: number, ttl = 60_000): ReturnType<typeof makeEntry> => makeEntry(value, now, ttl, ttl, 0);

describe('redisTier misuse', () => {
  it('refuses commands before attach and after close, and a second attach, saying which', async () => {
    const tier = redisTier({ url: 'redis://127.0.0.1:1', connectTimeout: 200 });
    await storageError(tier.get('k'), 'redis: get: the Redis tier is not attached to a cache', 'k');
    await storageError(Promise.resolve(tier.leases.holder('k')), 'redis: lease-holder: the Redis tier is not attached to a cache', 'k');
    const host: TierHost = { clock: Date.now, report: () => {} };
    tier.attach(host);
    assert.throws(() => tier.attach(host), (error: unknown) => error instanceof StorageError && error.message === 'redis: this Redis tier is already attached to a cache: create one tier per cache');
    const waiting = tier.ready(60_000);
    await tier.close();
    await storageError(waiting, 'redis: the Redis tier closed before it was ready', undefined);
    await storageError(tier.ready(), 'redis: the Redis tier closed before it was ready', undefined);
    await storageError(tier.get('k'), 'redis: get: the Redis tier is closed', 'k');
    await storageError(tier.leases.acquire('k', 't', 100), 'redis: lease-acquire: the Redis tier is closed', 'k');
    await storageError(tier.clear('0::'), 'redis: clear: the Redis tier is closed', undefined);
    await tier.close(); // a second close is a no-op
  });

  it('refuses a bad ready() timeout and an over-long key with typed errors', async () => {
    const tier = redisTier({ url: 'redis://127.0.0.1:1', connectTimeout: 200 });
    tier.attach({ clock: Date.now, report: () => {} });
    try {
      for (const timeout of [0, -1, Number.NaN, 2 ** 31]) {
        await assert.rejects(tier.ready(timeout), (error: unknown) => error instanceof InvalidOptionError && error.option === 'redisTier.ready(timeout)');
      }
      const long = 'k'.repeat(REDIS_MAX_KEY_BYTES + 1);
      await assert.rejects(tier.set(long, entry(1, Date.now())), (error: unknown) => {
        assert.ok(error instanceof InvalidKeyError);
        assert.equal(error.message, `the storage key is ${REDIS_MAX_KEY_BYTES + 1} bytes long, over the Redis tier's limit of ${REDIS_MAX_KEY_BYTES} bytes: hash long keys`);
        assert.equal(error.key, 'k'.repeat(64), 'the key is shown shortened');
        return true;
      });
      await assert.rejects(tier.delete(long), InvalidKeyError);
      // Multi-byte characters count as the bytes they take.
      await assert.rejects(tier.delete('é'.repeat(REDIS_MAX_KEY_BYTES / 2 + 1)), InvalidKeyError);
      await storageError(tier.delete('é'.repeat(REDIS_MAX_KEY_BYTES / 2)), /^redis: delete: not connected to Redis/, 'é'.repeat(REDIS_MAX_KEY_BYTES / 2));
    } finally {
      await tier.close();
    }
  });

  it('reports a connection it cannot even open, and says why on every command', async () => {
    const reports: TierReport[] = [];
    const broken = new Error('no TLS certificate');
    const template = { duplicate: () => { throw broken; } } as unknown as Redis;
    const tier = redisTier({ client: template, connectTimeout: 200 });
    tier.attach({ clock: Date.now, report: (r) => reports.push(r) });
    try {
      const error = await storageError(tier.get('k'), 'redis: get: not connected to Redis (no TLS certificate)', 'k');
      assert.equal(error.cause, broken);
      assert.deepEqual(reports, [{ type: 'error', operation: 'connect', error: broken }]);
    } finally {
      await tier.close();
    }
  });

  it('says why it is not connected, with the connection error as the cause', async () => {
    const reports: TierReport[] = [];
    const tier = redisTier({ url: 'redis://127.0.0.1:1', connectTimeout: 500 });
    tier.attach({ clock: Date.now, report: (r) => reports.push(r) });
    try {
      const error = await storageError(tier.get('k'), /^redis: get: not connected to Redis \(connect ECONNREFUSED 127\.0\.0\.1:1\)$/, 'k');
      assert.ok(error.cause instanceof Error && error.cause.message === 'connect ECONNREFUSED 127.0.0.1:1', String(error.cause));
      const cleared = await storageError(tier.clear('0::'), /^redis: clear: not connected to Redis \(/, undefined);
      assert.equal(tier.status().repairsPending, 1, 'the failed clear waits for its repair');
      assert.deepEqual(reports.filter((r) => r.type === 'error').map((r) => r.type === 'error' && [r.operation, r.error]), [['clear', cleared]]);
    } finally {
      await tier.close();
    }
  });
});

describe('redisTier details on a real redis-server', { skip: redisSkip(), timeout: 60_000 }, () => {
  let server: RedisServer;
  let raw: Redis;
  let run = 0;
  const open: RedisTier[] = [];

  before(async () => {
    server = await startRedisServer();
    raw = new Redis(server.url);
  });
  after(async () => {
    raw?.disconnect();
    await server?.stop();
  });
  afterEach(async () => {
    server.thaw();
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  async function attached(options: RedisTierOptions & { clock?: () => number; site?: string } = {}) {
    const prefix = `details-${++run}:`;
    const { clock = Date.now, site, ...rest } = options;
    const tier = redisTier({ url: server.url, keyPrefix: prefix, ...rest });
    const reports: TierReport[] = [];
    tier.attach({ clock, report: (r) => reports.push(r), ...(site === undefined ? {} : { site }) });
    open.push(tier);
    await tier.ready();
    return { tier, reports, prefix };
  }

  it('a refusal by Redis itself fails the write without a repair and without touching the breaker', async () => {
    const { tier, reports, prefix } = await attached();
    await raw.set(`${prefix}seq`, 'not a number'); // INCR in the write script fails
    const error = await storageError(tier.set('0::k', entry('v', Date.now())), /^redis: set failed: .*not an integer/, '0::k');
    assert.deepEqual(tier.status(), { connected: true, subscribed: true, repairsPending: 0, circuit: 'closed', failures: 0 }, 'Redis changed nothing: nothing to repair');
    assert.deepEqual(reports, [{ type: 'error', operation: 'set', error }]);
    await raw.set(`${prefix}e:0::w`, 'a string, not a hash');
    await storageError(tier.get('0::w'), /^redis: get failed: .*WRONGTYPE/, '0::w');
    assert.equal(tier.status().failures, 0, 'an error reply means Redis is up');
  });

  it('a frozen Redis: a timeout names the command timeout and keeps the key, then the circuit says when it retries', async () => {
    const { tier } = await attached({ commandTimeout: 80, breaker: { failures: 2, cooldown: 60_000 } });
    server.freeze();
    const first = await storageError(tier.get('0::k'), 'redis: get failed: Redis did not answer within 80 ms', '0::k');
    assert.ok(first.cause instanceof RedisTimeoutError);
    await storageError(Promise.resolve(tier.leases.holder('0::k')), 'redis: lease-holder failed: Redis did not answer within 80 ms', '0::k');
    const open = await storageError(tier.get('0::j'), /^redis: get: the circuit is open after 2 consecutive timeouts, next try in \d+ ms$/, '0::j');
    const retryIn = Number(/next try in (\d+) ms/.exec(open.message)![1]);
    assert.ok(retryIn > 50_000 && retryIn <= 60_000, `next try in ${retryIn} ms`);
    assert.equal(tier.status().failures, 2);
  });

  it('judges expiry with the cache clock, to the millisecond, and stores an entry already past its grand timeout as a delete', async () => {
    const clock = manualClock(1_000_000);
    const { tier, prefix } = await attached({ clock });
    const stored = await tier.set('0::k', makeEntry('v', clock(), 1_000, 5_000, 0));
    assert.equal(stored.applied, true);
    const read = await tier.read('0::k');
    assert.deepEqual(read, { entry: { value: 'v', storedAt: 1_000_000, freshUntil: 1_001_000, staleUntil: 1_005_000, delta: 0 }, observed: stored.version, version: stored.version });
    clock.advance(4_999);
    assert.equal((await tier.get('0::k'))?.value, 'v', 'one millisecond before the grand timeout');
    clock.advance(1);
    assert.deepEqual(await tier.read('0::k'), { entry: undefined, observed: stored.version }, 'at the grand timeout: a miss, with no version');
    const late = await tier.set('0::k', makeEntry('late', clock() - 10_000, 1_000, 5_000, 0));
    assert.equal(late.applied, true);
    assert.ok(late.version! > stored.version!, 'the delete took the next version');
    assert.equal(await raw.exists(`${prefix}e:0::k`), 0, 'nothing past its grand timeout is stored');
    assert.equal(await raw.get(`${prefix}t:0::k`), String(late.version), 'a tombstone records the delete');
  });

  it('each change on the stream carries the site of the machine tier below, or an empty one', async () => {
    const withSite = await attached({ site: 'machine-7' });
    await withSite.tier.set('0::k', entry('v', Date.now()));
    await withSite.tier.delete('0::k');
    await withSite.tier.clear('0::');
    const sites = (await raw.xrange(`${withSite.prefix}x`, '-', '+')).map(([, fields]) => fields[fields.indexOf('s') + 1]);
    assert.deepEqual(sites, ['machine-7', 'machine-7', 'machine-7']);
    const without = await attached();
    await without.tier.set('0::k', entry('v', Date.now()));
    const [record] = await raw.xrange(`${without.prefix}x`, '-', '+');
    assert.equal(record![1][record![1].indexOf('s') + 1], '');
  });

  it("hears other tiers' lease releases on the channel, never its own nor what it cannot decode; a listener that throws is reported", async () => {
    const prefix = `details-${++run}:`;
    const pair = [0, 1].map(() => {
      const tier = redisTier({ url: server.url, keyPrefix: prefix });
      const reports: TierReport[] = [];
      const released: string[] = [];
      tier.attach({ clock: Date.now, report: (r) => reports.push(r) });
      tier.onLeaseRelease((key) => released.push(key));
      open.push(tier);
      return { tier, reports, released };
    });
    const [a, b] = pair as [typeof pair[0], typeof pair[0]];
    await Promise.all([a.tier.ready(), b.tier.ready()]);
    await raw.publish(`${prefix}invalidations`, 'not json');
    await raw.publish(`${prefix}invalidations`, JSON.stringify({ o: 'someone', r: '0::heard' }));
    await a.tier.leases.acquire('0::k', 'mine', 5_000);
    await a.tier.leases.release('0::k', 'mine');
    const deadline = Date.now() + 5_000;
    while (b.released.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(b.released, ['0::heard', '0::k']);
    assert.deepEqual(a.released, ['0::heard'], 'its own release is not news to it');
    b.tier.onInvalidation(() => {
      throw new Error('listener failed');
    });
    await a.tier.set('0::k', entry('v', Date.now()));
    while (!b.reports.some((r) => r.type === 'error' && r.operation === 'invalidate') && Date.now() < deadline + 5_000) await new Promise((resolve) => setTimeout(resolve, 5));
    const report = b.reports.find((r) => r.type === 'error' && r.operation === 'invalidate');
    assert.equal(report?.type === 'error' && (report.error as Error).message, 'listener failed');
  });

  it('reports a change stream it cannot follow, and never says it is ready', async () => {
    const prefix = `details-${++run}:`;
    await raw.set(`${prefix}x`, 'a string where the change stream should be');
    const tier = redisTier({ url: server.url, keyPrefix: prefix });
    const reports: TierReport[] = [];
    tier.attach({ clock: Date.now, report: (r) => reports.push(r) });
    open.push(tier);
    await storageError(tier.ready(1_000), /^redis: not connected and subscribed after 1000 ms/, undefined);
    const feed = reports.find((r) => r.type === 'error' && r.operation === 'feed');
    assert.match(feed?.type === 'error' ? (feed.error as Error).message : '', /WRONGTYPE/);
    assert.equal(tier.status().subscribed, false);
    assert.equal(tier.status().connected, true, 'commands still work');
  });

  it('leases: whole milliseconds of at least one, and a key without expiry counts as held for good', async () => {
    const clock = manualClock(2_000_000);
    const { tier, prefix } = await attached({ clock });
    const grant = await tier.leases.acquire('0::short', 'me', 0.2);
    assert.deepEqual(grant, { acquired: true, lease: { key: '0::short', token: 'me', expiresAt: 2_000_001 }, tookOver: false });
    const rounded = await tier.leases.acquire('0::up', 'me', 1_000.2);
    assert.equal(rounded.acquired && rounded.lease.expiresAt, 2_001_001, 'rounded up, never down');
    await raw.set(`${prefix}l:0::forever`, 'someone');
    assert.deepEqual(await tier.leases.holder('0::forever'), { key: '0::forever', token: 'someone', expiresAt: Number.MAX_SAFE_INTEGER });
    assert.deepEqual(await tier.leases.acquire('0::forever', 'me', 1_000), { acquired: false, holder: { key: '0::forever', token: 'someone', expiresAt: Number.MAX_SAFE_INTEGER } });
    assert.equal(await tier.leases.extend('0::up', 'me', 0.3), true);
    const pttl = await raw.pttl(`${prefix}l:0::up`);
    assert.ok(pttl >= 0 && pttl <= 1, `extended to at least one whole ms, PTTL ${pttl}`);
    assert.equal(await tier.leases.holder('0::absent'), undefined);
  });
});
