/**
 * Counters of what the cache and its policies did since it was created.
 *
 * @example
 * ```ts
 * const { hits, misses, computes } = cache.stats();
 * console.log(hits.memory, hits.lmdb, misses, computes);
 * ```
 */
export interface CacheStats {
  /** Fresh hits answered by each tier, by tier name. */
  readonly hits: Readonly<Record<string, number>>;
  /** Reads that found no fresh value anywhere. */
  readonly misses: number;
  /** Compute functions run to completion (foreground and background). */
  readonly computes: number;
  /** Compute functions that threw or were aborted. */
  readonly computeErrors: number;
  readonly sets: number;
  readonly deletes: number;
  /** Entries evicted by a bound or swept after their grand timeout, all tiers. */
  readonly evictions: number;
  /** Stored records that could not be decoded (read as misses). */
  readonly corrupt: number;
  /** Damaged storage files moved aside and replaced by fresh ones. */
  readonly corruptFiles: number;
  /** Tier failures: commits, reads, servers. */
  readonly errors: number;
  /** Copies dropped from this process because another process or machine changed the key. */
  readonly invalidations: number;
  /** Stale values returned by serveStale or a soft timeout. */
  readonly staleServed: number;
  /** Background refreshes started early by xfetch. */
  readonly earlyRefreshes: number;
  /** Background refreshes started because a stale value was served. */
  readonly staleRefreshes: number;
  /** Background work (refreshes, abandoned computes) that failed. */
  readonly backgroundErrors: number;
  /** Callers that waited for another caller's compute. */
  readonly leaseWaits: number;
  /** Leases taken over after their holder died or overran. */
  readonly leaseTakeovers: number;
  /** Computes shared through coalesce instead of run again. */
  readonly coalesced: number;
  readonly coldErrors: number;
  readonly softTimeouts: number;
  readonly hardTimeouts: number;
  /**
   * Compute results returned to their caller but not stored, because a set, delete or clear of
   * their key was committed after the compute started (or it ran past the tombstone retention).
   */
  readonly superseded: number;
  /**
   * Lease requests granted with less than the pipeline's full scope: the cluster lease store
   * (Redis) could not answer, so the lease held covers this machine only; or the machine store
   * could not answer either, so it covers this process only.
   */
  readonly leasesDegraded: number;
  /** The counters each policy declared (see Policy.counters), by policy name. */
  readonly policies: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

/**
 * A counter name, for policies that count through `host.count()`.
 *
 * @example
 * ```ts
 * host.count('staleServed');
 * ```
 */
export type Counter = Exclude<keyof CacheStats, 'hits' | 'policies'>;

/**
 * The mutable counters behind `stats()`. Plain fields: incrementing costs a store.
 *
 * @example
 * ```ts
 * const c = new StatsCounters(['memory']); c.misses++; c.snapshot().misses; // 1
 * ```
 */
export class StatsCounters {
  readonly tierHits: number[];
  /** Hits of the process tier on the hot path, kept apart from the array so counting costs one field store. */
  processHits = 0;
  misses = 0;
  computes = 0;
  computeErrors = 0;
  sets = 0;
  deletes = 0;
  evictions = 0;
  corrupt = 0;
  corruptFiles = 0;
  errors = 0;
  invalidations = 0;
  staleServed = 0;
  earlyRefreshes = 0;
  staleRefreshes = 0;
  backgroundErrors = 0;
  leaseWaits = 0;
  leaseTakeovers = 0;
  coalesced = 0;
  coldErrors = 0;
  softTimeouts = 0;
  hardTimeouts = 0;
  superseded = 0;
  leasesDegraded = 0;

  /** The counters policies declared, by policy name. */
  private readonly declared = new Map<string, Record<string, number>>();

  constructor(private readonly tierNames: readonly string[]) {
    this.tierHits = tierNames.map(() => 0);
  }

  /** The record of a policy's own counters, each starting at 0; policies of one name share it. */
  declare(policy: string, counters: readonly string[]): Record<string, number> {
    let own = this.declared.get(policy);
    if (own === undefined) this.declared.set(policy, (own = Object.create(null) as Record<string, number>));
    for (const counter of counters) own[counter] ??= 0;
    return own;
  }

  snapshot(): CacheStats {
    const hits: Record<string, number> = {};
    this.tierNames.forEach((name, i) => { hits[name] = (this.tierHits[i] ?? 0) + (i === 0 ? this.processHits : 0); });
    const policies: Record<string, Record<string, number>> = {};
    for (const [name, own] of this.declared) policies[name] = { ...own };
    const { tierHits: _h, tierNames: _n, processHits: _p, declared: _d, ...counters } = this;
    return { hits, ...counters, policies };
  }
}

/** Every built-in counter name: the numeric fields a fresh StatsCounters shows in its snapshot. */
const COUNTERS: ReadonlySet<string> = new Set(
  Object.entries(new StatsCounters([]).snapshot()).flatMap(([name, value]) => (typeof value === 'number' ? [name] : [])),
);

/**
 * Whether `name` is a built-in counter of `stats()`, one `host.count` can add to.
 *
 * @example
 * ```ts
 * isCounter('staleServed'); // true
 * ```
 */
export function isCounter(name: string): name is Counter {
  return COUNTERS.has(name);
}
