// The vocabulary of src/core/coherence.ts: the bases of writes and the parts they work with.
import type { StatsCounters } from './stats.js';
import type { Invalidation, ProcessTier, SharedTier, TierReport } from './tier.js';

/**
 * How long a shared tier keeps a tombstone (and a clear record), ms. A compute that ran longer
 * than this is returned to its caller but not stored.
 *
 * @example
 * ```ts
 * TOMBSTONE_RETENTION; // 300_000
 * ```
 */
export const TOMBSTONE_RETENTION = 300_000;

/**
 * Where a compute started from: the process ledger's moment and each shared tier's counter
 * (undefined for a tier that could not be read, which is then left alone by the store).
 *
 * @example
 * ```ts
 * const basis = coherence.open(call.observed); try { ... } finally { coherence.close(basis); }
 * ```
 */
export interface Basis {
  readonly local: number;
  readonly shared: ReadonlyArray<number | undefined>;
  /** Monotonic ms when it was opened. */
  readonly openedAt: number;
}

/**
 * What one lookup saw, for the copies it makes: the ledger moment it began at and each shared
 * tier's counter and entry version as it read them.
 *
 * @example
 * ```ts
 * const seen = coherence.beginRead(); ... coherence.endRead(seen);
 * ```
 */
export interface ReadBasis {
  readonly local: number;
  readonly observed: Array<number | undefined>;
  readonly versions: Array<number | undefined>;
}

/** The tiers and services coherence works with. */
export interface CoherenceParts {
  readonly processTier: ProcessTier | undefined;
  readonly shared: readonly SharedTier[];
  readonly counters: StatsCounters;
  readonly prefix: string;
  report(tier: string, report: TierReport): void;
  /** A value of the key landed: wake the callers waiting for it. */
  landed(storageKey: string): void;
  /** A change of the key (or of every key under a prefix) was heard from elsewhere. */
  heardOf(change: Invalidation): void;
  /** Remembers background work for close(). */
  adopt(work: Promise<unknown>): void;
}

