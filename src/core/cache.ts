import { randomBytes } from 'node:crypto';
import { PipelineCall, type CallEngine } from './call.js';
import type { Clock, RandomSource } from './clock.js';
import { Coherence, type Basis } from './coherence.js';
import { isFresh, makeEntry, type CacheEntry } from './entry.js';
import { AbortedError, CacheClosedError, InvalidKeyError, InvalidOptionError } from './errors.js';
import { Closers } from './closers.js';
import { CacheEventEmitter, type CacheEvents, type Listener } from './events.js';
import { createPolicyHost, type HostEngine } from './host.js';
import { assertKey, memoizeKey, namespacePrefix } from './keys.js';
import { leaseChain } from './lease-chain.js';
import { localLeaseStore } from './local-leases.js';
import { assertCallOptions, assertDuration, resolveEngineOptions, type EngineOptions } from './options.js';
import { composePipeline, type Pipeline } from './pipeline.js';
import type { ComputeFn, Policy, PolicyHost, Stage } from './policy.js';
import { StatsCounters, type CacheStats } from './stats.js';
import type { LeaseStore, SharedRead, Tier, TierReport } from './tier.js';
import { KeyWakers } from './wakers.js';

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
 * Options of {@link Cache.memoize}.
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

/** How long close() waits for background work to notice the abort, ms. */
const CLOSE_GRACE = 2_000;

/**
 * The cache engine: tiers (nearest first) walked on reads, written on writes, and a policy
 * pipeline in front of every compute. Create one with `createCache()`.
 *
 * @example
 * ```ts
 * const cache = createCache({ ttl: 1_000 });
 * const page = await cache.compute('landing', () => render());
 * cache.getSync('landing'); // the same page, synchronously
 * await cache.close();
 * ```
 */
export class Cache implements CallEngine, HostEngine {
  /** Wall-clock ms, injected or the 1 ms-resolution default. */
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly counters: StatsCounters;
  readonly events: CacheEventEmitter;
  readonly leases: LeaseStore;
  readonly namespace: string;

  private readonly processTier: Tier | undefined;
  /** The process tier's raw lookup, for the hit path of getSync and compute. */
  private peek: ((key: string) => CacheEntry | undefined) | undefined;
  private readonly shared: readonly Tier[];
  /** The leading shared tiers that can answer synchronously (LMDB): what getSync walks. */
  private readonly syncShared: readonly Tier[];
  private readonly tiers: readonly Tier[];
  private readonly prefix: string;
  private readonly maxKeyBytes: number;
  private readonly ttl: number;
  private readonly maxAge: number;
  private readonly pipeline: Pipeline;
  private readonly pipelines = new WeakMap<readonly Policy[], Pipeline>();
  private readonly stages = new WeakMap<Policy, Stage>();
  private readonly host: PolicyHost;
  private readonly running = new Set<AbortController>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly closers = new Closers();
  /** Computes inside the pipeline now, in the foreground. */
  private foreground = 0;
  /** Kept for callers that want a signal; the engine itself registers with `closers`. */
  private readonly closeController = new AbortController();
  private readonly closeSignal = this.closeController.signal;
  /** Callers waiting for another process's value, woken when a change of their key is heard. */
  private readonly wakers = new KeyWakers();
  /** The machine tier's site id (see TierHost.site), once the tiers are attached. */
  private site: string | undefined;
  /** The write path and the read-through copies: see src/core/coherence.ts. */
  private readonly coherence: Coherence;
  private readonly instanceId = randomBytes(6).toString('base64url');
  private tokenSeq = 0;
  /** Process-tier hits of the hot paths: a field of the cache itself, so counting is a single store. */
  private hotHits = 0;
  private closePromise: Promise<void> | undefined;
  #closed = false;

  constructor(options: EngineOptions) {
    const resolved = resolveEngineOptions(options);
    this.clock = resolved.clock;
    this.random = resolved.random;
    this.namespace = resolved.namespace;
    this.ttl = resolved.ttl;
    this.tiers = resolved.tiers;
    this.processTier = this.tiers[0]?.scope === 'process' ? this.tiers[0] : undefined;
    this.shared = this.tiers.filter((t) => t.scope !== 'process');
    const firstAsync = this.shared.findIndex((t) => t.getSync === undefined);
    this.syncShared = firstAsync === -1 ? this.shared : this.shared.slice(0, firstAsync);
    this.prefix = namespacePrefix(this.namespace);
    const prefixBytes = Buffer.byteLength(this.prefix);
    this.maxKeyBytes = Math.min(...this.tiers.map((t) => (t.scope === 'process' ? t.maxKeyBytes : t.maxKeyBytes - prefixBytes)));
    if (this.maxKeyBytes < 1) throw new InvalidOptionError('namespace', 'is so long that no key fits: shorten it');
    this.peek = this.processTier?.peekSync ?? this.processTier?.getSync;
    this.counters = new StatsCounters(this.tiers.map((t) => t.name));
    this.events = new CacheEventEmitter(this.namespace);
    // Nearest first: the machine coordinates through its own store whatever the cluster's does.
    const stores = this.shared.flatMap((t) => (t.leases === undefined ? [] : [t.leases]));
    this.leases = leaseChain(
      stores,
      localLeaseStore(this.clock),
      (store, operation, error) => this.onTierReport(`leases:${store.scope}`, { type: 'error', operation, error }),
      () => this.counters.leasesDegraded++,
    );
    const site = (): string | undefined => this.site;
    const machine = this.shared.find((t) => t.scope === 'machine');
    for (const tier of this.tiers) {
      tier.attach({
        clock: this.clock,
        report: (report) => this.onTierReport(tier.name, report),
        get site() {
          return site();
        },
        ...(tier.scope === 'cluster' && machine?.checkpoints !== undefined ? { checkpoints: machine.checkpoints } : {}),
      });
    }
    this.site = machine?.site?.();
    this.coherence = new Coherence({
      processTier: this.processTier,
      shared: this.shared,
      counters: this.counters,
      prefix: this.prefix,
      report: (tier, report) => this.onTierReport(tier, report),
      landed: (storageKey) => this.wakers.wake(storageKey),
      heardOf: (change) => ('key' in change ? this.wakers.wake(change.key) : this.wakers.wakePrefix(change.prefix)),
      adopt: (work) => this.adopt(work),
    });
    this.shared.forEach((tier, index) => tier.onInvalidation?.((change) => this.coherence.heard(change, index)));
    for (const tier of this.shared) tier.onLeaseRelease?.((storageKey) => this.wakers.wake(storageKey));
    this.host = createPolicyHost(this);
    this.pipeline = composePipeline(resolved.policies, this.host, this.stages, this.ttl, resolved.maxAge);
    this.maxAge = this.pipeline.maxAge;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Aborted when the cache closes. */
  get closing(): AbortSignal {
    return this.closeSignal;
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
    const peek = this.peek;
    if (peek !== undefined) {
      const entry = peek(key);
      if (entry !== undefined && this.clock() < entry.freshUntil) {
        this.hotHits++;
        return entry.value as T;
      }
    }
    return this.getSyncSlow(key) as T | undefined;
  }

  private getSyncSlow(key: string): unknown {
    if (this.#closed) throw new CacheClosedError();
    assertKey(key, this.maxKeyBytes);
    const now = this.clock();
    const tier = this.processTier;
    if (tier !== undefined) {
      const entry = tier.getSync!(key);
      if (entry !== undefined && now < entry.freshUntil) {
        this.counters.tierHits[0]!++;
        return entry.value;
      }
    }
    return this.getSyncShared(key, now);
  }

  private getSyncShared(key: string, now: number): unknown {
    const storageKey = this.prefix + key;
    const offset = this.processTier === undefined ? 0 : 1;
    for (let i = 0; i < this.syncShared.length; i++) {
      const tier = this.syncShared[i]!;
      const entry = tier.getSync!(storageKey);
      if (entry !== undefined && isFresh(entry, now)) {
        this.counters.tierHits[i + offset]!++;
        // Synchronous: nothing can change the key between the read and the copy into memory.
        this.processTier?.set(key, entry, -1);
        return entry.value;
      }
    }
    this.counters.misses++;
    return undefined;
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
    const peek = this.peek;
    if (peek !== undefined) {
      const entry = peek(key);
      if (entry !== undefined && this.clock() < entry.freshUntil) {
        this.hotHits++;
        return Promise.resolve(entry.value as T);
      }
    }
    return this.getThroughTiers(key) as Promise<T | undefined>;
  }

  private async getThroughTiers(key: string): Promise<unknown> {
    this.assertOpen();
    assertKey(key, this.maxKeyBytes);
    const now = this.clock();
    const entry = await this.lookup(key, this.prefix + key, now, []);
    return entry !== undefined && isFresh(entry, now) ? entry.value : undefined;
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
    this.assertOpen();
    assertKey(key, this.maxKeyBytes);
    const now = this.clock();
    const entry = await this.lookup(key, this.prefix + key, now, []);
    return entry !== undefined && isFresh(entry, now);
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
    this.assertOpen();
    assertKey(key, this.maxKeyBytes);
    assertCallOptions('set', options);
    const { ttl, maxAge } = this.durations(options, this.maxAge);
    await this.coherence.store(key, this.prefix + key, makeEntry(value, this.clock(), ttl, maxAge, 0));
    this.counters.sets++;
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
    this.assertOpen();
    assertKey(key, this.maxKeyBytes);
    await this.coherence.remove(key, this.prefix + key);
    this.counters.deletes++;
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
    this.assertOpen();
    await this.coherence.clear();
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
      this.assertOpen();
      assertKey(key, this.maxKeyBytes);
      if (typeof fn !== 'function') throw new InvalidOptionError('compute', 'the second argument must be a function that produces the value');
      assertCallOptions('compute', options);
      const pipeline = options?.policies === undefined ? this.pipeline : this.pipelineFor(options.policies);
      const peek = this.peek;
      if (peek !== undefined && !pipeline.seesFreshHits) {
        const entry = peek(key);
        if (entry !== undefined && this.clock() < entry.freshUntil) {
          this.hotHits++;
          return Promise.resolve(entry.value as T);
        }
      }
      return this.computeThroughPipeline(key, fn as ComputeFn<unknown>, options, pipeline) as Promise<T>;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async computeThroughPipeline(key: string, fn: ComputeFn<unknown>, options: ComputeOptions | undefined, pipeline: Pipeline): Promise<unknown> {
    const { ttl, maxAge } = this.durations(options, pipeline.maxAge);
    const storageKey = this.prefix + key;
    const now = this.clock();
    const observed: Array<number | undefined> = [];
    const entry = await this.lookup(key, storageKey, now, observed);
    if (entry !== undefined && isFresh(entry, now) && !pipeline.seesFreshHits) return entry.value;
    this.foreground++;
    try {
      return await pipeline.run(new PipelineCall(this, key, storageKey, ttl, maxAge, entry, fn, observed));
    } finally {
      this.foreground--;
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
    this.assertOpen();
    assertCallOptions('memoize', options);
    if (typeof fn !== 'function') throw new InvalidOptionError('memoize', 'the first argument must be a function');
    const name = options.name ?? fn.name;
    if (typeof name !== 'string' || name === '') throw new InvalidOptionError('memoize.name', 'the function is anonymous: pass { name } so every process derives the same keys');
    const keyOf = options.key;
    if (keyOf !== undefined && typeof keyOf !== 'function') throw new InvalidOptionError('memoize.key', 'must be a function of the arguments returning a string');
    this.durations(options, this.maxAge);
    const computeOptions: ComputeOptions = {
      ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
      ...(options.maxAge === undefined ? {} : { maxAge: options.maxAge }),
      ...(options.policies === undefined ? {} : { policies: options.policies }),
    };
    if (options.policies !== undefined) this.pipelineFor(options.policies);
    return (...args: A): Promise<Awaited<R>> => {
      let key: string;
      try {
        this.assertOpen();
        key = keyOf === undefined ? memoizeKey(name, args) : `memo:${name}:${derivedKey(keyOf(...args))}`;
      } catch (err) {
        return Promise.reject(err);
      }
      return this.compute(key, () => fn(...args), computeOptions) as Promise<Awaited<R>>;
    };
  }

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
    this.counters.processHits = this.hotHits;
    return this.counters.snapshot();
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
    this.events.on(name, listener);
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
    this.events.off(name, listener);
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
    this.closePromise ??= this.closeOnce();
    return this.closePromise;
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

  private async closeOnce(): Promise<void> {
    this.#closed = true;
    this.peek = undefined;
    this.closeController.abort();
    this.closers.close();
    for (const controller of this.running) controller.abort(new AbortedError('*', 'the cache was closed'));
    // The aborted computes unwind in microtasks: let them, so that their leases' releases join
    // the background work waited for below and the tiers close after them (no lease is left
    // behind). Microtasks only: a caller's own rejected promise gets its handler in time.
    for (let turn = 0; turn < 64 && this.foreground > 0; turn++) await Promise.resolve();
    const settled = Promise.allSettled([...this.background]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise((resolve) => { timer = setTimeout(resolve, CLOSE_GRACE); })]);
    clearTimeout(timer);
    for (const tier of this.tiers) {
      try {
        await tier.close();
      } catch (error) {
        this.onTierReport(tier.name, { type: 'error', operation: 'close', error });
      }
    }
  }

  // ---- internals shared with calls and the policy host ----

  /** @internal */
  store(key: string, storageKey: string, entry: CacheEntry, basis: Basis): Promise<boolean> {
    return this.coherence.store(key, storageKey, entry, basis);
  }

  /** @internal */
  openBasis(observed: ReadonlyArray<number | undefined>): Basis {
    return this.coherence.open(observed);
  }

  /** @internal */
  closeBasis(basis: Basis): void {
    this.coherence.close(basis);
  }

  /** @internal */
  nap(ms: number, key: string, storageKey: string): Promise<void> {
    return this.wakers.nap(storageKey, ms, this.closers, () => new AbortedError(key, 'the cache closed while waiting'));
  }

  /** @internal */
  onClose(onClose: () => void): () => void {
    return this.closers.add(onClose);
  }

  /**
   * Reads the shared tiers only (the "look again" of double-checked locking); the counters it
   * observed replace those in `observed`, so a compute that follows starts from this read.
   * @internal
   */
  async readShared(key: string, storageKey: string, observed?: Array<number | undefined>): Promise<CacheEntry | undefined> {
    // With no shared tier the leases cover this process only, and its memory is where a
    // competing caller's value lands.
    if (this.shared.length === 0) return this.processTier?.getSync?.(key);
    return this.walkShared(key, storageKey, this.clock(), observed ?? [], undefined, false);
  }

  /** @internal */
  adopt(work: Promise<unknown>): void {
    this.background.add(work);
    // Observed either way: whoever adopted it handles its failure.
    const done = (): void => void this.background.delete(work);
    work.then(done, done);
  }

  /** @internal */
  newToken(): string {
    return `${this.instanceId}.${(++this.tokenSeq).toString(36)}`;
  }

  /** @internal */
  track(controller: AbortController): void {
    this.running.add(controller);
  }

  /** @internal */
  untrack(controller: AbortController): void {
    this.running.delete(controller);
  }

  /** @internal */
  computeFinished(ok: boolean): void {
    if (ok) this.counters.computes++;
    else this.counters.computeErrors++;
  }

  private assertOpen(): void {
    if (this.#closed) throw new CacheClosedError();
  }

  private pipelineFor(policies: readonly Policy[]): Pipeline {
    let pipeline = this.pipelines.get(policies);
    if (pipeline === undefined) {
      pipeline = composePipeline(policies, this.host, this.stages, this.ttl, this.maxAge);
      this.pipelines.set(policies, pipeline);
    }
    return pipeline;
  }

  private durations(options: SetOptions | undefined, defaultMaxAge: number): { ttl: number; maxAge: number } {
    const ttl = options?.ttl ?? this.ttl;
    if (options?.ttl !== undefined) assertDuration('ttl', ttl);
    // Without a grace period (grand timeout == ttl) a per-call ttl brings its own grand timeout.
    const maxAge = options?.maxAge ?? (defaultMaxAge > this.ttl ? Math.max(ttl, defaultMaxAge) : ttl);
    if (options?.maxAge !== undefined) {
      assertDuration('maxAge', maxAge);
      if (maxAge < ttl) throw new InvalidOptionError('maxAge', `the grand timeout (${maxAge} ms) must not be shorter than ttl (${ttl} ms)`);
    }
    return { ttl, maxAge };
  }

  /**
   * Walks every tier nearest first; returns the first fresh entry, else the newest stale one.
   * The shared tiers' counters as read go into `observed` (see src/core/coherence.ts).
   */
  private async lookup(key: string, storageKey: string, now: number, observed: Array<number | undefined>): Promise<CacheEntry | undefined> {
    let best: CacheEntry | undefined;
    const tier = this.processTier;
    if (tier !== undefined) {
      const entry = tier.getSync!(key);
      if (entry !== undefined) {
        if (isFresh(entry, now)) {
          this.counters.tierHits[0]!++;
          return entry;
        }
        best = entry;
      }
    }
    return this.walkShared(key, storageKey, now, observed, best, true);
  }

  private async walkShared(
    key: string,
    storageKey: string,
    now: number,
    observed: Array<number | undefined>,
    staleSoFar: CacheEntry | undefined,
    counted: boolean,
  ): Promise<CacheEntry | undefined> {
    const read = this.coherence.beginRead();
    try {
      let best = staleSoFar;
      const offset = this.processTier === undefined ? 0 : 1;
      for (let i = 0; i < this.shared.length; i++) {
        const found = await this.readTier(this.shared[i]!, storageKey);
        observed[i] = read.observed[i] = found?.observed;
        read.versions[i] = found?.version;
        const entry = found?.entry;
        if (entry === undefined) continue;
        if (isFresh(entry, now)) {
          if (counted) this.counters.tierHits[i + offset]!++;
          this.coherence.promote(key, storageKey, entry, i, read);
          return entry;
        }
        if (best === undefined || entry.storedAt > best.storedAt) best = entry;
      }
      if (counted) this.counters.misses++;
      return best;
    } finally {
      this.coherence.endRead(read);
    }
  }

  /** One tier's answer with its counter; a tier without counters answers with `observed` undefined. */
  private async readTier(tier: Tier, storageKey: string): Promise<{ entry: CacheEntry | undefined; observed?: number; version?: number } | undefined> {
    try {
      if (tier.read !== undefined) return (await tier.read(storageKey)) as SharedRead;
      return { entry: await tier.get(storageKey) };
    } catch (error) {
      // A tier that cannot answer is a miss for it: the cache keeps serving from the others.
      this.onTierReport(tier.name, { type: 'error', operation: 'get', error });
      return undefined;
    }
  }

  private onTierReport(tier: string, report: TierReport): void {
    switch (report.type) {
      case 'corrupt':
        this.counters.corrupt++;
        this.events.emit('corrupt-entry', { key: report.key, tier });
        break;
      case 'corrupt-file':
        this.counters.corruptFiles++;
        this.events.emit('corrupt-file', { tier, path: report.path, reason: report.reason, quarantinedTo: report.quarantinedTo });
        break;
      case 'evict':
        this.counters.evictions++;
        this.events.emit('evict', { key: report.key, tier, cause: report.cause });
        break;
      case 'error':
        this.counters.errors++;
        this.events.emit('tier-error', { tier, operation: report.operation, error: report.error });
        break;
    }
  }
}

/** What a memoize `key` function returned, if it is a key part at all. */
function derivedKey(part: unknown): string {
  if (typeof part !== 'string' || part === '') {
    throw new InvalidKeyError(`memoize's key function must return a non-empty string, got ${part === null ? 'null' : typeof part}: every call would otherwise share one key`);
  }
  return part;
}
