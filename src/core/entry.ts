/**
 * The record every tier stores next to a value, so that any process can judge an entry alone.
 * Times are wall-clock milliseconds (processes on one host share the clock).
 *
 * @example
 * ```ts
 * const entry: CacheEntry<string> = { value: 'html', storedAt: 0, freshUntil: 1_000, staleUntil: 5_000, delta: 200 };
 * isFresh(entry, 999); // true
 * ```
 */
export interface CacheEntry<T = unknown> {
  readonly value: T;
  /** When the value was stored. */
  readonly storedAt: number;
  /** storedAt + ttl: the freshness timeout. */
  readonly freshUntil: number;
  /** storedAt + maxAge: the grand timeout, never served at or after it; >= freshUntil. */
  readonly staleUntil: number;
  /** How long the compute that produced the value took, ms (0 for a plain `set`). */
  readonly delta: number;
}

/**
 * True while `now < entry.freshUntil`.
 *
 * @example
 * ```ts
 * isFresh({ value: 1, storedAt: 0, freshUntil: 10, staleUntil: 10, delta: 0 }, 10); // false
 * ```
 */
export function isFresh(entry: CacheEntry, now: number): boolean {
  return now < entry.freshUntil;
}

/**
 * True while the entry may still be served by a stale-serving policy: `now < entry.staleUntil`.
 *
 * @example
 * ```ts
 * isServable({ value: 1, storedAt: 0, freshUntil: 10, staleUntil: 50, delta: 0 }, 20); // true
 * ```
 */
export function isServable(entry: CacheEntry, now: number): boolean {
  return now < entry.staleUntil;
}

/**
 * Builds an entry stored at `now` that is fresh for `ttl` ms and kept until `maxAge` ms.
 *
 * @example
 * ```ts
 * makeEntry('v', 1_000, 100, 500, 12); // { storedAt: 1000, freshUntil: 1100, staleUntil: 1500, delta: 12, value: 'v' }
 * ```
 */
export function makeEntry<T>(value: T, now: number, ttl: number, maxAge: number, delta: number): CacheEntry<T> {
  return { value, storedAt: now, freshUntil: now + ttl, staleUntil: now + Math.max(ttl, maxAge), delta };
}

/**
 * Checks the shape of a record read back from storage; anything else is treated as corrupt.
 *
 * @example
 * ```ts
 * isEntryRecord({ value: 1, storedAt: 0, freshUntil: 1, staleUntil: 1, delta: 0 }); // true
 * ```
 */
export function isEntryRecord(record: unknown): record is CacheEntry {
  if (typeof record !== 'object' || record === null) return false;
  const r = record as Record<string, unknown>;
  return (
    'value' in r &&
    typeof r['storedAt'] === 'number' &&
    typeof r['freshUntil'] === 'number' &&
    typeof r['staleUntil'] === 'number' &&
    typeof r['delta'] === 'number' &&
    (r['freshUntil'] as number) <= (r['staleUntil'] as number)
  );
}
