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

/** Every operation of the hot-path bench, set up and holding the value, and how to tear it down. */
export interface Setup {
  readonly operations: readonly Operation[];
  close(): Promise<void>;
}

/** Opens every cache (herdcache on its own temp LMDB directories), stores the value, builds the operations. */
export async function setUp(): Promise<Setup> {
  const dirs = [tempDir('hot-l1'), tempDir('hot-l2'), tempDir('hot-raw'), tempDir('hot-raw-shared')];
  const [l1Dir, l2Dir, rawDir, rawSharedDir] = dirs as [(typeof dirs)[0], (typeof dirs)[0], (typeof dirs)[0], (typeof dirs)[0]];

  const herd: Cache = createCache({ lmdb: { path: l1Dir.path } });
  await herd.set(KEY, VALUE);
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
  lru.set(KEY, VALUE);

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
    asyncOperation('set', 'herdcache set, awaited one at a time', () => herd.set('set-target', VALUE)),
    batchedOperation('set-batched', 'herdcache set, 100 in flight', 100, () => herd.set(`set-${setSeq++ % 1_000}`, VALUE)),
    syncOperation('lru-get', 'lru-cache get', () => lru.get(KEY)),
    syncOperation('lmdb-get', 'lmdb-js get (raw, default encoding)', () => raw.get(KEY)),
    syncOperation('lmdb-get-shared', "lmdb-js get (raw, herdcache's encoding)", () => rawShared.get(KEY)),
    asyncOperation('bento-getOrSet', 'bentocache getOrSet hit (memory)', () => bento.getOrSet({ key: KEY, factory: () => load() })),
    asyncOperation('manager-wrap', 'cache-manager wrap hit (memory)', () => manager.wrap(KEY, () => load())),
  ];
  return {
    operations,
    async close() {
      await herd.close();
      await l2Only.close();
      await raw.close();
      await rawSharedRoot.close();
      await bento.disconnect();
      await manager.disconnect();
      for (const dir of dirs) dir.remove();
    },
  };
}
