import { randomBytes } from 'node:crypto';
import { PipelineCall, type CallEngine } from './call.js';
import type { Clock, RandomSource } from './clock.js';
import { encodeCopy } from './codec.js';
import { isFresh, makeEntry, type CacheEntry } from './entry.js';
import { AbortedError, CacheClosedError, InvalidOptionError, StorageError } from './errors.js';
import { CacheEventEmitter, type CacheEvents, type Listener } from './events.js';
import { createPolicyHost, type HostEngine } from './host.js';
import { assertKey, memoizeKey, namespacePrefix } from './keys.js';
import { leaseChain } from './lease-chain.js';
import { localLeaseStore } from './local-leases.js';
import { assertDuration, resolveEngineOptions, type EngineOptions } from './options.js';
import { composePipeline, type Pipeline } from './pipeline.js';
import type { ComputeFn, Policy, PolicyHost, Stage } from './policy.js';
import { StatsCounters, type CacheStats } from './stats.js';
import { assertStorable } from './storable.js';
import type { Invalidation, LeaseStore, Tier, TierReport } from './tier.js';
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
 * Processes read the clock at slightly different moments (the default clock reuses a reading
 * for up to a busy event-loop turn), so a compute counts as later than another process's change
 * only when it started this much after it, ms.
 */
const REMOTE_CLOCK_SLACK = 100;

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
  private readonly closeController = new AbortController();
  /** Bumped by every write this process makes or hears of: a read that began before a write must not copy what it read into memory. */
  private writeEpoch = 0;
  /** Callers waiting for another process's value, woken when a change of their key is heard. */
  private readonly wakers = new KeyWakers();
  /** The machine tier's site id (see TierHost.site), once the tiers are attached. */
  private site: string | undefined;
  /** Computes in flight by storage key: a set, delete or clear of their key supersedes them. */
  private readonly computing = new Map<string, Set<PipelineCall>>();
  /** Copies of nearer shared tiers being dropped after a wider tier's change: not to be read meanwhile. */
  private readonly pendingDrops = new Set<{ readonly match: string; readonly exact: boolean; readonly below: number }>();
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
    // Widest scope first; the process-local store is the last resort.
    const stores = [...this.shared].reverse().flatMap((t) => (t.leases === undefined ? [] : [t.leases]));
    this.leases = leaseChain([...stores, localLeaseStore(this.clock)], (store, operation, error) =>
      this.onTierReport(`leases:${store.scope}`, { type: 'error', operation, error }),
    );
    const site = (): string | undefined => this.site;
    for (const tier of this.tiers) {
      tier.attach({
        clock: this.clock,
        report: (report) => this.onTierReport(tier.name, report),
        get site() {
          return site();
        },
      });
    }
    this.site = this.shared.find((t) => t.scope === 'machine' && t.site !== undefined)?.site?.();
    this.shared.forEach((tier, index) => tier.onInvalidation?.((change) => this.onInvalidation(change, index)));
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
    return this.closeController.signal;
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
      const entry = this.dropping(storageKey, i) ? undefined : tier.getSync!(storageKey);
      if (entry !== undefined && isFresh(entry, now)) {
        this.counters.tierHits[i + offset]!++;
        this.promote(key, storageKey, entry, i, this.writeEpoch);
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
    const entry = await this.lookup(key, this.prefix + key, now);
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
    return (await this.get(key)) !== undefined;
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
    const { ttl, maxAge } = this.durations(options, this.maxAge);
    const storageKey = this.prefix + key;
    this.noteWrite(storageKey);
    await this.store(key, storageKey, makeEntry(value, this.clock(), ttl, maxAge, 0));
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
    const storageKey = this.prefix + key;
    const epoch = this.noteWrite(storageKey);
    this.processTier?.delete(key);
    await this.onEveryShared('delete', key, (tier) => tier.delete(storageKey));
    // A synchronous read between the memory drop and the commit may have copied the old value
    // back: drop again, unless a later write put something newer there.
    if (this.writeEpoch === epoch) this.processTier?.delete(key);
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
    const epoch = this.noteWrite(undefined);
    await this.processTier?.clear('');
    await this.onEveryShared('clear', undefined, (tier) => tier.clear(this.prefix));
    if (this.writeEpoch === epoch) await this.processTier?.clear('');
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
    const entry = await this.lookup(key, storageKey, now);
    if (entry !== undefined && isFresh(entry, now) && !pipeline.seesFreshHits) return entry.value;
    return pipeline.run(new PipelineCall(this, key, storageKey, ttl, maxAge, entry, fn));
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
        key = keyOf === undefined ? memoizeKey(name, args) : `memo:${name}:${keyOf(...args)}`;
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
    for (const controller of this.running) controller.abort(new AbortedError('*', 'the cache was closed'));
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
  async store(key: string, storageKey: string, entry: CacheEntry): Promise<void> {
    assertStorable(entry.value, key);
    this.writeEpoch++;
    const tier = this.processTier;
    if (tier !== undefined) {
      const copy = encodeCopy(entry.value);
      await tier.set(key, { ...entry, value: copy.value }, copy.bytes);
    }
    const outcomes = await Promise.allSettled(this.shared.map(async (t) => t.set(storageKey, entry, -1)));
    const refused = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [{ tier: this.shared[i]!, reason: o.reason as unknown }] : []));
    if (refused.length === 0) {
      this.wakers.wake(storageKey);
      return;
    }
    // No partial copy: what the shared tiers refused must not linger in this process.
    tier?.delete(key);
    if (refused.length < outcomes.length) {
      // The new value landed in another shared tier, so the older copy a refusing tier still
      // holds is out of date for everyone reading through it: drop it if it will let us.
      await Promise.all(refused.map(({ tier: t }) => this.quietly(t, 'drop-refused', () => t.delete(storageKey))));
    }
    const cause = refused[0]!.reason;
    throw cause instanceof StorageError ? cause : new StorageError('shared', 'the write failed', { key, cause });
  }

  /** @internal */
  nap(ms: number, key: string, storageKey: string): Promise<void> {
    return this.wakers.nap(storageKey, ms, this.closing, () => new AbortedError(key, 'the cache closed while waiting'));
  }

  /** @internal */
  async readShared(key: string, storageKey: string): Promise<CacheEntry | undefined> {
    // With no shared tier the leases cover this process only, and its memory is where a
    // competing caller's value lands.
    if (this.shared.length === 0) return this.processTier?.getSync?.(key);
    const now = this.clock();
    const epoch = this.writeEpoch;
    let best: CacheEntry | undefined;
    for (let i = 0; i < this.shared.length; i++) {
      const entry = this.dropping(storageKey, i) ? undefined : await this.readTier(this.shared[i]!, storageKey);
      if (entry === undefined) continue;
      if (isFresh(entry, now)) {
        this.promote(key, storageKey, entry, i, epoch);
        return entry;
      }
      if (best === undefined || entry.storedAt > best.storedAt) best = entry;
    }
    return best;
  }

  /** @internal */
  adopt(work: Promise<unknown>): void {
    this.background.add(work);
    void work.finally(() => this.background.delete(work));
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
  beginCompute(call: PipelineCall): void {
    let calls = this.computing.get(call.storageKey);
    if (calls === undefined) this.computing.set(call.storageKey, (calls = new Set()));
    calls.add(call);
  }

  /** @internal */
  endCompute(call: PipelineCall): void {
    const calls = this.computing.get(call.storageKey);
    if (calls?.delete(call) === true && calls.size === 0) this.computing.delete(call.storageKey);
  }

  /**
   * Records a write to `storageKey` (undefined: every key): computes of that key already running
   * will not store their older result over it. Returns the new write epoch.
   */
  private noteWrite(storageKey: string | undefined, at?: number): number {
    // A change heard late from another process (its time known) leaves alone the computes that
    // started after it: they already ran against the new state.
    const supersede = (call: PipelineCall): void => {
      if (at === undefined || !(call.startedAt > at + REMOTE_CLOCK_SLACK)) call.supersede();
    };
    if (storageKey === undefined) {
      for (const calls of this.computing.values()) calls.forEach(supersede);
    } else {
      this.computing.get(storageKey)?.forEach(supersede);
    }
    return ++this.writeEpoch;
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

  /** Walks every tier nearest first; returns the first fresh entry, else the newest stale one. */
  private async lookup(key: string, storageKey: string, now: number): Promise<CacheEntry | undefined> {
    const epoch = this.writeEpoch;
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
    const offset = tier === undefined ? 0 : 1;
    for (let i = 0; i < this.shared.length; i++) {
      const entry = this.dropping(storageKey, i) ? undefined : await this.readTier(this.shared[i]!, storageKey);
      if (entry === undefined) continue;
      if (isFresh(entry, now)) {
        this.counters.tierHits[i + offset]!++;
        this.promote(key, storageKey, entry, i, epoch);
        return entry;
      }
      if (best === undefined || entry.storedAt > best.storedAt) best = entry;
    }
    this.counters.misses++;
    return best;
  }

  private async readTier(tier: Tier, storageKey: string): Promise<CacheEntry | undefined> {
    try {
      return await tier.get(storageKey);
    } catch (error) {
      // A tier that cannot answer is a miss for it: the cache keeps serving from the others.
      this.onTierReport(tier.name, { type: 'error', operation: 'get', error });
      return undefined;
    }
  }

  /** Copies an entry found in shared tier `sharedIndex` into the tiers above it, keeping its own expiry. */
  private promote(key: string, storageKey: string, entry: CacheEntry, sharedIndex: number, epoch: number): void {
    // A write since the read began makes what was read possibly older than what is there now.
    if (epoch !== this.writeEpoch) return;
    this.processTier?.set(key, entry, -1);
    for (let i = 0; i < sharedIndex; i++) {
      const tier = this.shared[i]!;
      try {
        const pending = tier.set(storageKey, entry, -1);
        if (pending instanceof Promise) pending.catch((error: unknown) => this.onTierReport(tier.name, { type: 'error', operation: 'promote', error }));
      } catch (error) {
        this.onTierReport(tier.name, { type: 'error', operation: 'promote', error });
      }
    }
  }

  private async onEveryShared(operation: string, key: string | undefined, action: (tier: Tier) => unknown): Promise<void> {
    const results = await Promise.allSettled(this.shared.map(async (tier) => action(tier)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      const cause: unknown = failed.reason;
      throw cause instanceof StorageError ? cause : new StorageError('shared', `${operation} failed`, { ...(key === undefined ? {} : { key }), cause });
    }
  }

  /**
   * Another process or machine changed a key: drop this process's copy, and the copies of the
   * shared tiers nearer than the one that reported it (a Redis change drops this machine's LMDB copy).
   */
  private onInvalidation(change: Invalidation, sourceIndex: number): void {
    // A writer on this machine replaced the nearer tiers' copy itself: dropping it would only
    // throw away its new value (and the change log already told this process's memory).
    const nearer = change.site !== undefined && change.site === this.site ? [] : this.shared.slice(0, sourceIndex);
    const tier = this.processTier;
    if ('key' in change) {
      if (!change.key.startsWith(this.prefix)) return;
      this.noteWrite(change.key, change.at);
      this.wakers.wake(change.key);
      this.counters.invalidations++;
      if (tier !== undefined) void tier.delete(change.key.slice(this.prefix.length));
      this.trackDrop({ match: change.key, exact: true, below: sourceIndex }, nearer.map((shared) => this.quietly(shared, 'invalidate', () => shared.delete(change.key))));
    } else {
      if (change.prefix !== '' && change.prefix !== this.prefix) return;
      this.noteWrite(undefined, change.at);
      this.wakers.wakePrefix(change.prefix);
      this.counters.invalidations++;
      if (tier !== undefined) void tier.clear('');
      this.trackDrop({ match: change.prefix, exact: false, below: sourceIndex }, nearer.map((shared) => this.quietly(shared, 'invalidate', () => shared.clear(change.prefix))));
    }
  }

  /**
   * Until the nearer tiers committed the drop, reads skip them for the key: otherwise a read in
   * the gap would copy the old value back into memory, and nothing would drop it again.
   */
  private trackDrop(drop: { readonly match: string; readonly exact: boolean; readonly below: number }, work: Array<Promise<void>>): void {
    if (work.length === 0) return;
    this.pendingDrops.add(drop);
    this.adopt(Promise.all(work).finally(() => this.pendingDrops.delete(drop)));
  }

  private dropping(storageKey: string, sharedIndex: number): boolean {
    if (this.pendingDrops.size === 0) return false;
    for (const d of this.pendingDrops) {
      if (sharedIndex < d.below && (d.exact ? storageKey === d.match : storageKey.startsWith(d.match))) return true;
    }
    return false;
  }

  /** Runs a tier operation whose failure is reported, never thrown. */
  private async quietly(tier: Tier, operation: string, action: () => unknown): Promise<void> {
    try {
      await action();
    } catch (error) {
      this.onTierReport(tier.name, { type: 'error', operation, error });
    }
  }

  private onTierReport(tier: string, report: TierReport): void {
    switch (report.type) {
      case 'corrupt':
        this.counters.corrupt++;
        this.events.emit('corrupt-entry', { key: report.key, tier });
        break;
      case 'evict':
        this.counters.evictions++;
        this.events.emit('evict', { key: report.key, tier, cause: report.cause });
        break;
      case 'error':
        this.counters.errors++;
        this.events.emit('tier-error', { tier, operation: report.operation, error: report.error });
        break;
      case 'reader-slots-cleared':
        break;
    }
  }
}
