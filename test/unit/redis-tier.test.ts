// The Redis tier against a real redis-server: record and TTL, invalidation messages, leases,
// and what happens when Redis is missing, frozen or restarted.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { makeEntry } from '../../src/core/entry.js';
import { InvalidOptionError, StorageError } from '../../src/core/errors.js';
import type { Invalidation, TierReport } from '../../src/core/tier.js';
import { redisTier, type RedisTier, type RedisTierOptions } from '../../src/tiers/redis/tier.js';
import { manualClock } from '../helpers/clock.js';
import { redisSkip, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

/** Polls `probe` until it returns true; fails after `ms`. */
async function eventually(what: string, probe: () => boolean | Promise<boolean>, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await delay(10);
  }
}

/** How long `work` takes to settle, ms, and whether it rejected with a StorageError. */
async function settleTime(work: () => Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now();
  try {
    await work();
    return { ms: performance.now() - started, error: undefined };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe('redisTier options', () => {
  it('refuses bad options with InvalidOptionError, eagerly', () => {
    const bad: RedisTierOptions[] = [
      { url: '' },
      { url: 'redis://x', client: {} as never },
      { client: {} as never },
      { commandTimeout: 0 },
      { connectTimeout: Number.NaN },
      { breaker: { failures: 1.5 } },
      { breaker: { cooldown: -1 } },
      { channel: '' },
      { keyPrefix: 3 as never },
    ];
    for (const options of bad) assert.throws(() => redisTier(options), InvalidOptionError, JSON.stringify(options));
  });

  it('fails fast with StorageError when nothing listens, and never reports an outage it never had', async () => {
    const reports: TierReport[] = [];
    // Port 1 on loopback: nothing listens, connections are refused at once.
    const tier = redisTier({ url: 'redis://127.0.0.1:1', connectTimeout: 500 });
    tier.attach({ clock: Date.now, report: (r) => reports.push(r) });
    try {
      const first = await settleTime(() => tier.get('k'));
      assert.ok(first.error instanceof StorageError, String(first.error));
      assert.ok(first.ms < 2_000, `took ${first.ms} ms`);
      const second = await settleTime(() => tier.leases.acquire('k', 't', 1_000));
      assert.ok(second.error instanceof StorageError);
      assert.match((second.error as Error).message, /not connected/);
      await assert.rejects(tier.set('k', makeEntry(1, Date.now(), 1_000, 1_000, 0)), StorageError);
      assert.deepEqual(tier.status(), { connected: false, subscribed: false, repairsPending: 1, circuit: 'closed', failures: 0 }, 'the failed write waits for its repair');
      assert.deepEqual(reports.map((r) => r.type === 'error' && r.operation), ['set'], 'the failed write is reported, reads are left to the engine');
      await assert.rejects(tier.ready(200), (error: unknown) => {
        assert.ok(error instanceof StorageError);
        assert.match(error.message, /not connected and subscribed after 200 ms/);
        assert.ok(error.cause instanceof Error, 'the last connection error is its cause');
        return true;
      });
    } finally {
      await tier.close();
    }
  });
});

describe('redisTier on a real redis-server', { skip: redisSkip() }, () => {
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
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  /** A tier attached to a fresh key space; `prefix` shares one between tiers. */
  async function attached(options: RedisTierOptions & { prefix?: string; clock?: () => number } = {}): Promise<{ tier: RedisTier; reports: TierReport[]; changes: Invalidation[] }> {
    const { prefix = `unit-${++run}:`, clock = Date.now, ...rest } = options;
    const tier = redisTier({ url: server.url, keyPrefix: prefix, ...rest });
    const reports: TierReport[] = [];
    const changes: Invalidation[] = [];
    tier.attach({ clock, report: (r) => reports.push(r) });
    tier.onInvalidation((c) => changes.push(c));
    open.push(tier);
    await tier.ready();
    return { tier, reports, changes };
  }

  it("uses a given ioredis client as a template only: its own connections, the caller's left alone", async () => {
    const template = new Redis(server.url, { lazyConnect: true });
    const tier = redisTier({ client: template, keyPrefix: 'template:' });
    tier.attach({ clock: Date.now, report: () => {} });
    try {
      await tier.ready();
      await tier.set('0::k', makeEntry('v', Date.now(), 1_000, 1_000, 0));
      assert.equal((await tier.get('0::k'))?.value, 'v');
    } finally {
      await tier.close();
    }
    assert.equal(template.status, 'wait', 'the template never connected, and was not closed');
    template.disconnect();
  });

  it('stores the entry record with a Redis TTL ending at its grand timeout', async () => {
    const clock = manualClock(5_000_000);
    const { tier } = await attached({ prefix: 'ttl:', clock });
    await tier.set('0::page', makeEntry('html', clock(), 1_000, 30_000, 12));
    const pttl = await raw.pttl('ttl:e:0::page');
    assert.ok(pttl > 29_000 && pttl <= 30_000, `PTTL ${pttl}`);
    assert.deepEqual(await tier.get('0::page'), { value: 'html', storedAt: 5_000_000, freshUntil: 5_001_000, staleUntil: 5_030_000, delta: 12 });
  });

  it('reads an undecodable record as a miss, reports it, and removes it', async () => {
    const { tier, reports } = await attached({ prefix: 'corrupt:' });
    await raw.hset('corrupt:e:k', 'v', 1, 'd', Buffer.from([0xc1, 0xff, 0x00]));
    await raw.hset('corrupt:e:shape', 'v', 2, 'd', Buffer.from([0x93, 1, 2, 3])); // a msgpack array, not a record
    assert.equal(await tier.get('k'), undefined);
    assert.equal(await tier.get('shape'), undefined);
    assert.deepEqual(reports, [{ type: 'corrupt', key: 'k' }, { type: 'corrupt', key: 'shape' }]);
    await eventually('corrupt records removed', async () => (await raw.exists('corrupt:e:k', 'corrupt:e:shape')) === 0);
  });

  it('appends the changed key, its origin and its version to the change stream, never the value', async () => {
    const { tier } = await attached({ prefix: 'bus:' });
    const set = await tier.set('0::secret', makeEntry('top secret value', Date.now(), 1_000, 1_000, 0));
    const deleted = await tier.delete('0::secret');
    const cleared = await tier.clear('0::');
    const records = (await raw.xrange('bus:x', '-', '+')).map(([, fields]) => {
      const record: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i]!] = fields[i + 1]!;
      return record;
    });
    assert.deepEqual(records.map(({ k, p, v }) => ({ k, p, v: Number(v) })), [
      { k: '0::secret', p: undefined, v: set.version },
      { k: '0::secret', p: undefined, v: deleted.version },
      { k: undefined, p: '0::', v: cleared.version },
    ]);
    assert.ok(set.version! < deleted.version! && deleted.version! < cleared.version!, 'versions grow with each change');
    for (const r of records) assert.equal(typeof r['o'], 'string');
    assert.ok(records.every((r) => !JSON.stringify(r).includes('top secret')));
  });

  it("delivers another tier's set, delete and clear to this tier's listener, never its own", async () => {
    const a = await attached({ prefix: 'pair:' });
    const b = await attached({ prefix: 'pair:' });
    await a.tier.set('0::k', makeEntry('v', Date.now(), 1_000, 1_000, 0));
    await a.tier.delete('0::k');
    await a.tier.clear('0::');
    await eventually('b heard three changes', () => b.changes.length === 3);
    assert.deepEqual(b.changes.map((c) => ('key' in c ? { key: c.key } : { prefix: c.prefix })), [{ key: '0::k' }, { key: '0::k' }, { prefix: '0::' }]);
    assert.ok(b.changes.every((c) => typeof c.version === 'number'), 'each change carries its version');
    // a hears b's later change only after its own three passed on the channel and the stream:
    // had it taken its own, they would be there before this one.
    await b.tier.set('0::later', makeEntry('v', Date.now(), 1_000, 1_000, 0));
    await eventually('a heard the later change of b', () => a.changes.length > 0);
    assert.deepEqual(a.changes.map((c) => ('key' in c ? c.key : c.prefix)), ['0::later'], 'a heard only the change of b, none of its own');
  });

  it('clear(prefix) removes every matching key over many SCAN steps, and only those', async () => {
    const { tier } = await attached({ prefix: 'many:' });
    const now = Date.now();
    // Written raw in one pipeline: this test is about clear, not about 1 200 concurrent writes.
    const pipeline = raw.pipeline();
    for (let i = 0; i < 1_200; i++) pipeline.set(`many:e:1:a:${i}`, 'x', 'PX', 60_000);
    await pipeline.exec();
    await tier.set('1:a', makeEntry('kept', now, 60_000, 60_000, 0));
    await tier.set('1:*', makeEntry('glob', now, 60_000, 60_000, 0));
    await tier.clear('1:a:');
    assert.deepEqual((await raw.keys('many:e:*')).sort(), ['many:e:1:*', 'many:e:1:a']);
    await tier.clear('1:*');
    assert.deepEqual(await raw.keys('many:e:*'), ['many:e:1:a'], 'a glob character in the prefix matches only itself');
  });

  it('reads again when its own write of the key overlaps the read, so an older reply is never returned', async () => {
    const { tier } = await attached({ prefix: 'race:' });
    await tier.set('0::k', makeEntry('old', Date.now(), 60_000, 60_000, 0));
    // The GET goes out before the SET on the same connection, so Redis answers it with 'old'.
    const read = tier.get('0::k');
    const write = tier.set('0::k', makeEntry('new', Date.now(), 60_000, 60_000, 0));
    assert.equal((await read)?.value, 'new');
    await write;
  });

  describe('leases', () => {
    it('grants one holder, refuses the others with the holder, and releases only for its token', async () => {
      const { tier } = await attached({ prefix: 'lease:' });
      const grant = await tier.leases.acquire('0::k', 'owner', 5_000);
      assert.equal(grant.acquired, true);
      const refused = await tier.leases.acquire('0::k', 'other', 5_000);
      assert.equal(refused.acquired, false);
      if (!refused.acquired) {
        assert.equal(refused.holder.token, 'owner');
        assert.ok(refused.holder.expiresAt > Date.now() + 4_000 && refused.holder.expiresAt <= Date.now() + 5_000);
      }
      assert.equal((await tier.leases.holder('0::k'))?.token, 'owner');
      assert.equal(await tier.leases.release('0::k', 'other'), false);
      assert.equal((await tier.leases.holder('0::k'))?.token, 'owner');
      assert.equal(await tier.leases.release('0::k', 'owner'), true);
      assert.equal(await tier.leases.holder('0::k'), undefined);
      assert.equal(await tier.leases.release('0::k', 'owner'), false);
    });

    it('lets a lease expire by itself so that another caller can take it', async () => {
      const { tier } = await attached({ prefix: 'lease-expiry:' });
      assert.equal((await tier.leases.acquire('0::k', 'dies', 60)).acquired, true);
      await eventually('the lease expired', async () => (await tier.leases.holder('0::k')) === undefined);
      const grant = await tier.leases.acquire('0::k', 'next', 5_000);
      assert.equal(grant.acquired, true);
    });

    it('extends only for the owner token', async () => {
      const { tier } = await attached({ prefix: 'lease-extend:' });
      await tier.leases.acquire('0::k', 'owner', 100);
      assert.equal(await tier.leases.extend('0::k', 'other', 10_000), false);
      assert.equal(await tier.leases.extend('0::k', 'owner', 10_000), true);
      assert.ok((await raw.pttl('lease-extend:l:0::k')) > 9_000);
      assert.equal(await tier.leases.extend('0::missing', 'owner', 10_000), false);
    });
  });

  describe('when Redis fails', () => {
    it('a frozen Redis: every call settles within the command timeout, the circuit opens, then closes once Redis answers', async () => {
      const { tier } = await attached({ prefix: 'frozen:', commandTimeout: 100, breaker: { failures: 3, cooldown: 300 } });
      await tier.set('0::k', makeEntry('v', Date.now(), 60_000, 60_000, 0));
      server.freeze();
      try {
        for (let i = 0; i < 3; i++) {
          const { ms, error } = await settleTime(() => tier.get('0::k'));
          assert.ok(error instanceof StorageError, String(error));
          assert.match(error.message, /did not answer within 100 ms/);
          assert.ok(ms < 1_000, `settled after ${ms} ms`);
        }
        assert.equal(tier.status().circuit, 'open');
        assert.equal(tier.status().failures, 3);
        const { error } = await settleTime(() => tier.leases.acquire('0::k', 't', 1_000));
        assert.match((error as Error).message, /circuit is open/);
      } finally {
        server.thaw();
      }
      // The cooldown (300 ms) ends by itself: wait for it, whatever the timers on a loaded host.
      await eventually('the circuit half-opens after its cooldown', () => tier.status().circuit === 'half-open');
      assert.equal((await tier.get('0::k'))?.value, 'v');
      assert.deepEqual({ ...tier.status(), connected: true }, { connected: true, subscribed: true, repairsPending: 0, circuit: 'closed', failures: 0 });
    });

    it('close() settles even while Redis is frozen', async () => {
      const { tier } = await attached({ prefix: 'frozen-close:' });
      server.freeze();
      try {
        const { ms } = await settleTime(() => tier.close());
        assert.ok(ms < 3_000, `close took ${ms} ms`);
      } finally {
        server.thaw();
      }
    });

    it('after a restart it reconnects by itself, reports the outage, and drops every local copy once subscribed again', async () => {
      const { tier, reports, changes } = await attached({ prefix: 'restart:' });
      await tier.set('0::k', makeEntry('v', Date.now(), 60_000, 60_000, 0));
      await server.kill();
      await eventually('disconnected', () => !tier.status().connected);
      await assert.rejects(tier.get('0::k'), StorageError);
      assert.ok(reports.some((r) => r.type === 'error' && r.operation === 'connection'), 'the lost connection is reported');
      await server.restart();
      await tier.ready(5_000);
      assert.deepEqual(changes, [{ prefix: '' }], 'messages missed while away: every local copy is dropped');
      await tier.set('0::after', makeEntry('back', Date.now(), 60_000, 60_000, 0));
      assert.equal((await tier.get('0::after'))?.value, 'back');
    });
  });
});
