// Three "machines" (processes with their own LMDB file: memory -> LMDB -> Redis) share one real
// redis-server: one compute per key across all of them, cross-machine invalidation within the
// documented bound, and local service with recovery when redis-server is killed and restarted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { CacheStats } from '../../src/index.js';
import type { RedisTierStatus } from '../../src/tiers/redis/tier.js';
import { Machine, MachineError } from '../fixtures/redis-machine-driver.js';
import { redisSkip, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

/**
 * How long a change may take to reach the other machines in these tests, ms. The tier documents
 * one pub/sub delivery plus one LMDB commit (milliseconds); this leaves room for a loaded machine.
 */
const INVALIDATION_BOUND = 2_000;
/** Longest any call may take while Redis is dead: the command timeout is 200 ms in the fixture. */
const CALL_BOUND = 2_000;

/** Polls `probe` every 10 ms until it returns true; fails after `ms`. Resolves with the wait. */
async function within(what: string, ms: number, probe: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await probe()) return performance.now() - started;
    if (performance.now() - started > ms) assert.fail(`${what}: not within ${ms} ms`);
    await delay(10);
  }
}

/** Runs a call and checks it settled within `ms` (a hung request fails the test). */
async function bounded<T>(what: string, ms: number, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    const took = performance.now() - started;
    assert.ok(took < ms, `${what} took ${Math.round(took)} ms (bound ${ms} ms)`);
  }
}

describe('three machines sharing one redis-server', { skip: redisSkip() }, () => {
  let server: RedisServer;
  let machines: Machine[] = [];
  let a: Machine;
  let b: Machine;
  let c: Machine;

  before(async () => {
    server = await startRedisServer();
    machines = ['A', 'B', 'C'].map((name) => new Machine(name, server.url));
    [a, b, c] = machines as [Machine, Machine, Machine];
    await Promise.all(machines.map((m) => m.ready()));
  });

  after(async () => {
    await Promise.all(machines.map((m) => m.stop()));
    await server?.stop();
  });

  it('20 concurrent cold computes on each of 3 machines run the function once in total', async () => {
    type Herd = { values: string[]; ran: number };
    const herds = await Promise.all(machines.map((m) => m.call<Herd>({ op: 'herd', key: 'cold', callers: 20, computeMs: 300 }, 15_000)));
    const ran = herds.reduce((sum, h) => sum + h.ran, 0);
    assert.equal(ran, 1, `computes per machine: ${herds.map((h) => h.ran).join(', ')}`);
    const values = new Set(herds.flatMap((h) => h.values));
    assert.equal(values.size, 1, `every caller gets the one value: ${[...values].join(', ')}`);
    assert.equal(herds.flatMap((h) => h.values).length, 60);
  });

  it("a set or delete on one machine drops the others' memory and LMDB copies within the bound", async () => {
    await a.call({ op: 'set', key: 'inv', value: 'v1' });
    for (const m of [b, c]) {
      // Read once, v1 is held locally (getSync answers from memory/LMDB without Redis). The message
      // of a's own write may reach this machine after its read and drop that copy (pub/sub and
      // commands travel on separate connections): read until the copy stays.
      await within(`${m.name} holds v1`, INVALIDATION_BOUND, async () => (await m.call({ op: 'get', key: 'inv' })) === 'v1' && (await m.call({ op: 'getSync', key: 'inv' })) === 'v1');
    }
    await a.call({ op: 'set', key: 'inv', value: 'v2' });
    for (const m of [b, c]) {
      // getSync reads only memory and LMDB: undefined means both local copies are gone.
      await within(`${m.name} drops v1`, INVALIDATION_BOUND, async () => (await m.call({ op: 'getSync', key: 'inv' })) !== 'v1');
      // A read that overlaps the arrival of a change record of its key copies nothing (it cannot
      // tell which came first): read until the copy stays, as for v1.
      await within(`${m.name} holds v2 again`, INVALIDATION_BOUND, async () => (await m.call({ op: 'get', key: 'inv' })) === 'v2' && (await m.call({ op: 'getSync', key: 'inv' })) === 'v2');
    }
    await b.call({ op: 'delete', key: 'inv' });
    for (const m of [a, c]) {
      await within(`${m.name} drops v2`, INVALIDATION_BOUND, async () => (await m.call({ op: 'getSync', key: 'inv' })) === null);
      assert.equal(await m.call({ op: 'get', key: 'inv' }), null);
    }
  });

  it('redis-server killed mid-run: every call resolves from local tiers, errors are counted, and the tier resumes after a restart', async () => {
    await a.call({ op: 'set', key: 'warm', value: 'kept' });
    for (const m of [b, c]) assert.equal(await m.call({ op: 'get', key: 'warm' }), 'kept');
    const errorsBefore = await Promise.all(machines.map(async (m) => (await m.call<CacheStats>({ op: 'stats' })).errors));

    // Killed while a herd is in flight: every machine falls back to its LMDB lease, so the key is
    // computed at most once more per machine (the holder's machine cannot see its Redis lease any
    // more either), and every caller gets a value.
    type Herd = { values: string[]; ran: number };
    const herds = machines.map((m) => bounded(`${m.name} herd across the kill`, 5_000, () => m.call<Herd>({ op: 'herd', key: 'mid-run', callers: 20, computeMs: 300 }, 8_000)));
    await delay(100);
    await server.kill();
    const midRun = await Promise.all(herds);
    for (const herd of midRun) assert.equal(herd.values.length, 20);
    const ranPerMachine = midRun.map((h) => h.ran);
    assert.ok(ranPerMachine.every((n) => n <= 2) && ranPerMachine.reduce((x, y) => x + y, 0) <= 4, `computes per machine: ${ranPerMachine.join(', ')}`);
    await Promise.all(
      machines.map(async (m, i) => {
        assert.equal(await bounded(`${m.name} getSync`, CALL_BOUND, () => m.call({ op: 'getSync', key: 'warm' })), 'kept');
        assert.equal(await bounded(`${m.name} get`, CALL_BOUND, () => m.call({ op: 'get', key: 'warm' })), 'kept');
        // A miss computes locally: the Redis read and lease fail fast, the LMDB lease stands in.
        assert.equal(await bounded(`${m.name} compute`, CALL_BOUND, () => m.call({ op: 'compute', key: `offline-${m.name}`, value: `v-${m.name}` })), `v-${m.name}`);
        assert.equal(await bounded(`${m.name} get of a missing key`, CALL_BOUND, () => m.call({ op: 'get', key: 'never-set' })), null);
        await bounded(`${m.name} set`, CALL_BOUND, () =>
          assert.rejects(m.call({ op: 'set', key: 'while-down', value: 'x' }), (e: unknown) => e instanceof MachineError && e.code === 'E_STORAGE'),
        );
        const stats = await m.call<CacheStats>({ op: 'stats' });
        assert.ok(stats.errors > errorsBefore[i]!, `${m.name}: errors ${errorsBefore[i]} -> ${stats.errors}`);
        assert.equal((await m.call<RedisTierStatus>({ op: 'status' })).connected, false);
      }),
    );

    await server.restart();
    for (const m of machines) {
      await within(`${m.name} reconnects and subscribes`, 10_000, async () => {
        const status = await m.call<RedisTierStatus>({ op: 'status' });
        return status.connected && status.subscribed;
      });
    }
    await a.call({ op: 'set', key: 'after', value: 'back' });
    for (const m of [b, c]) {
      // Right after the restart the machines replay the new stream (the repairs of what failed
      // while Redis was away, then this set): a read overlapped by a change of its key is a miss,
      // which is always safe, so look until the value is there.
      await within(`${m.name} reads the value written after the restart, and keeps a copy`, 3_000, async () => (await m.call({ op: 'get', key: 'after' })) === 'back' && (await m.call({ op: 'getSync', key: 'after' })) === 'back');
    }
    // Invalidation flows again too.
    await a.call({ op: 'set', key: 'after', value: 'again' });
    for (const m of [b, c]) {
      await within(`${m.name} drops the old copy after the restart`, INVALIDATION_BOUND, async () => (await m.call({ op: 'getSync', key: 'after' })) !== 'back');
      assert.equal(await m.call({ op: 'get', key: 'after' }), 'again');
    }
  });
});
