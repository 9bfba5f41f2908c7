import { createCache, lmdbTier, memoryTier, type Cache, type Clock, type Tier } from '../../src/index.js';

/** The tier configurations every engine property runs on. */
export type TierConfig = 'L1' | 'L2' | 'L1+L2';
export const TIER_CONFIGS: readonly TierConfig[] = ['L1', 'L2', 'L1+L2'];

/** Whether the configuration has a shared tier that a second cache instance can read. */
export function isShared(config: TierConfig): boolean {
  return config !== 'L1';
}

/** Builds the tiers of one configuration; `path` is the LMDB directory (ignored for L1). */
export function tiersFor(config: TierConfig, path: string, memory: { maxEntries?: number; maxBytes?: number } = {}): Tier[] {
  switch (config) {
    case 'L1': return [memoryTier(memory)];
    case 'L2': return [lmdbTier({ path })];
    case 'L1+L2': return [memoryTier(memory), lmdbTier({ path })];
  }
}

/** A cache of one configuration on an injected clock. */
export function cacheFor(config: TierConfig, path: string, clock: Clock, options: { ttl?: number; namespace?: string } = {}): Cache {
  return createCache({ tiers: tiersFor(config, path), clock, ttl: options.ttl ?? 60_000, ...(options.namespace === undefined ? {} : { namespace: options.namespace }) });
}
