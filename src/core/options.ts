import { coarseClock, type Clock, type RandomSource } from './clock.js';
import { types } from 'node:util';
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
 * The longest delay a Node.js timer honours, ms (about 24.8 days): a longer one fires after 1 ms.
 *
 * @example
 * ```ts
 * timeouts({ hard: MAX_TIMER_MS }); // ok; MAX_TIMER_MS + 1 is refused
 * ```
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Longest duration kept in an entry record, ms: added to the clock it must stay an exact integer. */
const MAX_RECORD_MS = 2 ** 52;

/**
 * Throws {@link InvalidOptionError} unless `value` is a positive finite number (of `unit`, when
 * given): the one check behind every duration, size and factor option.
 *
 * @example
 * ```ts
 * assertPositive('xfetch.beta', 1);              // ok
 * assertPositive('lmdbTier.maxBytes', 0, 'bytes'); // throws: must be a positive finite number of bytes, got 0
 * ```
 */
export function assertPositive(option: string, value: unknown, unit?: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(option, `must be a positive finite number${unit === undefined ? '' : ` of ${unit}`}, got ${describe(value)}`);
  }
}

/**
 * The ttl and grand timeout of one call's entry: the call's own, else the cache's. Without a grace
 * period (the default grand timeout equals the cache's ttl) a per-call ttl brings its own grand
 * timeout; with one, the entry keeps at least that grace.
 *
 * @example
 * ```ts
 * callDurations({ ttl: 2_000 }, 1_000, 5_000); // { ttl: 2_000, maxAge: 5_000 }
 * callDurations({ ttl: 2_000 }, 1_000, 1_000); // { ttl: 2_000, maxAge: 2_000 }
 * ```
 */
export function callDurations(options: { readonly ttl?: number; readonly maxAge?: number } | undefined, cacheTtl: number, defaultMaxAge: number): { ttl: number; maxAge: number } {
  const ttl = options?.ttl ?? cacheTtl;
  if (options?.ttl !== undefined) assertDuration('ttl', ttl);
  const maxAge = options?.maxAge ?? (defaultMaxAge > cacheTtl ? Math.max(ttl, defaultMaxAge) : ttl);
  if (options?.maxAge !== undefined) {
    assertDuration('maxAge', maxAge);
    assertGrandTimeout('maxAge', maxAge, ttl);
  }
  return { ttl, maxAge };
}

/**
 * Throws {@link InvalidOptionError} unless `value` is a positive safe integer: a count (of
 * entries, of bytes a bound holds).
 *
 * @example
 * ```ts
 * assertCount('memoryTier.maxEntries', 1_000); // ok
 * assertCount('memoryTier.maxEntries', 1.5);   // throws: must be a positive integer, got 1.5
 * ```
 */
export function assertCount(option: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(option, `must be a positive integer, got ${describe(value)}`);
  }
}

/**
 * Throws {@link InvalidOptionError} unless the grand timeout is at least the ttl: an entry is
 * never servable for less time than it is fresh.
 *
 * @example
 * ```ts
 * assertGrandTimeout('maxAge', 60_000, 1_000); // ok
 * assertGrandTimeout('maxAge', 500, 1_000);    // throws: the grand timeout (500 ms) must not be shorter than ttl (1000 ms)
 * ```
 */
export function assertGrandTimeout(option: string, maxAge: number, ttl: number): void {
  if (maxAge < ttl) throw new InvalidOptionError(option, `the grand timeout (${maxAge} ms) must not be shorter than ttl (${ttl} ms)`);
}

/**
 * Throws {@link InvalidOptionError} unless `value` is a positive finite number of milliseconds
 * that can be honoured: at most {@link MAX_TIMER_MS} when a timer waits for it (`timer`), else
 * at most 2^52 (a ttl or grand timeout added to the clock).
 *
 * @example
 * ```ts
 * assertDuration('ttl', 1_000);                   // ok
 * assertDuration('ttl', 0);                       // throws
 * assertDuration('timeouts.hard', 2 ** 31, true); // throws: a timer cannot wait that long
 * ```
 */
export function assertDuration(option: string, value: unknown, timer = false): asserts value is number {
  assertPositive(option, value, 'milliseconds');
  const max = timer ? MAX_TIMER_MS : MAX_RECORD_MS;
  if (value > max) {
    throw new InvalidOptionError(option, timer ? `is waited for by a timer, which cannot wait longer than ${MAX_TIMER_MS} ms (about 24.8 days), got ${value}` : `must be at most 2^52 ms, got ${value}`);
  }
}

/**
 * The options object of a factory: `undefined` means none; anything but a plain object is refused.
 *
 * @example
 * ```ts
 * const { lease } = optionsObject('barrier', options); // barrier(null) throws InvalidOptionError
 * ```
 */
export function optionsObject<T extends object>(option: string, value: T | undefined): Partial<T> {
  if (value === undefined) return {};
  assertPlainOptions(option, value);
  return value;
}

/**
 * Options are read more than once: only a plain object of data properties answers the same each
 * time (no Proxy, no getter, no prototype but Object's).
 */
function assertPlainOptions(option: string, value: unknown): void {
  // isProxy first: Array.isArray itself throws on a revoked Proxy.
  if (types.isProxy(value)) throw new InvalidOptionError(option, 'options must be a plain object, got a Proxy');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidOptionError(option, `options must be an object, got ${describe(value)}`);
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw new InvalidOptionError(option, 'options must be a plain object literal');
  for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(value))) {
    if (!('value' in descriptor)) throw new InvalidOptionError(`${option}.${name}`, 'must be a data property, not a getter or setter');
  }
}

/**
 * Checks the options object of one call (`set`, `compute`, `memoize`): absent, or a plain
 * object that is not a Proxy (whose traps could throw or answer differently on each read).
 *
 * @example
 * ```ts
 * assertCallOptions('compute', { ttl: 1_000 }); // ok
 * ```
 */
export function assertCallOptions(call: string, options: unknown): void {
  if (options !== undefined) assertPlainOptions(`${call}.options`, options);
}

/**
 * A short description of a bad option value for error messages (never its whole content).
 *
 * @example
 * ```ts
 * describe(null); // 'null'
 * ```
 */
export function describe(value: unknown): string {
  if (types.isProxy(value)) return 'a Proxy';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string': return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
    case 'number': case 'bigint': case 'boolean': case 'undefined': return String(value);
    case 'symbol': return 'a symbol';
    case 'function': return 'a function';
    default: return 'an object';
  }
}

/** What every tier must offer, and what a process tier must offer besides. */
const TIER_METHODS = ['attach', 'get', 'set', 'delete', 'clear', 'close'] as const;

function assertTier(tier: unknown, i: number): asserts tier is Tier {
  const at = `tiers[${i}]`;
  if (typeof tier !== 'object' || tier === null) throw new InvalidOptionError(at, 'is not a tier: build one with memoryTier(), lmdbTier() or redisTier()');
  const t = tier as Partial<Record<string, unknown>>;
  const missing = TIER_METHODS.filter((m) => typeof t[m] !== 'function');
  if (t['scope'] === 'process' && typeof t['getSync'] !== 'function') missing.push('getSync' as never);
  if (missing.length > 0) throw new InvalidOptionError(at, `does not implement the Tier contract (src/core/tier.ts): missing ${missing.join(', ')}`);
  if (t['scope'] !== 'process' && t['scope'] !== 'machine' && t['scope'] !== 'cluster') throw new InvalidOptionError(`${at}.scope`, `must be 'process', 'machine' or 'cluster', got ${describe(t['scope'])}`);
  if (typeof t['name'] !== 'string' || t['name'] === '') throw new InvalidOptionError(`${at}.name`, 'must be a non-empty string');
  if (typeof t['maxKeyBytes'] !== 'number' || !(t['maxKeyBytes'] > 0)) throw new InvalidOptionError(`${at}.maxKeyBytes`, 'must be a positive number (Infinity for no limit)');
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
  tiers.forEach((tier: unknown, i) => {
    assertTier(tier, i);
    if (tier.scope === 'process' && i > 0) throw new InvalidOptionError(`tiers[${i}]`, `the process tier "${tier.name}" must come first`);
  });
  if (new Set(tiers).size !== tiers.length) throw new InvalidOptionError('tiers', 'the same tier object appears twice');
  assertDuration('ttl', ttl);
  const maxAge = options.maxAge ?? ttl;
  assertDuration('maxAge', maxAge);
  assertGrandTimeout('maxAge', maxAge, ttl);
  if (typeof namespace !== 'string') throw new InvalidOptionError('namespace', 'must be a string');
  if (!namespace.isWellFormed()) throw new InvalidOptionError('namespace', 'must be well-formed text: a lone UTF-16 surrogate would meet another namespace on Redis (both become U+FFFD)');
  if (typeof clock !== 'function') throw new InvalidOptionError('clock', 'must be a function returning wall-clock milliseconds');
  if (typeof random !== 'function') throw new InvalidOptionError('random', 'must be a function returning a number in [0, 1)');
  return { tiers, ttl, maxAge, namespace, policies, clock, random };
}
