import { barrier, coalesce, createCache, serveStale, ttl, xfetch, type Policy } from '../../src/index.js';

/** The key every contender caches: one landing page. */
export const KEY = 'landing';

/** The slow work a cache protects (a 200 ms render, a 2 s query...). */
export type Work = () => Promise<string>;

/** Settings shared by every contender of one run. */
export interface ContenderSettings {
  /** LMDB directory shared by the processes of one run (herdcache only). */
  readonly lmdbPath: string;
  /** Freshness, ms. */
  readonly ttl: number;
  /** How long a stale value may still be served, ms (serveStale maxAge; bentocache grace). */
  readonly maxAge: number;
  /** cache-manager's refreshThreshold, ms. */
  readonly refreshThreshold: number;
}

/** One cache set up in one process: `call()` is one request for the landing page. */
export interface Contender {
  call(): Promise<unknown>;
  close(): Promise<void>;
}

/** A way of caching the work, as the bench reports it. */
export interface ContenderSpec {
  readonly name: string;
  readonly label: string;
  readonly family: 'none' | 'herdcache' | 'peer';
  /** How it is configured, for the report. */
  readonly setup: string;
  create(settings: ContenderSettings, work: Work): Promise<Contender>;
}

function herdcache(name: string, label: string, setup: string, policies: (s: ContenderSettings) => Policy[]): ContenderSpec {
  return {
    name,
    label,
    family: 'herdcache',
    setup,
    async create(settings, work) {
      const cache = createCache({ ttl: settings.ttl, lmdb: { path: settings.lmdbPath }, policies: policies(settings) });
      return { call: () => cache.compute(KEY, work), close: () => cache.close() };
    },
  };
}

/** Every contender the landing-page and herd benches know, by name. */
export const CONTENDERS: readonly ContenderSpec[] = [
  {
    name: 'none',
    label: 'no cache',
    family: 'none',
    setup: 'every call runs the work',
    create: async (_settings, work) => ({ call: work, close: async () => {} }),
  },
  herdcache('ttl', 'herdcache ttl()', '`policies: [ttl()]` (traditional caching)', () => [ttl()]),
  herdcache('coalesce', 'herdcache coalesce()', '`policies: [coalesce()]` (in-process singleflight)', () => [coalesce()]),
  herdcache('barrier', 'herdcache barrier()', '`policies: [barrier()]`', () => [barrier()]),
  herdcache('coalesce-barrier', 'herdcache [coalesce, barrier]', '`policies: [coalesce(), barrier()]`', () => [coalesce(), barrier()]),
  herdcache('xfetch-1', 'herdcache xfetch β=1', '`policies: [xfetch({ beta: 1 })]` (no barrier, as in the case study)', () => [xfetch({ beta: 1 })]),
  herdcache('xfetch-0.5', 'herdcache xfetch β=0.5', '`policies: [xfetch({ beta: 0.5 })]`', () => [xfetch({ beta: 0.5 })]),
  herdcache('xfetch-0.3', 'herdcache xfetch β=0.3', '`policies: [xfetch({ beta: 0.3 })]`', () => [xfetch({ beta: 0.3 })]),
  herdcache('stale-barrier', 'herdcache [serveStale, barrier]', '`policies: [serveStale({ maxAge }), barrier()]`', (s) => [serveStale({ maxAge: s.maxAge }), barrier()]),
  herdcache('flagship', 'herdcache [serveStale, xfetch, barrier]', '`policies: [serveStale({ maxAge }), xfetch(), barrier()]`', (s) => [
    serveStale({ maxAge: s.maxAge }),
    xfetch(),
    barrier(),
  ]),
  {
    name: 'lru-cache',
    label: 'lru-cache fetch',
    family: 'peer',
    setup: '`new LRUCache({ max: 1000, ttl, allowStale: true, fetchMethod })`, `cache.fetch(key)` (one cache per process)',
    async create(settings, work) {
      const { LRUCache } = await import('lru-cache');
      const lru = new LRUCache<string, string>({ max: 1_000, ttl: settings.ttl, allowStale: true, fetchMethod: () => work() });
      return { call: () => lru.fetch(KEY), close: async () => lru.clear() };
    },
  },
  {
    name: 'bentocache',
    label: 'bentocache getOrSet',
    family: 'peer',
    setup: "memory store `memoryDriver({ maxSize: '10mb' })`, `getOrSet({ key, factory, ttl, grace: maxAge })` (soft timeout 0: stale served, refreshed in background; one cache per process)",
    async create(settings, work) {
      const { BentoCache, bentostore } = await import('bentocache');
      const { memoryDriver } = await import('bentocache/drivers/memory');
      const bento = new BentoCache({ default: 'memory', stores: { memory: bentostore().useL1Layer(memoryDriver({ maxSize: '10mb' })) } });
      return {
        call: () => bento.getOrSet({ key: KEY, factory: work, ttl: settings.ttl, grace: settings.maxAge }),
        close: () => bento.disconnect(),
      };
    },
  },
  {
    name: 'cache-manager',
    label: 'cache-manager wrap',
    family: 'peer',
    setup: 'v7 default in-memory Keyv store, `wrap(key, fn, ttl, refreshThreshold)` (one cache per process)',
    async create(settings, work) {
      const { createCache: createManager } = await import('cache-manager');
      const manager = createManager({ ttl: settings.ttl, refreshThreshold: settings.refreshThreshold });
      return {
        call: () => manager.wrap(KEY, work, settings.ttl, settings.refreshThreshold),
        close: async () => {
          await manager.disconnect();
        },
      };
    },
  },
];

/** The contender of that name; throws for an unknown one. */
export function contender(name: string): ContenderSpec {
  const spec = CONTENDERS.find((c) => c.name === name);
  if (spec === undefined) throw new Error(`unknown contender "${name}"`);
  return spec;
}
