// The LMDB tier in detail, two tiers on one file as two processes would have them: which change
// of one reaches the other's listeners (and never its own), what a trimmed change log makes a
// follower do, a clear carrying a cluster version, the versions a read reports, expiry at the
// millisecond, and the errors of misuse, word for word.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeEntry } from '../../src/core/entry.js';
import { InvalidKeyError, StorageError } from '../../src/core/errors.js';
import type { CacheEntry } from '../../src/core/entry.js';
import type { Invalidation, SharedTier, TierReport, WriteOutcome } from '../../src/core/tier.js';
import { lmdbTier } from '../../src/tiers/lmdb/tier.js';
import { acquireEnvironment, releaseEnvironment, transact } from '../../src/tiers/lmdb/env.js';
import { currentVersion, recordChange } from '../../src/tiers/lmdb/versions.js';
import { manualClock } from '../helpers/clock.js';
import { until } from '../fixtures/policy-support.js';
import { tempDir } from '../helpers/tmp.js';

const NO_AUTO_SWEEP = 3_600_000;

/** What the tier holds for `key` in a fresh snapshot (the LMDB tier's get is synchronous). */
const fresh = (tier: SharedTier, key: string): CacheEntry | undefined => tier.get?.(key) as CacheEntry | undefined;

interface Attached {
  readonly tier: SharedTier;
  readonly changes: Invalidation[];
  readonly released: string[];
  readonly reports: TierReport[];
}

describe('lmdbTier details', () => {
  const dir = tempDir('herdcache-lmdb-details');
  const clock = manualClock(5_000_000);
  const open: SharedTier[] = [];
  let a: Attached;
  let b: Attached;

  function attach(syncInterval = 5): Attached {
    const tier = lmdbTier({ path: dir.path, syncInterval, sweepInterval: NO_AUTO_SWEEP });
    const changes: Invalidation[] = [];
    const released: string[] = [];
    const reports: TierReport[] = [];
    tier.attach({ clock, report: (r) => reports.push(r) });
    tier.onInvalidation?.((change) => changes.push(change));
    tier.onLeaseRelease?.((key) => released.push(key));
    open.push(tier);
    return { tier, changes, released, reports };
  }

  before(() => {
    a = attach();
    b = attach();
  });
  after(async () => {
    await Promise.all(open.map((t) => t.close()));
    dir.cleanup();
  });

  it("delivers one tier's set, delete, clear and lease release to the other, never to itself", async () => {
    b.changes.length = 0;
    await a.tier.set('0::k', makeEntry('v', clock(), 1_000, 1_000, 0), 10);
    await a.tier.delete('0::k');
    await a.tier.clear('0::');
    const grant = await a.tier.leases!.acquire('0::lease', 'me', 1_000);
    assert.equal(grant.acquired, true);
    assert.equal(await a.tier.leases!.release('0::lease', 'me'), true);
    await until(() => b.changes.length === 3 && b.released.length === 1, 'b heard four changes', 5_000);
    assert.deepEqual(b.changes, [{ key: '0::k' }, { key: '0::k' }, { prefix: '0::' }]);
    assert.deepEqual(b.released, ['0::lease']);
    await b.tier.set('0::from-b', makeEntry('v', clock(), 1_000, 1_000, 0), 10);
    await until(() => a.changes.length === 1, 'a heard the change of b', 5_000);
    assert.deepEqual(a.changes, [{ key: '0::from-b' }], 'a heard only the change of b, none of its own');
    assert.deepEqual(a.released, []);
  });

  it('gives its news to every listener, each until it unsubscribes, and a throwing one to the others too', async () => {
    const second: Invalidation[] = [];
    const releases: string[] = [];
    const stopSecond = b.tier.onInvalidation!((change) => second.push(change));
    const stopThrowing = b.tier.onInvalidation!(() => { throw new Error('a faulty listener'); });
    const stopReleases = b.tier.onLeaseRelease!((key) => releases.push(key));
    b.changes.length = 0;
    b.reports.length = 0;
    await a.tier.set('0::news', makeEntry('v', clock(), 1_000, 1_000, 0), 10);
    await until(() => b.changes.length === 1 && second.length === 1, 'both listeners heard the set', 5_000);
    assert.deepEqual(second, [{ key: '0::news' }]);
    assert.ok(b.reports.some((r) => r.type === 'error' && r.operation === 'sync' && (r.error as Error).message === 'a faulty listener'));
    stopSecond();
    stopSecond();
    stopThrowing();
    await a.tier.delete('0::news');
    await a.tier.leases!.acquire('0::news-lease', 'me', 1_000);
    await a.tier.leases!.release('0::news-lease', 'me');
    await until(() => b.changes.length === 2 && releases.length === 1, 'the listeners still subscribed heard the delete and the release', 5_000);
    assert.deepEqual(second, [{ key: '0::news' }], 'an unsubscribed listener hears nothing more');
    assert.deepEqual(releases, ['0::news-lease']);
    stopReleases();
  });

  it('a follower whose unread changes were trimmed away drops every copy, then goes on after the trim', async () => {
    const follower = attach(50);
    const env = acquireEnvironment(dir.path, 16 * 1024 * 1024);
    try {
      // In one transaction, as the sweep would leave it: a change the follower never read is
      // trimmed from the log, the next one is still there.
      await transact(env, env.entries, () => {
        const lost = recordChange(env, { o: 'another', t: clock(), k: '0::lost' });
        recordChange(env, { o: 'another', t: clock(), k: '0::kept' });
        env.log.remove(lost);
        env.meta.put('trimmed', lost);
      });
    } finally {
      await releaseEnvironment(env);
    }
    await until(() => follower.changes.length === 2, 'the follower polled', 5_000);
    assert.deepEqual(follower.changes, [{ prefix: '' }, { key: '0::kept' }]);
  });

  it('a clear with a cluster version leaves entries written later on the cluster, and stamps the prefix', async () => {
    const entry = makeEntry('x', clock(), 60_000, 60_000, 0);
    await a.tier.set('1:older', entry, 10, { clusterVersion: 4 });
    await a.tier.set('1:later', entry, 10, { clusterVersion: 9 });
    await a.tier.set('1:same', entry, 10, { clusterVersion: 6 });
    await a.tier.set('1:local', entry, 10);
    await a.tier.set('10:other', entry, 10);
    const cleared = (await a.tier.clear('1:', { clusterVersion: 6 })) as WriteOutcome;
    assert.equal(cleared.applied, true);
    assert.equal(fresh(a.tier, '1:older'), undefined);
    assert.equal(fresh(a.tier, '1:local'), undefined, 'an entry without a cluster version is older than the clear');
    assert.equal(fresh(a.tier, '1:later')?.value, 'x', 'written after the clear on the cluster');
    assert.equal(fresh(a.tier, '1:same')?.value, 'x', 'the clear was ordered before it');
    assert.equal(fresh(a.tier, '10:other')?.value, 'x', "another prefix's key");
    const env = acquireEnvironment(dir.path, 16 * 1024 * 1024);
    try {
      env.root.resetReadTxn();
      assert.deepEqual(env.clears.get('1:'), { v: cleared.version, t: clock(), rv: 6 });
      assert.equal([...env.byAge.getKeys({})].some(([, key]) => key === '1:older' || key === '1:local'), false, 'their index rows went with them');
    } finally {
      await releaseEnvironment(env);
    }
    assert.equal(((await a.tier.set('1:older', entry, 10, { clusterVersion: 5 })) as WriteOutcome).applied, false, 'a cluster write older than the clear is refused');
  });

  it('a read reports the version of what it found and the counter of its snapshot; expiry is judged at the millisecond', async () => {
    const stored = (await a.tier.set('2:k', makeEntry('v', clock(), 100, 200, 0), 10)) as WriteOutcome;
    const read = a.tier.read!('2:k') as { entry: unknown; observed: number; version?: number };
    assert.equal(read.version, stored.version);
    assert.ok(read.observed >= stored.version!);
    assert.equal(a.tier.observe?.(), read.observed);
    clock.advance(199);
    assert.equal(a.tier.getSync?.('2:k')?.value, 'v');
    clock.advance(1);
    assert.equal(a.tier.getSync?.('2:k'), undefined, 'at staleUntil: a miss');
    const miss = a.tier.read!('2:k') as { entry: unknown; observed: number; version?: number };
    assert.deepEqual(Object.keys(miss).sort(), ['entry', 'observed'], 'a miss has no version');
  });

  it('an overwrite or a delete leaves no index row of the older entry behind', async () => {
    await a.tier.set('3:k', makeEntry('old', clock(), 60_000, 60_000, 0), 10);
    clock.advance(5);
    await a.tier.set('3:k', makeEntry('new', clock(), 60_000, 60_000, 0), 10);
    const rows = async (): Promise<Array<[number, string]>> => {
      const env = acquireEnvironment(dir.path, 16 * 1024 * 1024);
      try {
        env.root.resetReadTxn();
        return [...env.byAge.getKeys({})].filter(([, key]) => key === '3:k');
      } finally {
        await releaseEnvironment(env);
      }
    };
    assert.deepEqual(await rows(), [[clock(), '3:k']], 'one row, the newer entry\'s');
    await a.tier.delete('3:k');
    assert.deepEqual(await rows(), []);
  });

  it('says what was misused, word for word', async () => {
    assert.throws(() => a.tier.attach({ clock, report: () => {} }), (error: unknown) =>
      error instanceof StorageError && error.message === 'lmdb: this LMDB tier is already attached to a cache: create one tier per cache (caches on one path share its file)');
    const unattached = lmdbTier({ path: dir.path });
    assert.throws(() => unattached.getSync?.('k'), (error: unknown) => error instanceof StorageError && error.message === 'lmdb: the LMDB tier is not attached to an open cache');
    const limit = a.tier.maxKeyBytes;
    assert.equal(limit, 1967);
    const long = 'k'.repeat(limit + 1);
    await assert.rejects(async () => a.tier.set(long, makeEntry(1, clock(), 10, 10, 0), 10), (error: unknown) => {
      assert.ok(error instanceof InvalidKeyError);
      assert.equal(error.message, `the storage key is ${limit + 1} bytes long, over the LMDB tier's limit of ${limit} bytes: hash long keys`);
      assert.equal(error.key, 'k'.repeat(64));
      return true;
    });
    await assert.rejects(async () => a.tier.delete('é'.repeat(Math.ceil((limit + 1) / 2))), InvalidKeyError);
    assert.equal(((await a.tier.delete('é'.repeat(Math.floor(limit / 2)))) as WriteOutcome).applied, true, 'multi-byte keys up to the limit in bytes');
    const env = acquireEnvironment(dir.path, 16 * 1024 * 1024);
    try {
      env.root.resetReadTxn();
      assert.ok(currentVersion(env) > 0);
    } finally {
      await releaseEnvironment(env);
    }
  });
});
