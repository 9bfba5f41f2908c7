// A Redis tier that stops answering, end to end through createCache, with a real redis-server:
// frozen (SIGSTOP) under barrier(), every call settles with its value or a typed error and the
// cache resumes after SIGCONT; and a machine cut off from Redis (its connections dropped by a
// TCP proxy) while another machine changes keys does not serve its old copies once it is back.
//
// Bounds are generous and only bound hangs: no assertion is about how fast anything was.
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { barrier, createCache, HerdcacheError, lmdbTier, makeEntry, memoryTier, redisTier } from '../../src/index.js';
import { startCoherenceWorker, type CoherenceWorker, type SetOutcome } from '../fixtures/coherence-redis-worker.js';
import { within } from '../fixtures/policy-support.js';
import { redisSkip, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { tempDir } from '../helpers/tmp.js';

/** Far longer than any one call may take with a 200 ms command timeout; a hang runs into it. */
const NEVER_HANGS_MS = 10_000;

type Outcome = { ok: true; value: unknown } | { ok: false; code: string };

/** The call's value, or the code of its typed error; anything else thrown fails the test. */
async function outcomeOf(work: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await work };
  } catch (error) {
    assert.ok(error instanceof HerdcacheError, `not a typed error: ${String(error)}`);
    return { ok: false, code: error.code };
  }
}

/** Polls `probe` until it holds, within `ms`. */
async function eventually(what: string, probe: () => boolean | Promise<boolean>, ms = NEVER_HANGS_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await delay(20);
  }
}

/** A TCP proxy to a port that can drop every connection through it and refuse new ones for a while. */
interface Proxy {
  readonly url: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

async function tcpProxy(port: number): Promise<Proxy> {
  const sockets = new Set<Socket>();
  let open = true;
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server: Server = createServer((client) => {
    track(client);
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect({ port, host: '127.0.0.1' });
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const listening = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `redis://127.0.0.1:${listening}`,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('Redis outages end to end', { skip: redisSkip() }, () => {
  let server: RedisServer;
  const dirs: Array<{ cleanup(): void }> = [];
  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    server?.thaw();
    await server?.stop();
    dirs.forEach((d) => d.cleanup());
  });
  const machine = (): string => {
    const dir = tempDir('herdcache-redis-outage');
    dirs.push(dir);
    return dir.path;
  };

  it('Redis frozen (SIGSTOP) under barrier(): computes, reads, writes and a herd on one cold key all settle with a value or a typed error, one compute for the herd; after SIGCONT writes reach Redis again', async (t) => {
    const redis = redisTier({ url: server.url, keyPrefix: 'frozen-cache:', commandTimeout: 200, breaker: { failures: 3, cooldown: 500 } });
    const cache = createCache({ tiers: [memoryTier(), lmdbTier({ path: machine() }), redis], policies: [barrier({ lease: 5_000, maxWait: 10_000 })] });
    const other = redisTier({ url: server.url, keyPrefix: 'frozen-cache:' });
    other.attach({ clock: Date.now, report: () => {} });
    t.after(async () => {
      server.thaw();
      await Promise.all([cache.close(), other.close()]);
    });
    await Promise.all([redis.ready(), other.ready()]);
    assert.equal(await cache.compute('warm', () => 'w'), 'w');

    server.freeze();
    let runs = 0;
    const cold = (): Promise<unknown> => cache.compute('cold', async () => { runs++; await delay(50); return 'c'; });
    // All at once, each observed from the start.
    const calls: Record<string, Promise<Outcome>> = {
      herd: outcomeOf(Promise.all([cold(), cold(), cold()])),
      warm: outcomeOf(cache.compute('warm', () => 'recomputed')),
      get: outcomeOf(cache.get('warm')),
      has: outcomeOf(cache.has('missing')),
      set: outcomeOf(cache.set('written', 1)),
      delete: outcomeOf(cache.delete('gone')),
    };
    const outcomes: Record<string, Outcome> = {};
    for (const [name, call] of Object.entries(calls)) outcomes[name] = await within(call, NEVER_HANGS_MS, `${name} while Redis is frozen`);
    server.thaw();

    assert.deepEqual(outcomes['herd'], { ok: true, value: ['c', 'c', 'c'] });
    assert.equal(runs, 1, 'the LMDB lease stands in: one compute for the herd');
    assert.deepEqual(outcomes['warm'], { ok: true, value: 'w' }, 'served from the local tiers');
    assert.deepEqual(outcomes['get'], { ok: true, value: 'w' });
    for (const name of ['has', 'set', 'delete']) {
      const outcome = outcomes[name]!;
      assert.ok(outcome.ok || outcome.code === 'E_STORAGE', `${name}: ${JSON.stringify(outcome)}`);
    }
    assert.ok(cache.stats().leasesDegraded >= 1, 'the lease was granted without Redis');

    // After SIGCONT: writes go through again and reach Redis (another tier reads them there).
    // Each try on a key of its own: a key whose set failed is deleted on Redis by its repair.
    let tries = 0;
    await eventually('a set succeeds again', async () => (await outcomeOf(cache.set(`after-${++tries}`, 'back'))).ok);
    await eventually('the circuit closes', () => redis.status().circuit === 'closed' && redis.status().connected);
    await eventually('the failed writes are repaired', () => redis.status().repairsPending === 0);
    assert.equal((await other.get(`0::after-${tries}`))?.value, 'back');
    await other.set('0::from-other', makeEntry('o', Date.now(), 60_000, 60_000, 0));
    assert.equal(await cache.get('from-other'), 'o');
  });

  // A set that failed on Redis queues a repair of its key (src/tiers/redis/repairs.ts); a later
  // set of the key that succeeds settles it before the repairs it starts take their list, and
  // each repair looks again just before it is sent.
  it('a set that succeeds once Redis is back is not deleted by the repair of an earlier failed set of the same key', async (t) => {
    const redis = redisTier({ url: server.url, keyPrefix: 'repair-race:', commandTimeout: 200, breaker: { failures: 3, cooldown: 500 } });
    const cache = createCache({ tiers: [memoryTier(), lmdbTier({ path: machine() }), redis] });
    const other = redisTier({ url: server.url, keyPrefix: 'repair-race:' });
    other.attach({ clock: Date.now, report: () => {} });
    t.after(async () => {
      server.thaw();
      await Promise.all([cache.close(), other.close()]);
    });
    await Promise.all([redis.ready(), other.ready()]);
    server.freeze();
    // Other keys fail first, so that the repair pass is still busy with them when the key's set succeeds.
    const failed = await within(Promise.all(['a', 'b', 'c', 'k'].map((key) => outcomeOf(cache.set(key, 'lost')))), NEVER_HANGS_MS, 'the sets while frozen');
    server.thaw();
    for (const outcome of failed) assert.deepEqual(outcome, { ok: false, code: 'E_STORAGE' });
    await eventually('a set of the key succeeds', async () => (await outcomeOf(cache.set('k', 'kept'))).ok);
    await eventually('the failed write is repaired', () => redis.status().repairsPending === 0);
    assert.equal((await other.get('0::k'))?.value, 'kept', 'Redis lost the set that succeeded');
  });

  it("a machine cut off from Redis while another machine sets and deletes keys does not serve its old copies once it is back: they are dropped before its tier's ready() resolves", async (t) => {
    const proxy = await tcpProxy(server.port);
    const workers: CoherenceWorker[] = [];
    t.after(async () => {
      await Promise.all(workers.map((w) => w.kill('SIGKILL')));
      await proxy.close();
    });
    const options = { keyPrefix: 'cut-off:', commandTimeout: 1_000 } as const;
    const a = await startCoherenceWorker({ path: machine(), url: server.url, ...options });
    workers.push(a);
    const b = await startCoherenceWorker({ path: machine(), url: proxy.url, ...options });
    workers.push(b);
    await Promise.all([a, b].map((w) => w.call({ op: 'ready', timeout: 10_000 }, 15_000)));
    for (const [key, value] of [['page', 'v1'], ['doomed', 'x']] as const) {
      assert.equal(((await a.call({ op: 'set', key, value })) as SetOutcome).ok, true);
      // Read through until the copy stays local: the news of a's set may drop the first copy.
      await eventually(`b holds ${key} locally`, async () => (await b.call({ op: 'get', key })) === value && (await b.call({ op: 'getSync', key })) === value);
    }

    proxy.cut();
    await eventually('b lost its connection', async () => !((await b.call({ op: 'status' })) as { connected: boolean }).connected);
    assert.equal(((await a.call({ op: 'set', key: 'page', value: 'v2' })) as SetOutcome).ok, true);
    await a.call({ op: 'delete', key: 'doomed' });
    proxy.restore();

    // `ready` replies with what getSync read the moment the tier was connected and subscribed again.
    assert.notEqual(await b.call({ op: 'ready', key: 'page', timeout: 10_000 }, 15_000), 'v1', 'b served the value replaced while it was away');
    assert.equal(await b.call({ op: 'getSync', key: 'doomed' }), undefined, 'b served the value deleted while it was away');
    assert.equal(await b.call({ op: 'get', key: 'page' }), 'v2');
    assert.deepEqual([...a.unhandled, ...b.unhandled], []);
  });
});
