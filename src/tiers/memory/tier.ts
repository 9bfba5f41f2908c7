import { encodedSize } from '../../core/codec.js';
import type { CacheEntry } from '../../core/entry.js';
import { StorageError } from '../../core/errors.js';
import { assertCount, optionsObject } from '../../core/options.js';
import type { ProcessTier, TierHost } from '../../core/tier.js';
import { RecencyTable } from './recency-table.js';

/**
 * Bounds of the memory tier. With neither given it keeps 10 000 entries.
 *
 * @example
 * ```ts
 * memoryTier({ maxEntries: 50_000, maxBytes: 64 * 1024 * 1024 });
 * ```
 */
export interface MemoryTierOptions {
  /** Most entries held; the least recently used leave first. */
  readonly maxEntries?: number;
  /** Most bytes held, counting each value's encoded size. */
  readonly maxBytes?: number;
}

/**
 * Entries kept when no bound is given.
 *
 * @example
 * ```ts
 * memoryTier(); // holds at most DEFAULT_MAX_ENTRIES entries
 * ```
 */
export const DEFAULT_MAX_ENTRIES = 10_000;

/**
 * The per-process L1 tier: a bounded LRU ({@link RecencyTable}) of entry records. A hit is one
 * map lookup and a comparison: no promise, no lock, no allocation.
 *
 * @example
 * ```ts
 * const cache = createCache({ tiers: [memoryTier({ maxEntries: 1_000 })] });
 * ```
 */
export function memoryTier(given?: MemoryTierOptions): ProcessTier {
  const options = optionsObject('memoryTier', given);
  const { maxBytes } = options;
  if (options.maxEntries !== undefined) assertCount('memoryTier.maxEntries', options.maxEntries);
  if (maxBytes !== undefined) assertCount('memoryTier.maxBytes', maxBytes);
  const maxEntries = options.maxEntries ?? (maxBytes === undefined ? DEFAULT_MAX_ENTRIES : undefined);
  let host: TierHost | undefined;
  let clock: () => number = Date.now;
  const table = new RecencyTable<CacheEntry>({
    ...(maxEntries === undefined ? {} : { maxEntries }),
    ...(maxBytes === undefined ? {} : { maxSize: maxBytes }),
    onEvict: (key) => host?.report({ type: 'evict', key, cause: 'size' }),
  });

  const getSync = (key: string): CacheEntry | undefined => {
    const entry = table.get(key);
    if (entry !== undefined && entry.staleUntil <= clock()) {
      table.delete(key);
      return undefined;
    }
    return entry;
  };

  return {
    name: 'memory',
    scope: 'process',
    maxKeyBytes: Number.POSITIVE_INFINITY,
    attach(tierHost) {
      // One cache per tier: the table keeps the caller's keys, without a namespace.
      if (host !== undefined) throw new StorageError('memory', 'this memory tier is already attached to a cache: create one tier per cache');
      host = tierHost;
      clock = tierHost.clock;
    },
    getSync,
    peekSync: (key) => table.get(key),
    get: getSync,
    set(key, entry, bytes) {
      if (maxBytes === undefined) {
        table.set(key, entry);
        return;
      }
      // A value larger than the whole bound is refused, and then no copy is kept here.
      table.set(key, entry, Math.max(1, bytes ?? encodedSize(entry.value)));
    },
    delete(key) {
      table.delete(key);
    },
    clear(prefix) {
      if (prefix === '') {
        table.clear();
        return;
      }
      for (const key of table.keys()) if (key.startsWith(prefix)) table.delete(key);
    },
    size: () => table.size,
    close() {
      table.clear();
      return Promise.resolve();
    },
  };
}
