import { open, type DatabaseOptions } from 'lmdb';
import { createCache, lmdbTier, type Cache } from '../../src/index.js';
import { tempDir } from '../lib/paths.js';
import { asyncOperation, batchedOperation, syncOperation, type Operation } from './measure.js';

const KEY = 'landing';

/** The value every contender holds: a small page record, about 400 bytes encoded. */
export const VALUE = {
  id: 42,
  title: 'Landing page',
  html: `<html><head><title>Landing</title></head><body>${'<p>Welcome to the landing page.</p>'.repeat(8)}</body></html>`,
  tags: ['home', 'landing', 'public'],
  updatedAt: 1_700_000_000_000,
};

/** Entries besides the measured one in each in-memory reader (herdcache L1, lru-cache). */
const FILLER = 1_000;

function fillerKeys(): string[] {
  return Array.from({ length: FILLER }, (_, i) => `filler-${i}`);
}

/** Every operation of the hot-path bench, set up and holding the value, and how to tear it down. */
export interface Setup {
  readonly operations: readonly Operation[];
  close(): Promise<void>;
}

/** Opens every cache (herdcache on its own temp LMDB directories), stores the value, builds the operations. */
export async function setUp(): Promise<Setup> {
  const dirs = [tempDir('hot-l1'), tempDir('hot-l2'), tempDir('hot-raw'), tempDir('hot-raw-shared'), tempDir('hot-writes')];
  const [l1Dir, l2Dir, rawDir, rawSharedDir, writesDir] = dirs as [(typeof dirs)[0], (typeof dirs)[0], (typeof dirs)[0], (typeof dirs)[0], (typeof dirs)[0]];

  // The readers hold the same population (the value and FILLER others), so that no contender's
  // lookup runs in a smaller table than another's; the write benchmarks get a cache of their own
  // rather than growing the readers' tables as they go.
  const herd: Cache = createCache({ lmdb: { path: l1Dir.path } });
  for (const key of fillerKeys()) await herd.set(key, VALUE);
  await herd.set(KEY, VALUE);
  const writes: Cache = createCache({ lmdb: { path: writesDir.path } });
  const l2Only: Cache = createCache({ tiers: [lmdbTier({ path: l2Dir.path })] });
  await l2Only.set(KEY, VALUE);

  const raw = open({ path: rawDir.path });
  await raw.put(KEY, VALUE);
  // The encoding herdcache's LMDB tier uses (a named database, msgpackr shared structures,
  // moreTypes): the same decode work, so the ratio shows what the engine adds around the get.
  const rawSharedRoot = open({ path: rawSharedDir.path, maxDbs: 2 });
  const rawShared = rawSharedRoot.openDB<unknown, string>('entries', { sharedStructuresKey: Symbol.for('bench.structures'), encoder: { moreTypes: true } } as DatabaseOptions);
  await rawShared.put(KEY, VALUE);

  const { LRUCache } = await import('lru-cache');
  const lru = new LRUCache<string, typeof VALUE>({ max: 10_000 });
  for (const key of fillerKeys()) lru.set(key, VALUE);
  lru.set(KEY, VALUE);
  // Configured like herdcache's L1 hit path works: entries that expire, checked on every get.
  const lruTtl = new LRUCache<string, typeof VALUE>({ max: 10_000, ttl: 3_600_000 });
  for (const key of fillerKeys()) lruTtl.set(key, VALUE);
  lruTtl.set(KEY, VALUE);

  const { BentoCache, bentostore } = await import('bentocache');
  const { memoryDriver } = await import('bentocache/drivers/memory');
  const bento = new BentoCache({ default: 'memory', stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000, serialize: false })) } });
  await bento.set({ key: KEY, value: VALUE, ttl: '1h' });

  const { createCache: createManager } = await import('cache-manager');
  const manager = createManager({ ttl: 3_600_000 });
  await manager.set(KEY, VALUE);

  const load = (): typeof VALUE => VALUE;
  let setSeq = 0;
  const operations: Operation[] = [
    syncOperation('l1-getSync', 'herdcache L1 hit, getSync', () => herd.getSync(KEY)),
    asyncOperation('l1-get', 'herdcache L1 hit, get', () => herd.get(KEY)),
    asyncOperation('l1-compute', 'herdcache L1 hit, compute', () => herd.compute(KEY, () => load())),
    syncOperation('l2-getSync', 'herdcache L2 hit (no L1), getSync', () => l2Only.getSync(KEY)),
    asyncOperation('set', 'herdcache set, awaited one at a time', () => writes.set('set-target', VALUE)),
    batchedOperation('set-batched', 'herdcache set, 100 in flight', 100, () => writes.set(`set-${setSeq++ % 1_000}`, VALUE)),
    syncOperation('lru-get', 'lru-cache get', () => lru.get(KEY)),
    syncOperation('lru-get-ttl', 'lru-cache get, entries with a ttl', () => lruTtl.get(KEY)),
    syncOperation('lmdb-get', 'lmdb-js get (raw, default encoding)', () => raw.get(KEY)),
    syncOperation('lmdb-get-shared', "lmdb-js get (raw, herdcache's encoding)", () => rawShared.get(KEY)),
    asyncOperation('bento-getOrSet', 'bentocache getOrSet hit (memory)', () => bento.getOrSet({ key: KEY, factory: () => load() })),
    asyncOperation('manager-wrap', 'cache-manager wrap hit (memory)', () => manager.wrap(KEY, () => load())),
  ];
  return {
    operations,
    async close() {
      await herd.close();
      await writes.close();
      await l2Only.close();
      await raw.close();
      await rawSharedRoot.close();
      await bento.disconnect();
      await manager.disconnect();
      for (const dir of dirs) dir.remove();
    },
  };
}

/**
 * The reads that walk every key in turn, herdcache L1 beside lru-cache: each hit moves its entry
 * to the recent end of the table, where the one-key reads of {@link setUp} find it already.
 * Measured in a process of their own (see bench/hot.ts).
 */
export async function setUpWalk(): Promise<Setup> {
  const dir = tempDir('hot-walk');
  const walk = [...fillerKeys(), KEY];
  const herd: Cache = createCache({ lmdb: { path: dir.path } });
  for (const key of walk) await herd.set(key, VALUE);
  const { LRUCache } = await import('lru-cache');
  const lru = new LRUCache<string, typeof VALUE>({ max: 10_000 });
  for (const key of walk) lru.set(key, VALUE);
  let herdStep = 0;
  let lruStep = 0;
  return {
    operations: [
      syncOperation('l1-getSync-walk', `herdcache L1 hit, getSync, ${walk.length} keys in turn`, () => herd.getSync(walk[herdStep++ % walk.length]!)),
      syncOperation('lru-get-walk', `lru-cache get, ${walk.length} keys in turn`, () => lru.get(walk[lruStep++ % walk.length]!)),
    ],
    async close() {
      await herd.close();
      dir.remove();
    },
  };
}
