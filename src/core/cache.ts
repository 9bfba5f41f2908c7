import type { Clock } from './clock.js';
import { CacheEngine } from './engine.js';
import { NOT_PEEKED, type Peeked } from './tier-stack.js';
import { makeEntry, type CacheEntry } from './entry.js';
import { CacheClosedError, InvalidOptionError } from './errors.js';
import type { CacheEvents, Listener } from './events.js';
import { assertKey, namespacePrefix } from './keys.js';
import { memoized, type ComputeOptions, type MemoizeHost, type MemoizeOptions, type SetOptions } from './memoize.js';
import { assertCallOptions, resolveEngineOptions, type EngineOptions } from './options.js';
import { Pipelines } from './pipeline.js';
import type { ComputeFn } from './policy.js';
import type { CacheStats } from './stats.js';

/**
 * The cache: tiers (nearest first) walked on reads, written on writes, and a policy pipeline in
 * front of every compute. Create one with `createCache()`. This class is the facade: the API, key
 * checks, the inline hit paths and close; the tier walk, coherence, leases and pipelines are
 * collaborators it keeps private (see engine.ts, tier-stack.ts, coherence.ts, pipeline.ts).
 *
 * @example
 * ```ts
 * const cache = createCache({ ttl: 1_000 });
 * const page = await cache.compute('landing', () => render());
 * cache.getSync('landing'); // the same page, synchronously
 * await cache.close();
 * ```
 */
export class Cache {
  /** The namespace every key of this cache lives in (see `createCache({ namespace })`). */
  readonly namespace: string;
  readonly #engine: CacheEngine;
  readonly #pipelines: Pipelines;
  /** The process tier's raw lookup, for the hit paths of getSync, get and compute. */
  #peek: ((key: string) => CacheEntry | undefined) | undefined;
  readonly #clock: Clock;
  readonly #prefix: string;
  readonly #maxKeyBytes: number;
  /** Process-tier hits of the hot paths: a field of the cache itself, so counting is a single store. */
  #hotHits = 0;

  constructor(options: EngineOptions) {
    const resolved = resolveEngineOptions(options);
    this.namespace = resolved.namespace;
    this.#clock = resolved.clock;
    this.#prefix = namespacePrefix(this.namespace);
    const engine = new CacheEngine(resolved.tiers, { clock: resolved.clock, random: resolved.random, namespace: this.namespace, prefix: this.#prefix });
    this.#engine = engine;
    this.#maxKeyBytes = engine.stack.maxKeyBytes();
    this.#peek = engine.stack.peek;
    this.#pipelines = new Pipelines(resolved.policies, engine.hosts, resolved.ttl, resolved.maxAge);
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#engine.closed;
  }

  /**
   * Reads the local tiers (memory, then LMDB) synchronously: the value if fresh, else undefined.
   * Never returns a promise; never computes.
   *
   * @example
   * ```ts
   * const html = cache.getSync('landing') ?? renderFallback();
   * ```
   */
  getSync<T = unknown>(key: string): T | undefined {
    // Only valid keys are ever stored, so a hit proves the key valid: validation waits for a miss.
    // close() removes `peek` first thing, so a closed cache never answers here.
    const peek = this.#peek;
    if (peek !== undefined) {
      const entry = peek(key);
      if (entry !== undefined && this.#clock() < entry.freshUntil) {
        this.#hotHits++;
        return entry.value as T;
      }
      return this.#getSyncSlow(key, entry) as T | undefined;
    }
    return this.#getSyncSlow(key, NOT_PEEKED) as T | undefined;
  }

  #getSyncSlow(key: string, peeked: Peeked): unknown {
    this.#checkKey(key);
    return this.#engine.stack.readSync(key, this.#clock(), peeked)?.value;
  }

  /**
   * Reads through every tier: the value if fresh, else undefined.
   *
   * @example
   * ```ts
   * const user = await cache.get<User>('user:1');
   * ```
   */
  get<T = unknown>(key: string): Promise<T | undefined> {
    const peek = this.#peek;
    if (peek !== undefined) {
      const entry = peek(key);
      if (entry !== undefined && this.#clock() < entry.freshUntil) {
        this.#hotHits++;
        return Promise.resolve(entry.value as T);
      }
      return this.#fresh(key, entry).then((found) => found?.value as T | undefined);
    }
    return this.#fresh(key, NOT_PEEKED).then((found) => found?.value as T | undefined);
  }

  /** The fresh entry of a checked key on any tier (the slow path of get and has). */
  async #fresh(key: string, peeked: Peeked): Promise<CacheEntry | undefined> {
    this.#checkKey(key);
    return this.#engine.stack.fresh(key, this.#prefix + key, peeked);
  }

  /**
   * Whether a fresh value is cached for the key, on any tier.
   *
   * @example
   * ```ts
   * if (!(await cache.has('k'))) await warm('k');
   * ```
   */
  async has(key: string): Promise<boolean> {
    // Judged by the entry, not its value: `undefined` is a value that can be cached.
    return (await this.#fresh(key, NOT_PEEKED)) !== undefined;
  }

  /**
   * Stores a value on every tier. Resolves once the shared tiers committed it (durably, for
   * LMDB); rejects with NotSerializableError or StorageError, leaving no partial copy here.
   *
   * @example
   * ```ts
   * await cache.set('config', { theme: 'dark' }, { ttl: 10_000 });
   * ```
   */
  async set(key: string, value: unknown, options?: SetOptions): Promise<void> {
    this.#checkKey(key);
    assertCallOptions('set', options);
    const { ttl, maxAge } = this.#pipelines.durations(options);
    await this.#engine.stack.coherence.store(key, this.#prefix + key, makeEntry(value, this.#clock(), ttl, maxAge, 0));
    this.#engine.counters.sets++;
  }

  /**
   * Removes a key from every tier (other processes drop their memory copy within the sync bound).
   *
   * @example
   * ```ts
   * await cache.delete('user:1');
   * ```
   */
  async delete(key: string): Promise<void> {
    this.#checkKey(key);
    await this.#engine.stack.coherence.remove(key, this.#prefix + key);
    this.#engine.counters.deletes++;
  }

  /**
   * Removes every key of this cache's namespace from every tier.
   *
   * @example
   * ```ts
   * await cache.clear();
   * ```
   */
  async clear(): Promise<void> {
    this.#assertOpen();
    await this.#engine.stack.coherence.clear();
  }

  /**
   * Get-or-compute through the policy pipeline. A fresh memory hit resolves without a lock and
   * without entering the pipeline (unless a policy such as xfetch watches fresh hits).
   *
   * @example
   * ```ts
   * const page = await cache.compute('landing', async ({ signal }) => render({ signal }), { ttl: 1_000 });
   * ```
   */
  compute<T>(key: string, fn: ComputeFn<T>, options?: ComputeOptions): Promise<T> {
    try {
      this.#checkKey(key);
      if (typeof fn !== 'function') throw new InvalidOptionError('compute', 'the second argument must be a function that produces the value');
      assertCallOptions('compute', options);
      const pipeline = this.#pipelines.for(options?.policies);
      const peek = this.#peek;
      let peeked: Peeked = NOT_PEEKED;
      if (peek !== undefined && !pipeline.seesFreshHits) {
        const entry = peek(key);
        if (entry !== undefined && this.#clock() < entry.freshUntil) {
          this.#hotHits++;
          return Promise.resolve(entry.value as T);
        }
        peeked = entry;
      }
      const durations = this.#pipelines.durations(options, pipeline);
      return this.#engine.compute(pipeline, key, this.#prefix + key, fn as ComputeFn<unknown>, durations, peeked) as Promise<T>;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Wraps a function so that each distinct argument list is computed once per ttl through the
   * pipeline. Keys are derived from `name` and a canonical form of the arguments, identical in
   * every process and independent of object key order.
   *
   * @example
   * ```ts
   * const landing = cache.memoize(async (lang: string) => render(lang), { name: 'landing', ttl: 1_000 });
   * await landing('en');
   * ```
   */
  memoize<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, options: MemoizeOptions<A> = {}): (...args: A) => Promise<Awaited<R>> {
    return memoized(this.#memoizeHost, fn, options);
  }

  readonly #memoizeHost: MemoizeHost = {
    assertOpen: () => this.#assertOpen(),
    prepare: (options) => this.#pipelines.prepare(options),
    compute: (key, fn, options) => this.compute(key, fn, options),
  };

  /**
   * Counters of hits per tier, misses, computes, writes, evictions, corrupt entries, errors and
   * what each policy did.
   *
   * @example
   * ```ts
   * const s = cache.stats(); console.log(s.hits.memory / (s.hits.memory + s.misses));
   * ```
   */
  stats(): CacheStats {
    return this.#engine.stats(this.#hotHits);
  }

  /**
   * Subscribes to an event (background errors, refreshes, takeovers, corrupt entries, tier errors).
   *
   * @example
   * ```ts
   * cache.on('background-error', (e) => logger.warn(e));
   * ```
   */
  on<E extends keyof CacheEvents>(name: E, listener: Listener<E>): this {
    this.#engine.events.on(name, listener);
    return this;
  }

  /**
   * Removes a listener added with `on`.
   *
   * @example
   * ```ts
   * cache.off('refresh', onRefresh);
   * ```
   */
  off<E extends keyof CacheEvents>(name: E, listener: Listener<E>): this {
    this.#engine.events.off(name, listener);
    return this;
  }

  /**
   * Aborts running computes, waits briefly for background work, closes every tier. Idempotent.
   * Every later call rejects (or throws, for getSync) with CacheClosedError.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => cache.close());
   * ```
   */
  close(): Promise<void> {
    // The hit paths read `#peek` first thing: without it a closed cache never answers there.
    this.#peek = undefined;
    return this.#engine.close();
  }

  /**
   * `await using cache = createCache()` closes the cache at the end of the scope.
   *
   * @example
   * ```ts
   * { await using cache = createCache(); await cache.set('k', 1); }
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #assertOpen(): void {
    if (this.#engine.closed) throw new CacheClosedError();
  }

  /** Refuses a call once the cache closed, and a key no tier can take. */
  #checkKey(key: string): void {
    this.#assertOpen();
    assertKey(key, this.#maxKeyBytes);
  }
}
