import { coarseClock, type Clock, type RandomSource } from './clock.js';
import { InvalidOptionError } from './errors.js';
import type { Policy } from './policy.js';
import type { Tier } from './tier.js';

/**
 * Options of a cache once the defaults are wired (see `createCache` for the user-facing ones).
 *
 * @example
 * ```ts
 * new Cache({ tiers: [memoryTier()], ttl: 1_000 });
 * ```
 */
export interface EngineOptions {
  /** Storage tiers, nearest first: a process tier (memory) then shared ones (LMDB, Redis). */
  readonly tiers: readonly Tier[];
  /** Freshness timeout, ms. Default 60 000. */
  readonly ttl?: number;
  /** Grand timeout: how long entries are kept past storage, ms (>= ttl). Default: ttl, or serveStale's maxAge. */
  readonly maxAge?: number;
  /** Keys of different namespaces never meet on shared tiers. Default ''. */
  readonly namespace?: string;
  /** Stampede policies, outermost first. Default [] (traditional TTL). */
  readonly policies?: readonly Policy[];
  /** Wall-clock ms. Default: `Date.now` at 1 ms resolution. */
  readonly clock?: Clock;
  /** Uniform in [0, 1). Default `Math.random`. */
  readonly random?: RandomSource;
}

/**
 * Options after validation, every field present.
 *
 * @example
 * ```ts
 * const resolved = resolveEngineOptions({ tiers: [memoryTier()] }); // resolved.ttl === 60_000
 * ```
 */
export interface ResolvedEngineOptions {
  readonly tiers: readonly Tier[];
  readonly ttl: number;
  readonly maxAge: number;
  readonly namespace: string;
  readonly policies: readonly Policy[];
  readonly clock: Clock;
  readonly random: RandomSource;
}

/**
 * The ttl used when none is given, ms.
 *
 * @example
 * ```ts
 * createCache().stats(); // entries stay fresh for DEFAULT_TTL (60 s)
 * ```
 */
export const DEFAULT_TTL = 60_000;

/**
 * Throws {@link InvalidOptionError} unless `value` is a positive finite number of milliseconds.
 *
 * @example
 * ```ts
 * assertDuration('ttl', 1_000); // ok
 * assertDuration('ttl', 0);     // throws
 * ```
 */
export function assertDuration(option: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(option, `must be a positive finite number of milliseconds, got ${String(value)}`);
  }
}

/**
 * Validates engine options eagerly and fills in the defaults, once, at construction.
 *
 * @example
 * ```ts
 * resolveEngineOptions({ tiers: [], ttl: 5 }); // throws: at least one tier
 * ```
 */
export function resolveEngineOptions(options: EngineOptions): ResolvedEngineOptions {
  const { tiers, ttl = DEFAULT_TTL, namespace = '', policies = [], clock = coarseClock, random = Math.random } = options;
  if (!Array.isArray(tiers) || tiers.length === 0) throw new InvalidOptionError('tiers', 'give at least one tier, e.g. [memoryTier(), lmdbTier()]');
  tiers.forEach((tier, i) => {
    if (typeof tier !== 'object' || tier === null || typeof tier.get !== 'function' || typeof tier.attach !== 'function') {
      throw new InvalidOptionError(`tiers[${i}]`, 'is not a tier: build one with memoryTier() or lmdbTier()');
    }
    if (tier.scope === 'process' && i > 0) throw new InvalidOptionError(`tiers[${i}]`, `the process tier "${tier.name}" must come first`);
  });
  if (new Set(tiers).size !== tiers.length) throw new InvalidOptionError('tiers', 'the same tier object appears twice');
  assertDuration('ttl', ttl);
  const maxAge = options.maxAge ?? ttl;
  assertDuration('maxAge', maxAge);
  if (maxAge < ttl) throw new InvalidOptionError('maxAge', `the grand timeout (${maxAge} ms) must not be shorter than ttl (${ttl} ms)`);
  if (typeof namespace !== 'string') throw new InvalidOptionError('namespace', 'must be a string');
  if (typeof clock !== 'function') throw new InvalidOptionError('clock', 'must be a function returning wall-clock milliseconds');
  if (typeof random !== 'function') throw new InvalidOptionError('random', 'must be a function returning a number in [0, 1)');
  return { tiers, ttl, maxAge, namespace, policies, clock, random };
}
