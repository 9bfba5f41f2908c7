// Parts of the tiers that only the rare paths reach, each on its own: the link leases of a full
// disk taken over once expired, the Redis repair queue past its limit, and the sweep dropping
// tombstones and clear stamps once they are older than twice their retention.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TOMBSTONE_RETENTION } from '../../src/core/coherence-parts.js';
import { acquireEnvironment, releaseEnvironment, transact } from '../../src/tiers/lmdb/env.js';
import { linkLeaseStore } from '../../src/tiers/lmdb/link-leases.js';
import { CHANGE_RETENTION, sweepEnvironment } from '../../src/tiers/lmdb/sweep.js';
import { RepairQueue } from '../../src/tiers/redis/repairs.js';
import { manualClock } from '../helpers/clock.js';
import { tempDir } from '../helpers/tmp.js';

describe('link leases (a full disk\'s machine-wide leases)', () => {
  it('one holder per key; an expired link is taken over (tookOver) and the old holder can no longer release it', async (t) => {
    const dir = tempDir('herdcache-links');
    t.after(() => dir.cleanup());
    const clock = manualClock(1_000);
    const store = linkLeaseStore(dir.path, clock);
    const first = await store.acquire('k', 'first', 500);
    assert.equal(first.acquired, true);
    const refused = await store.acquire('k', 'second', 500);
    assert.ok(!refused.acquired && refused.holder.token === 'first', 'a live link keeps its holder');
    assert.equal((await store.acquire('other', 'second', 500)).acquired, true, 'keys are independent');
    clock.advance(501);
    assert.equal(await store.holder('k'), undefined, 'an expired link has no holder');
    const taken = await store.acquire('k', 'second', 500);
    assert.ok(taken.acquired && taken.tookOver, 'the expired link is taken over');
    assert.equal(await store.release('k', 'first'), false, 'the old holder cannot release its successor\'s lease');
    assert.equal((await store.holder('k'))?.token, 'second');
    assert.equal(await store.release('k', 'second'), true);
    assert.equal(await store.holder('k'), undefined);
    assert.deepEqual(readdirSync(join(dir.path, 'leases')).length, 1, 'only the other key\'s link is left');
  });
});

describe('link leases: their file format and failures', () => {
  it('each lease is a link named after the hash of its key, whose target is token@expiry; other processes read it so', async (t) => {
    const dir = tempDir('herdcache-links-format');
    t.after(() => dir.cleanup());
    const clock = manualClock(5_000);
    const store = linkLeaseStore(dir.path, clock);
    assert.equal(existsSync(join(dir.path, 'leases')), false, 'no folder before the first lease');
    assert.deepEqual(await store.acquire('0::page', 'tok', 250), { acquired: true, lease: { key: '0::page', token: 'tok', expiresAt: 5_250 }, tookOver: false });
    const name = createHash('sha256').update('0::page').digest('hex').slice(0, 40);
    assert.deepEqual(readdirSync(join(dir.path, 'leases')), [name]);
    assert.equal(readlinkSync(join(dir.path, 'leases', name)), 'tok@5250');
    clock.advance(249);
    assert.deepEqual(store.holder('0::page'), { key: '0::page', token: 'tok', expiresAt: 5_250 });
    clock.advance(1);
    assert.equal(store.holder('0::page'), undefined, 'at its expiry');
    assert.equal((await store.acquire('0::page', 'next', 100)).acquired, true, 'taken over at its expiry');
  });

  it('a link whose target is not token@expiry counts as expired; a release of another token or of nothing is refused', async (t) => {
    const dir = tempDir('herdcache-links-odd');
    t.after(() => dir.cleanup());
    const store = linkLeaseStore(dir.path, manualClock(5_000));
    await store.acquire('seed', 'x', 1); // creates the folder
    symlinkSync('garbage', join(dir.path, 'leases', createHash('sha256').update('odd').digest('hex').slice(0, 40)));
    assert.equal(store.holder('odd'), undefined);
    const taken = await store.acquire('odd', 'me', 100);
    assert.ok(taken.acquired && taken.tookOver);
    assert.equal(await store.release('odd', 'other'), false);
    assert.equal((await store.holder('odd'))?.token, 'me', 'a refused release leaves the link');
    assert.equal(await store.release('absent', 'me'), false);
    assert.equal(await store.release('odd', 'me'), true);
  });

  it('a folder that cannot hold links fails loudly instead of granting', async (t) => {
    const dir = tempDir('herdcache-links-broken');
    t.after(() => dir.cleanup());
    writeFileSync(join(dir.path, 'leases'), 'a file where the folder should be');
    const store = linkLeaseStore(dir.path, manualClock(5_000));
    await assert.rejects(store.acquire('k', 'me', 100), (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOTDIR');
    assert.throws(() => store.holder('k'), (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOTDIR');
  });
});

describe('Redis repair queue', () => {
  it('past its limit it repairs the whole prefix instead of naming keys, and is empty again once that repair is done', () => {
    const queue = new RepairQueue(3);
    queue.add({ key: 'a' });
    queue.add({ prefix: 'p:' });
    queue.settled('a');
    assert.deepEqual(queue.pending(), [{ prefix: 'p:' }], 'a later write of a key settles its repair');
    queue.add({ key: 'b' });
    queue.add({ key: 'c' });
    queue.add({ key: 'd' });
    assert.deepEqual(queue.pending(), [{ prefix: '' }], 'over the limit: everything');
    assert.equal(queue.size, 1);
    assert.equal(queue.has({ prefix: '' }), true);
    assert.equal(queue.has({ key: 'b' }), false);
    queue.add({ key: 'e' });
    queue.done({ prefix: '' });
    assert.deepEqual(queue.pending(), []);
    assert.equal(queue.size, 0);
    queue.add({ key: 'f' });
    assert.deepEqual(queue.pending(), [{ key: 'f' }], 'it names keys again after the overflow was repaired');
  });

  it('up to its limit it names each target once, prefixes first, and forgets each as it is repaired', () => {
    const queue = new RepairQueue(4);
    queue.add({ key: 'k1' });
    queue.add({ prefix: 'p:' });
    queue.add({ key: 'k1' });
    queue.add({ key: 'k2' });
    queue.add({ prefix: '' });
    assert.equal(queue.size, 4, 'exactly at the limit: still named');
    assert.deepEqual(queue.pending(), [{ prefix: 'p:' }, { prefix: '' }, { key: 'k1' }, { key: 'k2' }]);
    assert.equal(queue.has({ key: 'k1' }), true);
    assert.equal(queue.has({ prefix: 'p:' }), true);
    assert.equal(queue.has({ key: 'p:' }), false, 'a key is not a prefix');
    assert.equal(queue.has({ prefix: 'k1' }), false, 'a prefix is not a key');
    queue.settled('p:');
    assert.equal(queue.has({ prefix: 'p:' }), true, 'a write of a key settles no prefix');
    queue.done({ prefix: '' });
    assert.equal(queue.has({ prefix: '' }), false, 'a named clear of everything is done like any prefix');
    queue.done({ key: 'k1' });
    queue.done({ prefix: 'p:' });
    assert.deepEqual(queue.pending(), [{ key: 'k2' }]);
    assert.equal(queue.size, 1);
  });
});

describe('the LMDB sweep and the delete stamps', () => {
  it('keeps a tombstone and a clear stamp for twice their retention, then drops them', async (t) => {
    const dir = tempDir('herdcache-stamps');
    const env = acquireEnvironment(dir.path, 1 << 26);
    t.after(async () => {
      await releaseEnvironment(env);
      dir.cleanup();
    });
    const t0 = 10_000_000;
    await transact(env, env.tombstones, () => {
      env.tombstones.put('0::gone', { v: 1, t: t0 });
      env.clears.put('0::', { v: 2, t: t0 });
    });
    await sweepEnvironment(env, t0 + 2 * TOMBSTONE_RETENTION, 1 << 30);
    env.root.resetReadTxn();
    assert.ok(env.tombstones.get('0::gone') !== undefined && env.clears.get('0::') !== undefined, 'kept for twice the retention');
    await sweepEnvironment(env, t0 + 2 * TOMBSTONE_RETENTION + 1, 1 << 30);
    env.root.resetReadTxn();
    assert.equal(env.tombstones.get('0::gone'), undefined, 'the tombstone is dropped after');
    assert.equal(env.clears.get('0::'), undefined, 'the clear stamp is dropped after');
    assert.ok(existsSync(join(dir.path, 'data.mdb')));
  });

  it('removes entries at their grand timeout, log records past the retention (marking how far), and leases dead for longer than it', async (t) => {
    const dir = tempDir('herdcache-sweep-bounds');
    const env = acquireEnvironment(dir.path, 1 << 26);
    t.after(async () => {
      await releaseEnvironment(env);
      dir.cleanup();
    });
    const t0 = 50_000_000;
    const record = (storedAt: number, staleUntil: number) => ({ value: 1, storedAt, freshUntil: staleUntil, staleUntil, delta: 0, v: 1 });
    await transact(env, env.entries, () => {
      for (const [key, staleUntil] of [['0::due', t0], ['0::next', t0 + 1]] as const) {
        env.entries.put(key, record(t0 - 10, staleUntil));
        env.byAge.put([t0 - 10, key], staleUntil);
      }
      // Its index row says it expired; the record, replaced meanwhile by another process, says not.
      env.entries.put('0::renewed', record(t0 - 10, t0 + 60_000));
      env.byAge.put([t0 - 10, '0::renewed'], t0 - 5);
      env.log.put(1, { o: 'x', t: t0 - CHANGE_RETENTION - 1, k: '0::a' });
      env.log.put(2, { o: 'x', t: t0 - CHANGE_RETENTION, k: '0::b' });
      env.log.put(3, { o: 'x', t: t0, k: '0::c' });
      env.leases.put('0::dead', { token: 'a', expiresAt: t0 - CHANGE_RETENTION - 1 });
      env.leases.put('0::lately', { token: 'b', expiresAt: t0 - CHANGE_RETENTION });
    });
    const evicted = await sweepEnvironment(env, t0, 1 << 30);
    assert.deepEqual(evicted, [{ key: '0::due', cause: 'expired' }]);
    env.root.resetReadTxn();
    assert.equal(env.entries.get('0::next') !== undefined, true, 'a millisecond before its grand timeout');
    assert.equal(env.entries.get('0::renewed') !== undefined, true, 'the record decides, not its index row');
    assert.equal(env.byAge.doesExist([t0 - 10, '0::renewed']), true, 'and keeps its index row, or no sweep would ever find it again');
    assert.deepEqual([...env.log.getKeys({})], [2, 3], 'records older than the retention go, oldest first');
    assert.equal(env.meta.get('trimmed'), 1, 'followers learn how far the log was trimmed');
    assert.deepEqual([...env.leases.getKeys({})], ['\u0000sweep', '0::lately'], 'a lease dead for longer than the retention goes (the other record is the sweeper\'s claim)');
    await transact(env, env.entries, () => env.meta.put('trimmed', 99));
    await sweepEnvironment(env, t0 + CHANGE_RETENTION + 1, 1 << 30);
    env.root.resetReadTxn();
    assert.equal(env.meta.get('trimmed'), 99, 'the mark never moves back');
  });
});
