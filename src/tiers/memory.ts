import { LRUCache } from 'lru-cache';
import { encodedSize } from '../core/codec.js';
import type { CacheEntry } from '../core/entry.js';
import { InvalidOptionError } from '../core/errors.js';
import type { Tier, TierHost } from '../core/tier.js';

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

function assertBound(option: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
    throw new InvalidOptionError(`memoryTier.${option}`, `must be a positive integer, got ${String(value)}`);
  }
}

/**
 * The per-process L1 tier: a bounded LRU (lru-cache) of entry records. A hit is one map lookup
 * and a comparison: no promise, no lock, no allocation.
 *
 * @example
 * ```ts
 * const cache = createCache({ tiers: [memoryTier({ maxEntries: 1_000 })] });
 * ```
 */
export function memoryTier(options: MemoryTierOptions = {}): Tier {
  const { maxBytes } = options;
  assertBound('maxEntries', options.maxEntries);
  assertBound('maxBytes', maxBytes);
  const maxEntries = options.maxEntries ?? (maxBytes === undefined ? DEFAULT_MAX_ENTRIES : undefined);
  let host: TierHost | undefined;
  let clock: () => number = Date.now;
  const lruOptions = {
    ...(maxEntries === undefined ? {} : { max: maxEntries }),
    ...(maxBytes === undefined ? {} : { maxSize: maxBytes }),
    dispose: (_entry: CacheEntry, key: string, reason: LRUCache.DisposeReason) => {
      if (reason === 'evict') host?.report({ type: 'evict', key, cause: 'size' });
    },
  } as LRUCache.Options<string, CacheEntry, unknown>;
  const lru = new LRUCache<string, CacheEntry>(lruOptions);

  const getSync = (key: string): CacheEntry | undefined => {
    const entry = lru.get(key);
    if (entry !== undefined && entry.staleUntil <= clock()) {
      lru.delete(key);
      return undefined;
    }
    return entry;
  };

  return {
    name: 'memory',
    scope: 'process',
    maxKeyBytes: Number.POSITIVE_INFINITY,
    attach(tierHost) {
      host = tierHost;
      clock = tierHost.clock;
    },
    getSync,
    peekSync: (key) => lru.get(key),
    get: getSync,
    set(key, entry, bytes) {
      if (maxBytes === undefined) {
        lru.set(key, entry);
        return;
      }
      const size = bytes >= 0 ? bytes : encodedSize(entry.value);
      // lru-cache refuses an item larger than the whole bound; then no copy is kept here.
      if (size > maxBytes) lru.delete(key);
      else lru.set(key, entry, { size: Math.max(1, size) });
    },
    delete(key) {
      lru.delete(key);
    },
    clear(prefix) {
      if (prefix === '') {
        lru.clear();
        return;
      }
      for (const key of [...lru.keys()]) if (key.startsWith(prefix)) lru.delete(key);
    },
    size: () => lru.size,
    close() {
      lru.clear();
      return Promise.resolve();
    },
  };
}
