// The Redis tier's connection helpers (src/tiers/redis/connection.ts): the settings imposed on
// every connection, loading the optional ioredis, scripts that survive a flushed script cache,
// the command timeout, and how errors are classified for the circuit breaker.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { StorageError } from '../../src/core/errors.js';
import { closeConnection, connectionOptions, isReplyError, isTimeout, loadIoredis, luaScript, RedisTimeoutError, withTimeout } from '../../src/tiers/redis/connection.js';
import { redisSkip, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

describe('redis connection settings and errors', () => {
  it('no offline queue, no retried or resent commands, no automatic resubscription, reconnection backing off to 1 s', () => {
    const { retryStrategy, ...settings } = connectionOptions(1_234);
    assert.deepEqual(settings, {
      lazyConnect: false, enableOfflineQueue: false, enableReadyCheck: true, maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false, autoResubscribe: false, connectTimeout: 1_234,
    });
    assert.deepEqual([1, 2, 5, 10, 11, 1_000].map((times) => retryStrategy?.(times)), [100, 200, 500, 1_000, 1_000, 1_000]);
  });

  it('loads ioredis from its named or default export, and says why when it cannot', async () => {
    class Fake {}
    assert.equal(await loadIoredis(() => Promise.resolve({ Redis: Fake })), Fake);
    assert.equal(await loadIoredis(() => Promise.resolve({ default: Fake })), Fake);
    const broken = new Error('SyntaxError in ioredis');
    await assert.rejects(loadIoredis(() => Promise.reject(broken)), (error: unknown) =>
      error instanceof StorageError && error.message === 'redis: the optional dependency ioredis could not be loaded' && error.cause === broken);
    for (const module of [null, {}, { Redis: 'not a class' }]) {
      await assert.rejects(loadIoredis(() => Promise.resolve(module)), (error: unknown) =>
        error instanceof StorageError && error.message === 'redis: the installed ioredis exports no Redis class: install ioredis 5 or later');
    }
  });

  it('a command timeout rejects with RedisTimeoutError; otherwise the command settles as it does', async () => {
    assert.equal(await withTimeout(Promise.resolve('pong'), 1_000), 'pong');
    const refused = new Error('refused');
    await assert.rejects(withTimeout(Promise.reject(refused), 1_000), (error: unknown) => error === refused);
    let rejectLate!: (error: Error) => void;
    const never = new Promise<string>((_, reject) => { rejectLate = reject; });
    await assert.rejects(withTimeout(never, 20), (error: unknown) => {
      assert.ok(error instanceof RedisTimeoutError);
      assert.equal(error.name, 'RedisTimeoutError');
      assert.equal(error.timeout, 20);
      assert.equal(error.message, 'Redis did not answer within 20 ms');
      return true;
    });
    rejectLate(new Error('too late')); // observed: the strict-rejections guard would fail the file
  });

  it('tells a timeout and a reply of the server from any other failure', () => {
    assert.equal(isTimeout(new RedisTimeoutError(5)), true);
    assert.equal(isTimeout(new Error('Command timed out')), true, "ioredis's own timeout");
    assert.equal(isTimeout(new Error('Connection is closed.')), false);
    assert.equal(isTimeout('Command timed out'), false);
    const reply = Object.assign(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'), { name: 'ReplyError' });
    assert.equal(isReplyError(reply), true);
    assert.equal(isReplyError(new Error('WRONGTYPE')), false);
    assert.equal(isReplyError({ name: 'ReplyError' }), false);
  });
});

async function eventually(probe: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Waits until a connection has ended, and stays ended (no reconnection). */
async function ended(connection: Redis): Promise<void> {
  await eventually(() => connection.status === 'end');
}

describe('redis scripts and closing, on a real redis-server', { skip: redisSkip(), timeout: 30_000 }, () => {
  let server: RedisServer;
  let client: Redis;
  before(async () => {
    server = await startRedisServer();
    client = new Redis(server.url);
  });
  after(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it('a script is named by the SHA-1 of its text and runs whether or not the server knows it yet', async () => {
    const lua = "return {KEYS[1], ARGV[1]}";
    const script = luaScript(lua);
    assert.equal(script.sha, createHash('sha1').update(lua).digest('hex'));
    await client.script('FLUSH');
    assert.deepEqual(await script.run(client, ['k'], ['a']), ['k', 'a'], 'unknown: sent whole');
    assert.deepEqual(await script.run(client, ['k'], ['b']), ['k', 'b'], 'known: by its SHA-1');
    await client.script('FLUSH');
    assert.deepEqual(await script.runBuffer(client, ['k'], ['c']), [Buffer.from('k'), Buffer.from('c')], 'bulk replies as Buffers');
    assert.deepEqual(await script.runBuffer(client, ['k'], ['d']), [Buffer.from('k'), Buffer.from('d')]);
  });

  it('an error raised by a script is thrown as it is, not retried', async () => {
    const failing = luaScript("return redis.error_reply('NOPE this script refuses')");
    await assert.rejects(failing.run(client, [], []), (error: unknown) => isReplyError(error) && /NOPE this script refuses/.test((error as Error).message));
    await assert.rejects(failing.runBuffer(client, [], []), (error: unknown) => isReplyError(error) && /NOPE/.test((error as Error).message));
  });

  it('closes a ready connection with QUIT, and one never connected without it', async () => {
    const ready = new Redis(server.url);
    await ready.ping();
    const commands: string[] = [];
    // No ready check on the monitoring connection: ioredis may send its INFO after MONITOR, and
    // then reads the echo of its own INFO as the reply it awaits (a "command queue state error").
    const watcher = new Redis(server.url, { lazyConnect: true, enableReadyCheck: false });
    const monitor = await watcher.monitor();
    try {
      monitor.on('monitor', (_time: string, args: string[]) => commands.push(String(args[0]).toLowerCase()));
      await closeConnection(ready, 500);
      await ended(ready);
      const idle = new Redis(server.url, { lazyConnect: true });
      await closeConnection(idle, 500);
      await ended(idle);
      await client.ping();
      await eventually(() => commands.includes('ping'));
    } finally {
      // Even when the test fails: an open monitor keeps the file's process alive until its timeout.
      monitor.disconnect();
      watcher.disconnect();
      ready.disconnect();
    }
    assert.deepEqual(commands.filter((c) => c === 'quit'), ['quit'], 'one QUIT: from the ready connection only');
  });
});
