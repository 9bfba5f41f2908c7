import { Coherence } from './coherence.js';
import { isFresh, type CacheEntry } from './entry.js';
import { InvalidOptionError } from './errors.js';
import type { CacheEventEmitter } from './events.js';
import type { StatsCounters } from './stats.js';
import type { Invalidation, LeaseStore, ProcessTier, SharedRead, SharedTier, Tier, TierReport } from './tier.js';

/**
 * What the tier stack needs from the cache that owns it.
 *
 * @example
 * ```ts
 * const parts: StackParts = { clock: Date.now, counters, events, prefix: '0::', adopt, heardOf };
 * ```
 */
export interface StackParts {
  readonly clock: () => number;
  readonly counters: StatsCounters;
  readonly events: CacheEventEmitter;
  /** The cache's namespace prefix of storage keys. */
  readonly prefix: string;
  /** Remembers background work so that close() can wait for it. */
  readonly adopt: (work: Promise<unknown>) => void;
  /** A value of the key landed here, or a change of it (or of a prefix) was heard from elsewhere. */
  readonly heardOf: (change: { readonly key: string } | { readonly prefix: string }) => void;
}

/**
 * Passed for the process tier's entry when the caller has not looked at it yet. A hit path that
 * peeked (and found no fresh entry) passes what it found instead, so that a miss reads the
 * process tier once.
 */
export const NOT_PEEKED: unique symbol = Symbol('not peeked');
/** The process tier's entry as a hit path found it, or {@link NOT_PEEKED}. */
export type Peeked = CacheEntry | undefined | typeof NOT_PEEKED;

/**
 * The tiers of one cache, nearest first, and the one walk that reads them: the process tier
 * (memory), then each shared tier (LMDB, Redis) until a fresh entry is found, which is copied into
 * the nearer tiers (under the coherence rules: see coherence.ts). Writes go through `coherence`.
 * Process tiers take the caller's key, shared tiers the storage key (namespace prefix included).
 *
 * @example
 * ```ts
 * const stack = new TierStack([memoryTier(), lmdbTier()], parts);
 * const entry = await stack.lookup('k', '0::k', Date.now(), []);
 * ```
 */
export class TierStack {
  readonly tiers: readonly Tier[];
  readonly processTier: ProcessTier | undefined;
  /** The process tier's raw lookup (no expiry check when it has one), for the cache's hit paths. */
  readonly peek: ((key: string) => CacheEntry | undefined) | undefined;
  readonly shared: readonly SharedTier[];
  /** The leading shared tiers that can answer synchronously (LMDB): what getSync walks. */
  private readonly syncShared: readonly SharedTier[];
  /** Where the shared tiers' hit counters start in `counters.tierHits`. */
  private readonly offset: number;
  /** The shared tiers' lease stores, nearest first. */
  readonly leaseStores: readonly LeaseStore[];
  readonly coherence: Coherence;
  /** What stops the news of the shared tiers reaching this cache once it closes. */
  private readonly unsubscribes: Array<() => void> = [];

  constructor(tiers: readonly Tier[], private readonly parts: StackParts) {
    this.tiers = tiers;
    this.processTier = tiers[0]?.scope === 'process' ? tiers[0] : undefined;
    this.peek = this.processTier?.peekSync ?? this.processTier?.getSync;
    this.shared = tiers.filter((t): t is SharedTier => t.scope !== 'process');
    const firstAsync = this.shared.findIndex((t) => t.getSync === undefined);
    this.syncShared = firstAsync === -1 ? this.shared : this.shared.slice(0, firstAsync);
    this.offset = this.processTier === undefined ? 0 : 1;
    this.leaseStores = this.shared.flatMap((t) => (t.leases === undefined ? [] : [t.leases]));
    const machine = this.shared.find((t) => t.scope === 'machine');
    let site: string | undefined;
    for (const tier of tiers) {
      tier.attach({
        clock: parts.clock,
        report: (report) => this.report(tier.name, report),
        get site() {
          return site;
        },
        ...(tier.scope === 'cluster' && machine?.checkpoints !== undefined ? { checkpoints: machine.checkpoints } : {}),
      });
    }
    site = machine?.site?.();
    this.coherence = new Coherence({
      processTier: this.processTier,
      shared: this.shared,
      counters: parts.counters,
      prefix: parts.prefix,
      report: (tier, report) => this.report(tier, report),
      landed: (storageKey) => parts.heardOf({ key: storageKey }),
      heardOf: (change) => parts.heardOf(change),
      adopt: parts.adopt,
    });
    this.shared.forEach((tier, index) => {
      const forget = [tier.onInvalidation?.((change: Invalidation) => this.coherence.heard(change, index)), tier.onLeaseRelease?.((storageKey) => parts.heardOf({ key: storageKey }))];
      for (const unsubscribe of forget) if (unsubscribe !== undefined) this.unsubscribes.push(unsubscribe);
    });
  }

  /**
   * Longest caller's key every tier takes, once shared tiers add the namespace prefix; throws
   * InvalidOptionError if not even one byte is left.
   */
  maxKeyBytes(): number {
    const prefixBytes = Buffer.byteLength(this.parts.prefix);
    const most = Math.min(...this.tiers.map((t) => (t.scope === 'process' ? t.maxKeyBytes : t.maxKeyBytes - prefixBytes)));
    if (most < 1) throw new InvalidOptionError('namespace', 'is so long that no key fits: shorten it');
    return most;
  }

  /** getSync's walk of the tiers that answer synchronously: a fresh entry, counted, or undefined (a miss). */
  readSync(key: string, now: number, peeked: Peeked): CacheEntry | undefined {
    const tier = this.processTier;
    if (tier !== undefined) {
      const entry = this.processEntry(tier, key, peeked);
      if (entry !== undefined && now < entry.freshUntil) {
        this.parts.counters.tierHits[0]!++;
        return entry;
      }
    }
    const storageKey = this.parts.prefix + key;
    for (let i = 0; i < this.syncShared.length; i++) {
      const entry = this.syncShared[i]!.getSync!(storageKey);
      if (entry !== undefined && isFresh(entry, now)) {
        this.parts.counters.tierHits[i + this.offset]!++;
        // Synchronous: nothing can change the key between the read and the copy into memory.
        this.processTier?.set(key, entry);
        return entry;
      }
    }
    this.parts.counters.misses++;
    return undefined;
  }

  /**
   * Walks every tier nearest first; returns the first fresh entry, else the newest stale one.
   * The shared tiers' counters as read go into `observed` (see coherence.ts).
   */
  async lookup(key: string, storageKey: string, now: number, observed: Array<number | undefined>, peeked: Peeked): Promise<CacheEntry | undefined> {
    let stale: CacheEntry | undefined;
    const tier = this.processTier;
    if (tier !== undefined) {
      const entry = this.processEntry(tier, key, peeked);
      if (entry !== undefined) {
        if (isFresh(entry, now)) {
          this.parts.counters.tierHits[0]!++;
          return entry;
        }
        stale = entry;
      }
    }
    return this.walkShared(key, storageKey, now, observed, stale, true);
  }

  /** The fresh entry of `key` on any tier, walking them as {@link lookup} does; undefined if none is fresh. */
  async fresh(key: string, storageKey: string, peeked: Peeked): Promise<CacheEntry | undefined> {
    const now = this.parts.clock();
    const entry = await this.lookup(key, storageKey, now, [], peeked);
    return entry !== undefined && isFresh(entry, now) ? entry : undefined;
  }

  /**
   * Reads the shared tiers only (the "look again" of double-checked locking), uncounted; the
   * counters it observed replace those in `observed`, so a compute that follows starts from it.
   */
  readShared(key: string, storageKey: string, observed: Array<number | undefined> = []): Promise<CacheEntry | undefined> {
    // With no shared tier the leases cover this process only, and its memory is where a
    // competing caller's value lands.
    if (this.shared.length === 0) return Promise.resolve(this.processTier?.getSync(key));
    return this.walkShared(key, storageKey, this.parts.clock(), observed, undefined, false);
  }

  /**
   * The process tier's entry for `key`: what the caller peeked at in this same turn when it did
   * (nothing can have changed it since), read again only to let the tier drop it once expired.
   */
  private processEntry(tier: ProcessTier, key: string, peeked: Peeked): CacheEntry | undefined {
    if (peeked === NOT_PEEKED || (peeked !== undefined && peeked.staleUntil <= this.parts.clock())) return tier.getSync(key);
    return peeked;
  }

  /** Closes every tier, reporting (never throwing) a tier that fails to. */
  async close(): Promise<void> {
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    for (const tier of this.tiers) {
      try {
        await tier.close();
      } catch (error) {
        this.report(tier.name, { type: 'error', operation: 'close', error });
      }
    }
  }

  /** Counts and publishes what happened inside a tier (or a lease store). */
  report(tier: string, report: TierReport): void {
    const { counters, events } = this.parts;
    switch (report.type) {
      case 'corrupt':
        counters.corrupt++;
        events.emit('corrupt-entry', { key: report.key, tier });
        break;
      case 'corrupt-file':
        counters.corruptFiles++;
        events.emit('corrupt-file', { tier, path: report.path, reason: report.reason, quarantinedTo: report.quarantinedTo });
        break;
      case 'evict':
        counters.evictions++;
        events.emit('evict', { key: report.key, tier, cause: report.cause });
        break;
      case 'error':
        counters.errors++;
        events.emit('tier-error', { tier, operation: report.operation, error: report.error });
        break;
    }
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
      for (let i = 0; i < this.shared.length; i++) {
        const found = await this.readTier(this.shared[i]!, storageKey);
        observed[i] = read.observed[i] = found?.observed;
        read.versions[i] = found?.version;
        const entry = found?.entry;
        if (entry === undefined) continue;
        if (isFresh(entry, now)) {
          if (counted) this.parts.counters.tierHits[i + this.offset]!++;
          this.coherence.promote(key, storageKey, entry, i, read);
          return entry;
        }
        if (best === undefined || entry.storedAt > best.storedAt) best = entry;
      }
      if (counted) this.parts.counters.misses++;
      return best;
    } finally {
      this.coherence.endRead(read);
    }
  }

  /** One tier's answer with its counter; a tier without counters answers with `observed` undefined. */
  private async readTier(tier: SharedTier, storageKey: string): Promise<{ entry: CacheEntry | undefined; observed?: number; version?: number } | undefined> {
    try {
      if (tier.read !== undefined) return (await tier.read(storageKey)) as SharedRead;
      return { entry: await tier.get(storageKey) };
    } catch (error) {
      // A tier that cannot answer is a miss for it: the cache keeps serving from the others.
      this.report(tier.name, { type: 'error', operation: 'get', error });
      return undefined;
    }
  }
}
