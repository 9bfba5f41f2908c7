import { InvalidOptionError } from '../../core/errors.js';
import { assertDuration, assertPositive, describe, optionsObject } from '../../core/options.js';

/**
 * Options of the LMDB tier.
 *
 * @example
 * ```ts
 * lmdbTier({ path: '/var/cache/myapp', maxBytes: 512 * 1024 * 1024, syncInterval: 10 });
 * ```
 */
export interface LmdbTierOptions {
  /** Directory of the LMDB environment. Default: `HERDCACHE_DIR`, else `./.herdcache`. */
  readonly path?: string;
  /**
   * Size bound: past it the sweep evicts expired entries, then the oldest. Default 1 GiB, at most
   * 16 TiB. Caches of one process on one path must agree on it; processes that open one file with
   * different bounds each sweep to their own, so the smallest governs the file.
   */
  readonly maxBytes?: number;
  /**
   * How often this process looks for other processes' writes to drop its memory copies, ms.
   * A `set`/`delete` elsewhere is seen here within this bound plus the writer's commit time.
   * Default 20.
   */
  readonly syncInterval?: number;
  /** How often the background sweep runs, ms. Default 1 000. */
  readonly sweepInterval?: number;
}

/**
 * LMDB's longest key with the default page size, bytes (the tier accepts 11 fewer: see below).
 *
 * @example
 * ```ts
 * LMDB_MAX_KEY_BYTES; // 1978
 * ```
 */
export const LMDB_MAX_KEY_BYTES = 1978;
/**
 * What the by-age index adds around a storage key (`[storedAt, key]` in ordered-binary: 10
 * bytes, 11 when the key starts with a control character), so the tier's own limit is lower.
 */
export const INDEX_KEY_OVERHEAD = 11;
/**
 * Defaults of {@link LmdbTierOptions}.
 *
 * @example
 * ```ts
 * lmdbTier({ syncInterval: LMDB_DEFAULTS.syncInterval / 2 });
 * ```
 */
export const LMDB_DEFAULTS = { maxBytes: 1024 * 1024 * 1024, syncInterval: 20, sweepInterval: 1_000 } as const;

/**
 * The directory used when no path is given: `HERDCACHE_DIR`, else `./.herdcache`.
 *
 * @example
 * ```ts
 * defaultLmdbPath(); // './.herdcache'
 * ```
 */
export function defaultLmdbPath(): string {
  const fromEnv = process.env['HERDCACHE_DIR'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : './.herdcache';
}

/**
 * The largest `maxBytes` the tier accepts: the file is mapped at twice its bound, and a map
 * beyond what the platform can reserve (x86-64 user space is 128 TiB) kills the process inside
 * LMDB instead of failing.
 *
 * @example
 * ```ts
 * lmdbTier({ maxBytes: LMDB_MAX_BYTES }); // 16 TiB: the largest accepted
 * ```
 */
export const LMDB_MAX_BYTES = 2 ** 44;

function byteBound(value: unknown): number {
  assertPositive('lmdbTier.maxBytes', value, 'bytes');
  if (value > LMDB_MAX_BYTES) {
    throw new InvalidOptionError('lmdbTier.maxBytes', `is mapped at twice its size, and at most ${LMDB_MAX_BYTES} bytes (16 TiB) can be: got ${value}`);
  }
  return value;
}

function directory(value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new InvalidOptionError('lmdbTier.path', `must be a non-empty directory path, got ${describe(value)}`);
  if (value.includes('\0')) throw new InvalidOptionError('lmdbTier.path', 'must not contain a NUL character');
  return value;
}


/**
 * {@link LmdbTierOptions} validated (InvalidOptionError naming the option), every field present.
 *
 * @example
 * ```ts
 * resolveLmdbOptions({ path: '/tmp/c' }).maxBytes; // 1 GiB
 * ```
 */
export function resolveLmdbOptions(given: LmdbTierOptions | undefined): { path: string; maxBytes: number; syncInterval: number; sweepInterval: number } {
  const options = optionsObject('lmdbTier', given);
  const path = directory(options.path ?? defaultLmdbPath());
  const maxBytes = byteBound(options.maxBytes ?? LMDB_DEFAULTS.maxBytes);
  const syncInterval = options.syncInterval ?? LMDB_DEFAULTS.syncInterval;
  const sweepInterval = options.sweepInterval ?? LMDB_DEFAULTS.sweepInterval;
  assertDuration('lmdbTier.syncInterval', syncInterval, true);
  assertDuration('lmdbTier.sweepInterval', sweepInterval, true);
  return { path, maxBytes, syncInterval, sweepInterval };
}
