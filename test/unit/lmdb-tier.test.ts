// The machine-wide L2: corrupt records read as counted misses, the size bound holds after a
// sweep, expired entries are swept, keys are checked before any write, and a failed commit
// rejects the caller with StorageError without leaving an unhandled rejection.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import { open, type DatabaseOptions } from 'lmdb';
import { makeEntry } from '../../src/core/entry.js';
import { createCache, InvalidKeyError, lmdbTier, memoryTier, StorageError, type Cache, type Tier, type TierReport } from '../../src/index.js';
import { acquireEnvironment, releaseEnvironment } from '../../src/tiers/lmdb/env.js';
import { usedBytes } from '../../src/tiers/lmdb/sweep.js';
import { startEngineWorker } from '../fixtures/engine-worker.js';
import { manualClock, type ManualClock } from '../helpers/clock.js';
import { tempDir } from '../helpers/tmp.js';
import { writeRaw } from '../helpers/lmdb-raw.js';

const T0 = 1_000_000;
/** Long enough that the background sweep never runs by itself during a test. */
const NO_AUTO_SWEEP = 3_600_000;

type Sweepable = Tier & { sweep(): Promise<void> };

interface Harness {
  readonly cache: Cache;
  readonly tier: Sweepable;
  readonly clock: ManualClock;
  readonly path: string;
  readonly events: string[];
}

function harness(t: TestContext, options: { maxBytes?: number; memory?: boolean; ttl?: number } = {}): Harness {
  const dir = tempDir('herdcache-lmdb');
  const clock = manualClock(T0);
  const tier = lmdbTier({ path: dir.path, sweepInterval: NO_AUTO_SWEEP, ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }) }) as Sweepable;
  const cache = createCache({ tiers: options.memory === true ? [memoryTier(), tier] : [tier], clock, ttl: options.ttl ?? 60_000 });
  const events: string[] = [];
  cache.on('corrupt-entry', (e) => events.push(`corrupt:${e.tier}:${e.key}`));
  cache.on('evict', (e) => events.push(`evict:${e.cause}:${e.key}`));
  t.after(async () => {
    await cache.close();
    dir.cleanup();
  });
  return { cache, tier, clock, path: dir.path, events };
}

/** The raw bytes stored under a storage key, read through a fresh snapshot. */
function readRaw(path: string, key: string): Promise<Buffer | undefined> {
  return withEnv(path, (env) => {
    env.root.resetReadTxn();
    return env.entries.getBinary(key) as Buffer | undefined;
  });
}

async function until(condition: () => Promise<boolean>, what: string, deadlineMs = 2_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function withEnv<T>(path: string, use: (env: ReturnType<typeof acquireEnvironment>) => T): Promise<T> {
  const env = acquireEnvironment(path, 16 * 1024 * 1024);
  try {
    return use(env);
  } finally {
    await releaseEnvironment(env);
  }
}

describe('lmdbTier: corrupt entries', () => {
  const damaged: Array<[string, Uint8Array]> = [
    ['undecodable bytes', Uint8Array.from([0xc1, 0xc1, 0xc1, 0xff])],
    ['a truncated record', Uint8Array.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0x01])],
    ['a decodable value that is not an entry record', Uint8Array.from([0xa3, 0x61, 0x62, 0x63])],
  ];
  for (const [name, bytes] of damaged) {
    it(`reads ${name} as a miss, counts it, reports it and removes it`, async (t) => {
      const { cache, path, events } = harness(t, { memory: true });
      await cache.set('good', 'kept');
      await writeRaw(path, '0::bad', bytes);
      assert.equal(cache.getSync('bad'), undefined);
      assert.equal(await cache.get('bad'), undefined);
      const stats = cache.stats();
      assert.ok(stats.corrupt >= 1, `corrupt = ${stats.corrupt}`);
      assert.equal(stats.misses, 2);
      assert.ok(events.includes('corrupt:lmdb:0::bad'));
      await until(async () => (await readRaw(path, '0::bad')) === undefined, 'the corrupt record to be removed');
      assert.equal(cache.getSync('good'), 'kept', 'other entries are untouched');
      // The key is usable again.
      await cache.set('bad', 'repaired');
      assert.equal(cache.getSync('bad'), 'repaired');
    });
  }

  it('compute over a corrupt entry recomputes and replaces it', async (t) => {
    const { cache, path } = harness(t);
    await writeRaw(path, '0::page', Uint8Array.from([0xc1]));
    assert.equal(await cache.compute('page', () => 'fresh'), 'fresh');
    assert.equal(cache.getSync('page'), 'fresh');
    assert.equal(cache.stats().corrupt, 1);
  });
});

describe('lmdbTier: size bound and sweep', () => {
  it('stays under maxBytes after a sweep, evicting the oldest entries first', async (t) => {
    const maxBytes = 256 * 1024;
    const { cache, tier, clock, path, events } = harness(t, { maxBytes });
    const value = 'v'.repeat(900);
    const count = 800;
    for (let i = 0; i < count; i++) {
      clock.advance(1);
      await cache.set(`k${String(i).padStart(5, '0')}`, value);
    }
    const before = await withEnv(path, usedBytes);
    assert.ok(before > maxBytes, `the test must overfill the bound first (${before} <= ${maxBytes})`);
    await tier.sweep();
    const after = await withEnv(path, usedBytes);
    assert.ok(after <= maxBytes, `${after} bytes used after the sweep, bound ${maxBytes}`);
    const evicted = events.filter((e) => e.startsWith('evict:size:'));
    assert.ok(evicted.length > 0);
    assert.equal(cache.stats().evictions, evicted.length);
    assert.equal(tier.size!(), count - evicted.length);
    // Oldest first: every evicted key is older than every kept key.
    const evictedKeys = evicted.map((e) => e.slice('evict:size:0::'.length)).sort();
    assert.equal(evictedKeys[0], 'k00000');
    assert.equal(evictedKeys.at(-1), `k${String(evicted.length - 1).padStart(5, '0')}`);
    assert.equal(cache.getSync(`k${String(count - 1).padStart(5, '0')}`), value);
  });

  it('trims the change log by age, and a wall clock stepped back does not keep the older records for as long as the step', async (t) => {
    const { cache, tier, clock, path } = harness(t);
    const logged = (): Promise<number> => withEnv(path, (env) => { env.root.resetReadTxn(); return (env.log.getStats() as { entryCount: number }).entryCount; });
    for (let i = 0; i < 5; i++) await cache.set(`k${i}`, i);
    assert.equal(await logged(), 5);
    clock.advance(30_000);
    await tier.sweep();
    assert.equal(await logged(), 5, 'younger than the retention: kept');
    clock.advance(-3_600_000); // the wall clock is stepped back an hour
    await cache.set('after-the-step', 1);
    await tier.sweep();
    assert.equal(await logged(), 1, 'the records from before the step were trimmed; the new one stays');
  });

  it('sweeps entries past their grand timeout and keeps the others', async (t) => {
    const { cache, tier, clock, path, events } = harness(t);
    // (without maxAge and without a grace period, an entry's grand timeout is its own ttl)
    await cache.set('short', 1, { ttl: 100 });
    await cache.set('stale-kept', 2, { ttl: 100, maxAge: 10_000 });
    await cache.set('long', 3, { ttl: 20_000 });
    clock.set(T0 + 150);
    await tier.sweep();
    assert.deepEqual(events, ['evict:expired:0::short']);
    assert.equal(cache.stats().evictions, 1);
    assert.equal(await readRaw(path, '0::short'), undefined);
    assert.ok((await readRaw(path, '0::stale-kept')) !== undefined);
    assert.equal(cache.getSync('long'), 3);
    assert.equal(tier.size!(), 2);
    clock.set(T0 + 10_000);
    await tier.sweep();
    assert.equal(tier.size!(), 1);
  });

  it('does not sweep an entry that was replaced by a newer one', async (t) => {
    const { cache, tier, clock } = harness(t);
    await cache.set('k', 'old', { ttl: 100, maxAge: 100 });
    clock.set(T0 + 150);
    await cache.set('k', 'new', { ttl: 1_000 });
    await tier.sweep();
    assert.equal(cache.getSync('k'), 'new');
    assert.equal(cache.stats().evictions, 0);
  });
});

describe('lmdbTier: keys', () => {
  it('refuses an oversized key before any write; closing at once neither crashes nor leaves a rejection', async (t) => {
    const { cache, path } = harness(t);
    const key = 'k'.repeat(5_000);
    const pending = cache.set(key, 'v');
    const closing = cache.close();
    await assert.rejects(pending, InvalidKeyError);
    await closing;
    const reopened = createCache({ tiers: [lmdbTier({ path })] });
    assert.equal(reopened.stats().sets, 0);
    await reopened.close();
    await withEnv(path, (env) => assert.equal([...env.entries.getKeys({})].length, 0));
  });

  it('the tier itself refuses an oversized storage key with InvalidKeyError, even when closed right after', async (t) => {
    const dir = tempDir('herdcache-lmdb-key');
    t.after(dir.cleanup);
    const reports: TierReport[] = [];
    const tier = lmdbTier({ path: dir.path });
    tier.attach({ clock: () => T0, report: (r) => reports.push(r) });
    const pending = tier.set('0::' + '\u00e9'.repeat(1_000), makeEntry('v', T0, 1_000, 1_000, 0));
    const closing = tier.close();
    await assert.rejects(async () => pending, InvalidKeyError);
    await closing;
    assert.deepEqual(reports, [], 'nothing reached LMDB, so nothing failed there');
    await withEnv(dir.path, (env) => assert.equal([...env.entries.getKeys({})].length, 0));
  });
});

describe('lmdbTier: environment', () => {
  it('one environment per path: closing one cache leaves another on the same path working', async (t) => {
    const dir = tempDir('herdcache-lmdb-env');
    t.after(dir.cleanup);
    const a = createCache({ lmdb: { path: dir.path } });
    const b = createCache({ lmdb: { path: dir.path } });
    await a.set('k', 1);
    await a.close();
    assert.equal(b.getSync('k'), 1);
    await b.set('k2', 2);
    assert.equal(b.getSync('k2'), 2);
    await b.close();
  });

  it('keeps its site id in the file: the same after closing and opening again, another for another file', async (t) => {
    const dir = tempDir('herdcache-lmdb-site');
    const other = tempDir('herdcache-lmdb-site-other');
    t.after(() => { dir.cleanup(); other.cleanup(); });
    const siteOf = async (path: string): Promise<string | undefined> => {
      const tier = lmdbTier({ path });
      const cache = createCache({ tiers: [tier] });
      try {
        return tier.site?.();
      } finally {
        await cache.close();
      }
    };
    const first = await siteOf(dir.path);
    assert.match(first ?? '', /^[0-9a-z]+$/);
    assert.equal(await siteOf(dir.path), first);
    assert.notEqual(await siteOf(other.path), first);
  });
});

describe('lmdbTier: record layout', () => {
  it('a file written with unsealed records (the layout before seals) is emptied when first opened, and then works', async (t) => {
    const dir = tempDir('herdcache-lmdb-layout');
    t.after(dir.cleanup);
    // The old layout: msgpackr records with shared structures and no seal, no format mark.
    const old = open({ path: dir.path, maxDbs: 12 });
    const oldEntries = old.openDB<unknown, string>('entries', { sharedStructuresKey: Symbol.for('herdcache.structures'), encoder: { moreTypes: true } } as DatabaseOptions);
    const record = { value: 'old', storedAt: T0, freshUntil: T0 + 60_000, staleUntil: T0 + 60_000, delta: 0, v: 1 };
    await oldEntries.put('0::k', record);
    await old.close();
    const cache = createCache({ tiers: [lmdbTier({ path: dir.path, sweepInterval: NO_AUTO_SWEEP })], clock: manualClock(T0), ttl: 60_000 });
    t.after(() => cache.close());
    assert.equal(cache.getSync('k'), undefined, 'the old record is gone, not read');
    assert.equal(cache.stats().corrupt, 0, 'dropped on open, not met one by one as corrupt');
    await cache.set('k', 'new');
    assert.equal(cache.getSync('k'), 'new');
  });
});

describe('lmdbTier: failed commit', () => {
  it('rejects set() with StorageError, counts it, keeps no copy, and leaves no unhandled rejection (file size limit)', async (t) => {
    const dir = tempDir('herdcache-lmdb-full');
    t.after(dir.cleanup);
    // 2 MiB of file: a 6 MiB value cannot be committed.
    const worker = await startEngineWorker({ path: dir.path }, { fileSizeLimitBlocks: 4_096 });
    t.after(() => worker.kill('SIGKILL'));
    await worker.call({ op: 'set', key: 'small', value: 'fits' });
    await assert.rejects(worker.call({ op: 'set', key: 'big', bytes: 6 * 1024 * 1024 }), (err: unknown) => {
      assert.equal((err as { code?: string }).code, StorageError.code);
      assert.match(String(err), /could not be committed/);
      return true;
    });
    assert.equal(await worker.call({ op: 'getSync', key: 'big' }), undefined, 'no copy in L1 or L2');
    assert.equal(await worker.call({ op: 'getSync', key: 'small' }), 'fits');
    // A refused overwrite changed nothing anywhere: the committed value stays.
    await assert.rejects(worker.call({ op: 'set', key: 'small', bytes: 6 * 1024 * 1024 }), (err: unknown) => (err as { code?: string }).code === StorageError.code);
    assert.equal(await worker.call({ op: 'getSync', key: 'small' }), 'fits', 'the committed value survives a refused overwrite');
    const stats = (await worker.call({ op: 'stats' })) as { errors: number; sets: number };
    assert.ok(stats.errors >= 1);
    assert.equal(stats.sets, 1);
    await sleep(50);
    await worker.call({ op: 'close' });
    const exit = await worker.exited;
    assert.deepEqual(worker.unhandled, []);
    assert.deepEqual(exit, { code: 0, signal: null });
  });
});
