import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeBusMessage, encodeBusMessage, encodeReleaseMessage, ReadGuard } from '../../src/tiers/redis/bus.js';
import { loadIoredis } from '../../src/tiers/redis/connection.js';
import { StorageError } from '../../src/core/errors.js';

describe('redis invalidation messages', () => {
  it('round-trip a key or a prefix with the origin, and the site when there is one', () => {
    assert.deepEqual(decodeBusMessage(encodeBusMessage('o1', undefined, { key: '0::user:1' })), { origin: 'o1', change: { key: '0::user:1' } });
    assert.deepEqual(decodeBusMessage(encodeBusMessage('o2', undefined, { prefix: '' })), { origin: 'o2', change: { prefix: '' } });
    assert.deepEqual(decodeBusMessage(encodeBusMessage('o3', undefined, { key: 'caf\u00e9 "quoted" \u{1F600}' })), { origin: 'o3', change: { key: 'caf\u00e9 "quoted" \u{1F600}' } });
    assert.deepEqual(decodeBusMessage(encodeBusMessage('o4', 'site-1', { key: '0::k' })), { origin: 'o4', change: { key: '0::k', site: 'site-1' } });
    assert.deepEqual(decodeBusMessage(encodeBusMessage('o5', 'site-2', { prefix: '0::' })), { origin: 'o5', change: { prefix: '0::', site: 'site-2' } });
  });

  it('round-trip the release of a lease, which is not a change', () => {
    assert.deepEqual(decodeBusMessage(encodeReleaseMessage('o6', '0::k')), { origin: 'o6', released: '0::k' });
    assert.equal(decodeBusMessage('{"o":"a","r":7}'), undefined);
  });

  it('ignore whatever else is published on the channel', () => {
    for (const junk of ['', 'hello', '42', 'null', '[]', '{}', '{"o":1,"k":"x"}', '{"o":"a"}', '{"o":"a","k":3}', '{"o":"a","s":7,"k":"x"}']) {
      assert.equal(decodeBusMessage(junk), undefined, junk);
    }
  });
});

describe('redis read guard', () => {
  it('flags a read overlapped by a change of its key, not of another key', () => {
    const guard = new ReadGuard();
    const a = guard.begin();
    const b = guard.begin();
    guard.changed({ key: 'k' });
    assert.equal(guard.end('k', a), true);
    assert.equal(guard.end('other', b), false);
  });

  it('flags a read overlapped by a clear of a prefix covering its key', () => {
    const guard = new ReadGuard();
    const a = guard.begin();
    const b = guard.begin();
    guard.changed({ prefix: '1:a:' });
    assert.equal(guard.end('1:a:x', a), true);
    assert.equal(guard.end('1:b:x', b), false);
  });

  it('does not flag a read that started after the change', () => {
    const guard = new ReadGuard();
    const first = guard.begin();
    guard.changed({ key: 'k' });
    const second = guard.begin();
    assert.equal(guard.end('k', second), false);
    assert.equal(guard.end('k', first), true);
  });

  it('forgets changes once no read is in flight', () => {
    const guard = new ReadGuard();
    guard.changed({ key: 'k' });
    const mark = guard.begin();
    assert.equal(guard.end('k', mark), false);
  });
});

describe('loading ioredis', () => {
  it('says how to install it when it is missing', async () => {
    const missing = Object.assign(new Error("Cannot find package 'ioredis'"), { code: 'ERR_MODULE_NOT_FOUND' });
    await assert.rejects(loadIoredis(() => Promise.reject(missing)), (error: unknown) => {
      assert.ok(error instanceof StorageError);
      assert.equal(error.code, 'E_STORAGE');
      assert.match(error.message, /npm install ioredis/);
      assert.equal(error.cause, missing);
      return true;
    });
  });

  it('refuses a module without a Redis class', async () => {
    await assert.rejects(loadIoredis(() => Promise.resolve({})), StorageError);
  });

  it('finds the Redis class of the installed package', async () => {
    assert.equal(typeof (await loadIoredis()), 'function');
  });
});
