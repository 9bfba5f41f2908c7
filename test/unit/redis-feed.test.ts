// The Redis tier's change feed against a real redis-server: where a follower starts, what it
// replays, when it must drop every local copy instead, what it delivers, and where it keeps its
// checkpoint. Each test drives a ChangeFeed on its own connection and stream.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { Checkpoints, Invalidation } from '../../src/core/tier.js';
import { ChangeFeed, compareStreamIds } from '../../src/tiers/redis/feed.js';
import { until } from '../fixtures/policy-support.js';
import { redisSkip, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const ORIGIN = 'me';
const CHECKPOINT = 'redis:feed:';

/** Checkpoints in memory, recording each put; `failing` makes puts reject. */
function memoryCheckpoints(initial?: string, failing = false): Checkpoints & { puts: string[] } {
  const values = new Map<string, string>(initial === undefined ? [] : [[CHECKPOINT, initial]]);
  const puts: string[] = [];
  return {
    puts,
    get: (name) => values.get(name),
    put: async (name, value) => {
      if (failing) throw new Error('disk full');
      puts.push(value);
      values.set(name, value);
    },
  };
}

describe('compareStreamIds', () => {
  it('orders ids by their numbers, milliseconds first, not as text', () => {
    assert.ok(compareStreamIds('10-0', '9-9') > 0);
    assert.ok(compareStreamIds('5-10', '5-9') > 0);
    assert.ok(compareStreamIds('5-9', '5-10') < 0);
    assert.ok(compareStreamIds('9-9', '10-0') < 0);
    assert.equal(compareStreamIds('7-3', '7-3'), 0);
    assert.equal(compareStreamIds('0-0', '0-0'), 0);
  });
});

describe('ChangeFeed on a real redis-server', { skip: redisSkip(), timeout: 30_000 }, () => {
  let server: RedisServer;
  let raw: Redis;
  let run = 0;

  before(async () => {
    server = await startRedisServer();
    raw = new Redis(server.url);
  });
  /** Feeds still following when a test ends (it failed early) are stopped before the next. */
  const running: Array<{ stop(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((f) => f.stop()));
  });
  after(async () => {
    raw?.disconnect();
    await server?.stop();
  });

  /** Adds a change record; resolves with its id. */
  async function record(stream: string, fields: Record<string, string>): Promise<string> {
    return (await raw.xadd(stream, '*', ...Object.entries(fields).flat()))!;
  }

  /**
   * Follows `stream` until stopped. `states` records `following` at each state change, and
   * `deliveredWhenFollowing` how many changes had arrived when it first said it followed.
   */
  function follow(stream: string, checkpoints: Checkpoints | undefined) {
    const delivered: Invalidation[] = [];
    const reports: Array<{ operation: string; error: unknown }> = [];
    const states: boolean[] = [];
    let deliveredWhenFollowing = -1;
    const connection = new Redis(server.url);
    let current = true;
    const feed = new ChangeFeed({
      stream, origin: ORIGIN, checkpoint: CHECKPOINT, checkpoints: () => checkpoints,
      deliver: (change) => delivered.push(change),
      report: (operation, error) => reports.push({ operation, error }),
    });
    const onState = (): void => {
      states.push(feed.following);
      if (feed.following && deliveredWhenFollowing < 0) deliveredWhenFollowing = delivered.length;
    };
    const done = feed.follow(connection, () => current, onState);
    const handle = {
      feed, delivered, reports, states, connection, done,
      get deliveredWhenFollowing() { return deliveredWhenFollowing; },
      following: () => until(() => feed.following, 'the feed follows', 5_000),
      /** Ends the feed: no longer current, and its connection closed so that XREAD returns. */
      async stop(): Promise<void> {
        current = false;
        connection.disconnect();
        await done;
      },
      /** Closes the connection while the feed still counts it as its own. */
      async lose(): Promise<void> {
        connection.disconnect();
        await done;
        current = false;
      },
    };
    running.push(handle);
    return handle;
  }

  const stream = (): string => `feed-${++run}:x`;

  it('starts at the end of the stream the first time, then delivers others\' changes with site and version, never its own', async () => {
    const name = stream();
    await record(name, { o: 'other', s: 'S1', k: 'before', v: '1' });
    const checkpoints = memoryCheckpoints();
    const f = follow(name, checkpoints);
    await f.following();
    assert.deepEqual(f.delivered, [], 'what came before the first follow is not known to be stale');
    const end = (await raw.xrevrange(name, '+', '-', 'COUNT', 1))[0]![0];
    assert.equal(checkpoints.get(CHECKPOINT), end, 'the starting point is saved at once');
    await record(name, { o: 'other', s: 'S1', k: 'a', v: '7' });
    await record(name, { o: ORIGIN, s: 'S1', k: 'own', v: '8' });
    await record(name, { o: 'other', p: 'ns:', v: 'not a number' });
    const last = await record(name, { o: 'other', s: '', k: 'b', v: '10' });
    await until(() => f.delivered.length === 3, 'three changes delivered', 5_000);
    assert.deepEqual(f.delivered, [{ key: 'a', site: 'S1', version: 7 }, { prefix: 'ns:' }, { key: 'b', version: 10 }]);
    await until(() => checkpoints.get(CHECKPOINT) === last, 'the checkpoint reaches the last record', 5_000);
    await f.stop();
    assert.deepEqual(f.states, [true, false]);
    assert.deepEqual(f.reports, [], 'a feed stopped by its owner reports nothing');
  });

  it('resumes after its checkpoint and replays every missed record, over many batches, before it says it follows', async () => {
    const name = stream();
    const saved = await record(name, { o: 'other', k: 'seen', v: '1' });
    const pipeline = raw.pipeline();
    for (let i = 0; i < 1_100; i++) pipeline.xadd(name, '*', 'o', 'other', 'k', `missed-${i}`, 'v', String(i + 2));
    await pipeline.exec();
    const f = follow(name, memoryCheckpoints(saved));
    await f.following();
    assert.equal(f.deliveredWhenFollowing, 1_100, 'every missed change was applied before following');
    assert.deepEqual(f.delivered.slice(0, 2), [{ key: 'missed-0', version: 2 }, { key: 'missed-1', version: 3 }]);
    assert.deepEqual(f.delivered.at(-1), { key: 'missed-1099', version: 1_101 });
    await f.stop();
  });

  it('drops every local copy when records after its checkpoint were trimmed away, and goes on from the end', async () => {
    const name = stream();
    const saved = await record(name, { o: 'other', k: 'k1', v: '1' });
    for (const k of ['k2', 'k3', 'k4', 'k5']) await record(name, { o: 'other', k, v: k.slice(1) });
    // As the write scripts' MAXLEN does: the oldest records go (Redis 7 leaves max-deleted-entry-id at 0-0).
    await raw.xtrim(name, 'MAXLEN', 2);
    const f = follow(name, memoryCheckpoints(saved));
    await f.following();
    assert.deepEqual(f.delivered, [{ prefix: '' }], 'the drop covers every record up to the end');
    await record(name, { o: 'other', k: 'k6', v: '6' });
    await until(() => f.delivered.length === 2, 'the next change is delivered', 5_000);
    assert.deepEqual(f.delivered[1], { key: 'k6', version: 6 });
    await f.stop();
  });

  it('with a checkpoint taken on an empty stream (0-0): replays every record if none was trimmed, else drops', async () => {
    const whole = stream();
    await record(whole, { o: 'other', k: 'k1', v: '1' });
    await record(whole, { o: 'other', k: 'k2', v: '2' });
    const replay = follow(whole, memoryCheckpoints('0-0'));
    await replay.following();
    assert.deepEqual(replay.delivered, [{ key: 'k1', version: 1 }, { key: 'k2', version: 2 }]);
    await replay.stop();

    const trimmed = stream();
    for (const k of ['k1', 'k2', 'k3']) await record(trimmed, { o: 'other', k, v: k.slice(1) });
    await raw.xtrim(trimmed, 'MAXLEN', 1);
    const dropped = follow(trimmed, memoryCheckpoints('0-0'));
    await dropped.following();
    assert.deepEqual(dropped.delivered, [{ prefix: '' }]);
    await dropped.stop();
  });

  it('takes no drop for a checkpoint whose later records are all still there, even after a trim of older ones', async () => {
    const name = stream();
    await record(name, { o: 'other', k: 'k1', v: '1' });
    const saved = await record(name, { o: 'other', k: 'k2', v: '2' });
    await record(name, { o: 'other', k: 'k3', v: '3' });
    await raw.xtrim(name, 'MAXLEN', 2);
    const f = follow(name, memoryCheckpoints(saved));
    await f.following();
    assert.deepEqual(f.delivered, [{ key: 'k3', version: 3 }]);
    await f.stop();
  });

  it('drops every local copy when Redis lost the stream, and when the stream restarted below the checkpoint', async () => {
    const lost = follow(stream(), memoryCheckpoints('1700000000000-0'));
    await lost.following();
    assert.deepEqual(lost.delivered, [{ prefix: '' }]);
    await lost.stop();

    const name = stream();
    await record(name, { o: 'other', k: 'old', v: '1' });
    const restarted = follow(name, memoryCheckpoints('99999999999999-0'));
    await restarted.following();
    assert.deepEqual(restarted.delivered, [{ prefix: '' }]);
    await record(name, { o: 'other', k: 'new', v: '2' });
    await until(() => restarted.delivered.length === 2, 'a change after the restart is delivered', 5_000);
    assert.deepEqual(restarted.delivered[1], { key: 'new', version: 2 });
    await restarted.stop();
  });

  it('takes a checkpoint at the very start (0-0) with no stream as nothing missed', async () => {
    const name = stream();
    const f = follow(name, memoryCheckpoints('0-0'));
    await f.following();
    await record(name, { o: 'other', k: 'first', v: '1' });
    await until(() => f.delivered.length === 1, 'the first change is delivered', 5_000);
    assert.deepEqual(f.delivered, [{ key: 'first', version: 1 }]);
    await f.stop();
  });

  it('follows without a machine tier to keep a checkpoint in', async () => {
    const name = stream();
    const f = follow(name, undefined);
    await f.following();
    await record(name, { o: 'other', k: 'k', v: '1' });
    await until(() => f.delivered.length === 1, 'delivered', 5_000);
    await f.stop();
    assert.deepEqual(f.reports, []);
  });

  it('reports a checkpoint it cannot save, and keeps following', async () => {
    const name = stream();
    const f = follow(name, memoryCheckpoints(undefined, true));
    await f.following();
    await record(name, { o: 'other', k: 'k', v: '1' });
    await until(() => f.delivered.length === 1, 'delivered', 5_000);
    await until(() => f.reports.length >= 2, 'two failed saves reported', 5_000);
    assert.ok(f.reports.every((r) => r.operation === 'checkpoint' && (r.error as Error).message === 'disk full'));
    assert.equal(f.feed.following, true);
    await f.stop();
  });

  it('reports a lost connection while it is still the feed\'s own, and stops following', async () => {
    const f = follow(stream(), memoryCheckpoints());
    await f.following();
    await f.lose();
    assert.equal(f.feed.following, false);
    assert.deepEqual(f.states, [true, false]);
    assert.deepEqual(f.reports.map((r) => r.operation), ['feed']);
  });

  it('reports a connection lost while catching up, and never says it follows', async () => {
    // Never connected and no offline queue: every command fails at once.
    const connection = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false });
    const reports: string[] = [];
    const states: boolean[] = [];
    const feed = new ChangeFeed({
      stream: stream(), origin: ORIGIN, checkpoint: CHECKPOINT, checkpoints: () => memoryCheckpoints(),
      deliver: () => {}, report: (operation) => reports.push(operation),
    });
    const onState = (): void => void states.push(feed.following);
    await feed.follow(connection, () => true, onState);
    assert.deepEqual(reports, ['feed']);
    assert.equal(states.length, 0, 'it never said it followed');
    await feed.follow(connection, () => false, onState);
    assert.deepEqual(reports, ['feed'], 'a connection that is no longer the feed\'s is not reported');
    connection.disconnect();
  });
});
