import { InvalidKeyError, InvalidOptionError } from './errors.js';
import { memoizeKey } from './keys.js';
import { assertCallOptions } from './options.js';
import type { ComputeFn, Policy } from './policy.js';

/**
 * Per-write options.
 *
 * @example
 * ```ts
 * await cache.set('k', 'v', { ttl: 5_000, maxAge: 60_000 });
 * ```
 */
export interface SetOptions {
  /** Freshness timeout, ms. Default: the cache's ttl. */
  readonly ttl?: number;
  /** Grand timeout, ms (>= ttl). Default: the cache's (or serveStale's) maxAge, at least ttl. */
  readonly maxAge?: number;
}

/**
 * Per-compute options.
 *
 * @example
 * ```ts
 * await cache.compute('k', fn, { ttl: 1_000, policies: [coalesce()] });
 * ```
 */
export interface ComputeOptions extends SetOptions {
  /** Replaces the cache's pipeline for this call. Pass a constant array: it is composed once. */
  readonly policies?: readonly Policy[];
}

/**
 * Options of `cache.memoize`.
 *
 * @example
 * ```ts
 * const getUser = cache.memoize(loadUser, { name: 'user', ttl: 30_000 });
 * ```
 */
export interface MemoizeOptions<A extends unknown[]> extends ComputeOptions {
  /** Name shared by every process for this function. Default: the function's own name. */
  readonly name?: string;
  /** Derives the key part from the arguments. Default: a hash of their canonical form. */
  readonly key?: (...args: A) => string;
}

/**
 * What memoize needs of the cache it wraps a function for.
 *
 * @example
 * ```ts
 * const host: MemoizeHost = { assertOpen: () => {}, prepare: () => {}, compute: (key, fn) => cache.compute(key, fn) };
 * ```
 */
export interface MemoizeHost {
  assertOpen(): void;
  /** Throws now what every call with these options would throw (bad durations or policies). */
  prepare(options: ComputeOptions): void;
  compute<T>(key: string, fn: ComputeFn<T>, options: ComputeOptions): Promise<T>;
}

/**
 * Wraps `fn` so that each distinct argument list is computed once per ttl through the cache.
 * Keys are `memo:<name>:<part>`, the part derived from a canonical form of the arguments (the
 * same in every process, whatever the key order of option objects) or by `options.key`.
 *
 * @example
 * ```ts
 * const landing = memoized(cacheParts, (lang: string) => render(lang), { name: 'landing' });
 * ```
 */
export function memoized<A extends unknown[], R>(host: MemoizeHost, fn: (...args: A) => R | Promise<R>, options: MemoizeOptions<A>): (...args: A) => Promise<Awaited<R>> {
  host.assertOpen();
  assertCallOptions('memoize', options);
  if (typeof fn !== 'function') throw new InvalidOptionError('memoize', 'the first argument must be a function');
  const name = options.name ?? fn.name;
  if (typeof name !== 'string' || name === '') throw new InvalidOptionError('memoize.name', 'the function is anonymous: pass { name } so every process derives the same keys');
  const keyOf = options.key;
  if (keyOf !== undefined && typeof keyOf !== 'function') throw new InvalidOptionError('memoize.key', 'must be a function of the arguments returning a string');
  const computeOptions: ComputeOptions = {
    ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
    ...(options.maxAge === undefined ? {} : { maxAge: options.maxAge }),
    ...(options.policies === undefined ? {} : { policies: options.policies }),
  };
  host.prepare(computeOptions);
  return (...args: A): Promise<Awaited<R>> => {
    let key: string;
    try {
      host.assertOpen();
      key = keyOf === undefined ? memoizeKey(name, args) : `memo:${name}:${derivedKey(keyOf(...args))}`;
    } catch (err) {
      return Promise.reject(err);
    }
    return host.compute(key, () => fn(...args), computeOptions) as Promise<Awaited<R>>;
  };
}

/** What a memoize `key` function returned, if it is a key part at all. */
function derivedKey(part: unknown): string {
  if (typeof part !== 'string' || part === '') {
    throw new InvalidKeyError(`memoize's key function must return a non-empty string, got ${part === null ? 'null' : typeof part}: every call would otherwise share one key`);
  }
  return part;
}
