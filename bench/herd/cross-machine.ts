/**
 * The contenders of the cross-machine shape: each OS process stands for one machine, with its own
 * LMDB file, and every machine shares one Redis server.
 */
import { barrier, coalesce, createCache, lmdbTier, memoryTier, redisTier, type Policy } from '../../src/index.js';
import { contender, KEY, type Contender, type ContenderSettings, type Work } from '../lib/contenders.js';

/** Settings of one machine: its own LMDB path (in `lmdbPath`) and the shared Redis. */
export interface MachineSettings extends ContenderSettings {
  readonly redisUrl: string;
}

/** A contender as it runs on one of several machines sharing one Redis. */
export interface MachineContenderSpec {
  readonly name: string;
  readonly label: string;
  readonly family: 'none' | 'herdcache' | 'peer';
  readonly setup: string;
  /** Resolves once the cache is connected: no contender pays for its connection inside the herd. */
  create(settings: MachineSettings, work: Work): Promise<Contender>;
}

function herdcache(name: string, label: string, setup: string, policies: () => Policy[]): MachineContenderSpec {
  return {
    name,
    label,
    family: 'herdcache',
    setup,
    async create(settings, work) {
      const redis = redisTier({ url: settings.redisUrl });
      const cache = createCache({ ttl: settings.ttl, tiers: [memoryTier(), lmdbTier({ path: settings.lmdbPath }), redis], policies: policies() });
      try {
        await redis.ready(10_000);
      } catch (error) {
        await cache.close();
        throw error;
      }
      return { call: () => cache.compute(KEY, work), close: () => cache.close() };
    },
  };
}

const none = contender('none');

/** Every contender the cross-machine shape knows, by the name of its single-machine twin. */
export const MACHINE_CONTENDERS: readonly MachineContenderSpec[] = [
  { name: none.name, label: none.label, family: none.family, setup: none.setup, create: (settings, work) => none.create(settings, work) },
  herdcache(
    'barrier',
    'herdcache barrier() + Redis',
    '`tiers: [memoryTier(), lmdbTier({ path }), redisTier({ url })]` (one LMDB path per machine), `policies: [barrier()]`',
    () => [barrier()],
  ),
  herdcache(
    'coalesce-barrier',
    'herdcache [coalesce, barrier] + Redis',
    '`tiers: [memoryTier(), lmdbTier({ path }), redisTier({ url })]` (one LMDB path per machine), `policies: [coalesce(), barrier()]`',
    () => [coalesce(), barrier()],
  ),
  {
    name: 'bentocache',
    label: 'bentocache getOrSet + Redis',
    family: 'peer',
    setup:
      "its multi-tier setup: `useL1Layer(memoryDriver({ maxSize: '10mb' }))`, `useL2Layer(redisDriver({ connection }))`, `useBus(redisBusDriver({ connection }))`; `getOrSet({ key, factory, ttl, grace })`",
    async create(settings, work) {
      const { BentoCache, bentostore } = await import('bentocache');
      const { memoryDriver } = await import('bentocache/drivers/memory');
      const { redisDriver, redisBusDriver } = await import('bentocache/drivers/redis');
      const url = new URL(settings.redisUrl);
      const connection = { host: url.hostname, port: Number(url.port) };
      const bento = new BentoCache({
        default: 'multitier',
        stores: {
          multitier: bentostore()
            .useL1Layer(memoryDriver({ maxSize: '10mb' }))
            .useL2Layer(redisDriver({ connection }))
            .useBus(redisBusDriver({ connection })),
        },
      });
      // One read of another key opens the L2 connection before the herd starts.
      await bento.has({ key: `${KEY}-connect` });
      return {
        call: () => bento.getOrSet({ key: KEY, factory: work, ttl: settings.ttl, grace: settings.maxAge }),
        close: () => bento.disconnect(),
      };
    },
  },
];

/** The cross-machine contender of that name; throws for an unknown one. */
export function machineContender(name: string): MachineContenderSpec {
  const spec = MACHINE_CONTENDERS.find((c) => c.name === name);
  if (spec === undefined) throw new Error(`contender "${name}" has no cross-machine setup`);
  return spec;
}

/**
 * Why the cross-machine shape cannot run here, or undefined when it can: it needs the
 * redis-server binary (checked by the caller) and the optional dependency ioredis.
 */
export async function missingRedisClient(): Promise<string | undefined> {
  try {
    await import('ioredis');
    return undefined;
  } catch {
    return 'ioredis not installed (npm install ioredis)';
  }
}
