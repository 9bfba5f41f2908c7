/**
 * Every error herdcache throws on purpose is a {@link HerdcacheError} with a stable `code`.
 * Match on `code` (or `instanceof`), never on the message: messages may be reworded.
 *
 * @example
 * ```ts
 * import { errors } from 'herdcache';
 * try { await cache.get(''); } catch (err) {
 *   if (err instanceof errors.InvalidKeyError) console.log(err.code); // 'E_INVALID_KEY'
 * }
 * ```
 */
export class HerdcacheError extends Error {
  /** Stable machine-readable identifier of the failure. */
  readonly code: string;
  /** The cache key concerned, when there is one. */
  readonly key: string | undefined;

  constructor(code: string, message: string, options: { key?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.key = options.key;
  }
}

/**
 * A key that is not a non-empty string, or longer than a tier accepts (LMDB: 1967 bytes
 * including the namespace prefix: LMDB's 1978 less what its age index adds).
 *
 * @example
 * ```ts
 * cache.getSync(42 as never); // throws InvalidKeyError, code 'E_INVALID_KEY'
 * ```
 */
export class InvalidKeyError extends HerdcacheError {
  static readonly code = 'E_INVALID_KEY';
  constructor(message: string, key?: string) {
    super(InvalidKeyError.code, message, key === undefined ? {} : { key });
  }
}

/**
 * An option with a wrong type or range, or two options that contradict each other.
 *
 * @example
 * ```ts
 * createCache({ ttl: -1 }); // throws InvalidOptionError, code 'E_INVALID_OPTION'
 * ```
 */
export class InvalidOptionError extends HerdcacheError {
  static readonly code = 'E_INVALID_OPTION';
  /** Dotted path of the offending option, e.g. `serveStale.maxAge`. */
  readonly option: string;
  constructor(option: string, message: string) {
    super(InvalidOptionError.code, `${option}: ${message}`);
    this.option = option;
  }
}

/**
 * Two policies that make no sense together, refused when the pipeline is built.
 *
 * @example
 * ```ts
 * createCache({ policies: [barrier(), xfetch()] }); // PolicyConflictError: xfetch must come before barrier
 * ```
 */
export class PolicyConflictError extends HerdcacheError {
  static readonly code = 'E_POLICY_CONFLICT';
  /** Names of the two policies that conflict. */
  readonly policies: readonly [string, string];
  constructor(first: string, second: string, message: string) {
    super(PolicyConflictError.code, `${first} + ${second}: ${message}`);
    this.policies = [first, second];
  }
}

/**
 * A policy broke the pipeline's contract while running: one of its stages called `next()` a
 * second time for one call. The call's first `next()` still answers; the second rejects.
 *
 * @example
 * ```ts
 * const twice: Policy = { name: 'twice', create: () => ({ async handle(_c, next) { await next(); return next(); } }) };
 * await cache.compute('k', fn, { policies: [twice] }); // rejects with PolicyContractError
 * ```
 */
export class PolicyContractError extends HerdcacheError {
  static readonly code = 'E_POLICY_CONTRACT';
  /** The policy that broke the contract. */
  readonly policy: string;
  constructor(policy: string, message: string) {
    super(PolicyContractError.code, `policy "${policy}" ${message}`);
    this.policy = policy;
  }
}

/**
 * A value that cannot be stored without being changed (a function, a class instance, a cycle,
 * `-0`, a sparse array, an own `__proto__` key, ...). The message names the path inside the value.
 *
 * @example
 * ```ts
 * await cache.set('k', { fn: () => 1 }); // rejects with NotSerializableError at path 'fn'
 * ```
 */
export class NotSerializableError extends HerdcacheError {
  static readonly code = 'E_NOT_SERIALIZABLE';
  /** Where inside the value the problem is, e.g. `items[3].owner`. */
  readonly path: string;
  constructor(path: string, message: string, key?: string) {
    super(NotSerializableError.code, `value${path === '' ? '' : ` at ${path}`}: ${message}`, key === undefined ? {} : { key });
    this.path = path;
  }
}

/**
 * Any call on a cache after `close()` began.
 *
 * @example
 * ```ts
 * await cache.close();
 * cache.getSync('k'); // throws CacheClosedError, code 'E_CACHE_CLOSED'
 * ```
 */
export class CacheClosedError extends HerdcacheError {
  static readonly code = 'E_CACHE_CLOSED';
  constructor() {
    super(CacheClosedError.code, 'the cache is closed: create a new one with createCache()');
  }
}

/**
 * `serveStale({ onCold: 'throw' })`: no value is cached and another caller is computing it.
 *
 * @example
 * ```ts
 * try { await cache.compute('page', render); }
 * catch (err) { if (err instanceof errors.ColdCacheError) reply503(); }
 * ```
 */
export class ColdCacheError extends HerdcacheError {
  static readonly code = 'E_COLD_CACHE';
  constructor(key: string) {
    super(ColdCacheError.code, `no cached value for "${key}" yet and another caller is computing it: retry shortly`, { key });
  }
}

/**
 * A compute exceeded the hard timeout of `timeouts({ hard })`; its `AbortSignal` was aborted.
 *
 * @example
 * ```ts
 * const cache = createCache({ policies: [timeouts({ hard: 500 })] });
 * await cache.compute('slow', slowFn); // rejects with HardTimeoutError after 500 ms
 * ```
 */
export class HardTimeoutError extends HerdcacheError {
  static readonly code = 'E_HARD_TIMEOUT';
  /** The timeout that expired, ms. */
  readonly timeout: number;
  constructor(key: string, timeout: number) {
    super(HardTimeoutError.code, `compute of "${key}" took longer than the hard timeout of ${timeout} ms and was aborted`, { key });
    this.timeout = timeout;
  }
}

/**
 * A caller waited for another process's compute longer than the wait limit (a bound that
 * keeps waiters from ever hanging).
 *
 * @example
 * ```ts
 * const cache = createCache({ policies: [barrier({ lease: 5_000, maxWait: 20_000 })] });
 * ```
 */
export class LeaseWaitTimeoutError extends HerdcacheError {
  static readonly code = 'E_LEASE_WAIT_TIMEOUT';
  constructor(key: string, waited: number) {
    super(LeaseWaitTimeoutError.code, `waited ${waited} ms for another caller to compute "${key}": raise maxWait or the lease`, { key });
  }
}

/**
 * A tier failed to read or commit (disk or map full, I/O error, server down). The cause is kept.
 *
 * @example
 * ```ts
 * try { await cache.set('k', big); } catch (err) {
 *   if (err instanceof errors.StorageError) console.warn(err.tier, err.cause);
 * }
 * ```
 */
export class StorageError extends HerdcacheError {
  static readonly code = 'E_STORAGE';
  /** Name of the tier that failed. */
  readonly tier: string;
  constructor(tier: string, message: string, options: { key?: string; cause?: unknown } = {}) {
    super(StorageError.code, `${tier}: ${message}`, options);
    this.tier = tier;
  }
}

/**
 * A compute or an ongoing wait was cut short because the cache was closed.
 *
 * @example
 * ```ts
 * const pending = cache.compute('k', slowFn);
 * await cache.close(); // pending rejects with AbortedError, code 'E_ABORTED'
 * ```
 */
export class AbortedError extends HerdcacheError {
  static readonly code = 'E_ABORTED';
  constructor(key: string, reason: string) {
    super(AbortedError.code, `"${key}": ${reason}`, { key });
  }
}

/**
 * All error classes, for `instanceof` checks and `code` constants.
 *
 * @example
 * ```ts
 * import { errors } from 'herdcache';
 * errors.ColdCacheError.code; // 'E_COLD_CACHE'
 * ```
 */
export const errors = {
  HerdcacheError,
  InvalidKeyError,
  InvalidOptionError,
  PolicyConflictError,
  PolicyContractError,
  NotSerializableError,
  CacheClosedError,
  ColdCacheError,
  HardTimeoutError,
  LeaseWaitTimeoutError,
  StorageError,
  AbortedError,
} as const;
