/*
 * Coherence: what the cache serves is what was last committed, and a write never undoes a newer one.
 *
 * The rule is decided where the data lives, not by whichever process happened to hear of a
 * change first. Every shared tier keeps a change counter that every writer of that storage shares
 * (LMDB: a counter in the file, bumped inside each write transaction; Redis: a key bumped by each
 * write script). Each set, delete, clear and compute store of a key gets the next value of it as
 * its version; a delete leaves a tombstone and a clear a record per prefix, both with their version.
 *
 * - A compute observes the counter of each shared tier before its function runs (at its last
 *   read of the key, which came before: the lookup, or the barrier's second look), and its store is
 *   conditional on the key's last change on that tier being no later than what it observed: the
 *   memcache-lease rule ("Scaling Memcache at Facebook", NSDI 2013), where a delete invalidates
 *   the outstanding token so that the late set of an older compute is refused by the server. A
 *   refused store still gives the caller its value; it is counted in `stats().superseded`.
 * - A read-through copy into a nearer shared tier is conditional the same way, on the nearer
 *   tier's counter as read in the same lookup: a copy never lands over a write committed after it
 *   was read.
 * - Writes go to the widest tier first. Redis orders the writes of every machine; the version a
 *   write got there travels with it into LMDB, which refuses anything carrying an older cluster
 *   version than it holds. Two machines writing one key therefore end in the same order everywhere,
 *   and a change message from another machine drops this machine's copy only if it is older.
 * - The memory tier has no transaction, so the process keeps its own ledger of changes (writes
 *   here, and changes heard from other processes and machines, see `local-ledger.ts`): a compute
 *   keeps a memory copy only if its key did not change after it started, a read copies what it
 *   found only if the key did not change while it read, and a write marks its key both when it
 *   begins and when it ends, so a read that overlapped it never copies the value it replaced. A
 *   write that heard of a change of its key while it ran, or that a shared tier refused, leaves
 *   memory empty rather than keep either value: which one is newer only the shared tiers know.
 *
 * Bounds. A tombstone is kept for TOMBSTONE_RETENTION; a compute that ran longer than that is not
 * stored (its tombstones may be gone), so the rule holds whatever its duration. Across processes
 * of a machine a change reaches the other memory tiers with the LMDB change log (see lmdbTier's
 * `syncInterval`); across machines with the Redis change stream (see `src/tiers/redis/tier.ts`).
 * What is stored is right without either: they only bound how long a memory copy may outlive a
 * change made elsewhere.
 */
import { encodeCopy } from './codec.js';
import type { CacheEntry } from './entry.js';
import { StorageError } from './errors.js';
import { TOMBSTONE_RETENTION, type Basis, type CoherenceParts, type ReadBasis } from './coherence-parts.js';
import { LocalLedger } from './local-ledger.js';
import { assertStorable } from './storable.js';
import type { Invalidation, SharedTier, WriteCondition, WriteOutcome } from './tier.js';

export { TOMBSTONE_RETENTION, type Basis, type CoherenceParts, type ReadBasis } from './coherence-parts.js';

const monotonic = (): number => performance.now();

/**
 * The write path and read-through copies of one cache, decided against what each tier has
 * committed. See the essay at the top of this file.
 *
 * @example
 * ```ts
 * const coherence = new Coherence(parts);
 * await coherence.store('k', '0::k', entry);            // a set: unconditional, widest tier first
 * await coherence.store('k', '0::k', entry, basis);     // a compute: only if nothing newer landed
 * ```
 */
export class Coherence {
  readonly ledger = new LocalLedger();

  constructor(private readonly parts: CoherenceParts) {}

  /** Opens the basis of a compute about to run; `observed` holds the counters its reads saw. */
  open(observed: ReadonlyArray<number | undefined>): Basis {
    // The counters the call's last read saw (every compute reads its key first, and the barrier
    // and background refreshes read it again just before running); a tier that was not read is
    // observed now. An observation older than the start only makes the store more cautious.
    const shared = this.parts.shared.map((tier, i) => observed[i] ?? this.observe(tier));
    return { local: this.ledger.observe(), shared, openedAt: monotonic() };
  }

  close(basis: Basis): void {
    this.ledger.release(basis.local);
  }

  beginRead(): ReadBasis {
    return { local: this.ledger.observe(), observed: [], versions: [] };
  }

  endRead(read: ReadBasis): void {
    this.ledger.release(read.local);
  }

  /**
   * Stores an entry on every tier, widest first. Without a basis (a `set`) the write is
   * unconditional; with one (a compute) each shared tier refuses it if the key changed there
   * since the basis, and then nothing nearer is written. Resolves with whether it was stored;
   * rejects with NotSerializableError (nothing written) or StorageError (some tier refused, and
   * then no tier keeps an older copy it could serve in its place where that can be helped).
   */
  async store(key: string, storageKey: string, entry: CacheEntry, basis?: Basis): Promise<boolean> {
    assertStorable(entry.value, key);
    const { processTier, shared, counters } = this.parts;
    // A write of this process since the compute started supersedes it (with no shared tier this is
    // the whole rule; with them it saves their refusal). Changes heard of are not counted: they
    // may be older than the compute, and the shared tiers know.
    if (basis !== undefined && (this.ledger.changedSince(storageKey, basis.local, true) || monotonic() - basis.openedAt > TOMBSTONE_RETENTION)) {
      counters.superseded++;
      return false;
    }
    // One encoding, now: every tier stores this copy, so a caller changing its object after the
    // call (the shared tiers encode after an await) cannot slip something unchecked in.
    const copy = encodeCopy(entry.value);
    const snapshot: CacheEntry = { ...entry, value: copy.value };
    // The mark is for reads that overlap this write; the observation keeps the ledger recording
    // until the write returns, so that a change heard meanwhile is not lost on it (the ledger
    // records nothing while no observation is open).
    this.ledger.change(storageKey, true);
    const begun = this.ledger.observe();
    let keptInMemory = false;
    const failed: SharedTier[] = [];
    let firstError: unknown;
    let took = 0;
    let clusterVersion: number | undefined;
    try {
      for (let i = shared.length - 1; i >= 0; i--) {
        const tier = shared[i]!;
        const seen = basis?.shared[i];
        // A tier the compute could not observe (it failed to answer the read) cannot prove the
        // compute newer than what it holds. Tiers without change counters take plain writes.
        if (basis !== undefined && seen === undefined && observes(tier)) continue;
        const condition: WriteCondition = { ...(seen === undefined ? {} : { unchangedSince: seen }), ...(clusterVersion === undefined ? {} : { clusterVersion }) };
        let outcome: WriteOutcome | void;
        try {
          outcome = await tier.set(storageKey, snapshot, copy.bytes, condition);
        } catch (error) {
          failed.push(tier);
          firstError ??= error;
          continue;
        }
        if (outcome !== undefined && !outcome.applied) {
          counters.superseded++;
          return false;
        }
        took++;
        if (tier.scope === 'cluster' && outcome?.version !== undefined) clusterVersion = outcome.version;
      }
      if (failed.length > 0) {
        processTier?.delete(key);
        if (took > 0) await this.dropOlderCopies(storageKey, failed);
        throw firstError instanceof StorageError ? firstError : new StorageError('shared', 'the write failed', { key, cause: firstError });
      }
      // A change heard while the write was in flight may be older or newer than it: only the
      // shared tiers know, so memory then keeps nothing and the next read asks them.
      if (processTier !== undefined && !this.ledger.changedSince(storageKey, begun)) {
        processTier.set(key, snapshot, copy.bytes);
        keptInMemory = true;
      }
      this.parts.landed(storageKey);
      return true;
    } finally {
      this.ledger.change(storageKey, true);
      this.ledger.release(begun);
      // Whatever memory held is older than what the shared tiers now hold (this write, or the
      // newer one that refused it), and a read may have copied it in while the write ran.
      if (!keptInMemory) processTier?.delete(key);
    }
  }

  /** Deletes a key from every tier, widest first; each shared tier keeps a tombstone. */
  async remove(key: string, storageKey: string): Promise<void> {
    const { processTier } = this.parts;
    this.ledger.change(storageKey, true);
    processTier?.delete(key);
    try {
      await this.everyShared('delete', key, (tier, condition) => tier.delete(storageKey, condition));
    } finally {
      // A read that overlapped the delete may have copied the old value back.
      this.ledger.change(storageKey, true);
      processTier?.delete(key);
    }
  }

  /** Removes every key of this cache's namespace from every tier, widest first. */
  async clear(): Promise<void> {
    const { processTier, prefix } = this.parts;
    this.ledger.changePrefix(prefix, true);
    await processTier?.clear('');
    try {
      await this.everyShared('clear', undefined, (tier, condition) => tier.clear(prefix, condition));
    } finally {
      this.ledger.changePrefix(prefix, true);
      await processTier?.clear('');
    }
  }

  /**
   * Copies an entry found in shared tier `foundAt` into the memory tier and the nearer shared
   * tiers, keeping its own expiry; each copy only if nothing newer landed there since `read`.
   */
  promote(key: string, storageKey: string, entry: CacheEntry, foundAt: number, read: ReadBasis): void {
    const { processTier, shared } = this.parts;
    if (!this.ledger.changedSince(storageKey, read.local)) processTier?.set(key, entry);
    if (foundAt === 0) return;
    const clusterVersion = shared[foundAt]?.scope === 'cluster' ? read.versions[foundAt] : undefined;
    for (let i = 0; i < foundAt; i++) {
      const tier = shared[i]!;
      const seen = read.observed[i];
      if (seen === undefined) continue;
      const condition: WriteCondition = { unchangedSince: seen, ...(clusterVersion === undefined ? {} : { clusterVersion }) };
      this.quietly(tier, 'promote', () => tier.set(storageKey, entry, undefined, condition));
    }
  }

  /**
   * Another process or machine changed a key: drop this process's copy, and the copies of the
   * shared tiers nearer than the one that reported it (a Redis change drops this machine's LMDB
   * copy, unless it is the writer's own file or already holds something newer).
   */
  heard(change: Invalidation, sourceIndex: number): void {
    const { processTier, shared, prefix, counters } = this.parts;
    const sameSite = change.site !== undefined && change.site === shared.find((t) => t.scope === 'machine')?.site?.();
    const nearer = sameSite ? [] : shared.slice(0, sourceIndex);
    const condition: WriteCondition = change.version === undefined ? {} : { clusterVersion: change.version };
    let forget: () => void;
    let drop: (tier: SharedTier) => unknown;
    if ('key' in change) {
      if (!change.key.startsWith(prefix)) return;
      const key = change.key.slice(prefix.length);
      forget = () => {
        this.ledger.change(change.key, false);
        processTier?.delete(key);
      };
      drop = (tier) => tier.delete(change.key, condition);
    } else {
      if (change.prefix !== '' && change.prefix !== prefix) return;
      forget = () => {
        this.ledger.changePrefix(change.prefix, false);
        void processTier?.clear('');
      };
      drop = (tier) => tier.clear(change.prefix, condition);
    }
    forget();
    counters.invalidations++;
    this.parts.heardOf(change);
    if (nearer.length === 0) return;
    // Until the nearer tiers committed the drop, a read could copy their old value into memory:
    // forget it again once they did.
    this.parts.adopt(Promise.all(nearer.map((tier) => this.quietly(tier, 'invalidate', () => drop(tier)))).finally(forget));
  }

  private observe(tier: SharedTier): number | undefined {
    try {
      return tier.observe?.();
    } catch (error) {
      this.parts.report(tier.name, { type: 'error', operation: 'observe', error });
      return undefined;
    }
  }

  /** Runs a delete or clear on every shared tier, widest first, carrying the cluster version down. */
  private async everyShared(operation: string, key: string | undefined, action: (tier: SharedTier, condition: WriteCondition) => MaybeOutcome): Promise<void> {
    const { shared } = this.parts;
    let clusterVersion: number | undefined;
    let firstError: unknown;
    for (let i = shared.length - 1; i >= 0; i--) {
      const tier = shared[i]!;
      try {
        const outcome = await action(tier, clusterVersion === undefined ? {} : { clusterVersion });
        if (tier.scope === 'cluster' && outcome !== undefined && outcome.version !== undefined) clusterVersion = outcome.version;
      } catch (error) {
        firstError ??= error;
      }
    }
    if (firstError !== undefined) {
      throw firstError instanceof StorageError ? firstError : new StorageError('shared', `${operation} failed`, { ...(key === undefined ? {} : { key }), cause: firstError });
    }
  }

  /**
   * The new value landed in a wider tier while these refused it: the older copy they still hold
   * is out of date for everyone reading through them. A cluster tier repairs itself (it replays
   * what it missed when it answers again); a machine tier is asked to drop the key now.
   */
  private async dropOlderCopies(storageKey: string, failed: readonly SharedTier[]): Promise<void> {
    await Promise.all(failed.filter((t) => t.scope !== 'cluster').map((tier) => this.quietly(tier, 'drop-refused', () => tier.delete(storageKey))));
  }

  /** Runs a tier operation whose failure is reported, never thrown. */
  private async quietly(tier: SharedTier, operation: string, action: () => unknown): Promise<void> {
    try {
      await action();
    } catch (error) {
      this.parts.report(tier.name, { type: 'error', operation, error });
    }
  }
}

function observes(tier: SharedTier): boolean {
  return tier.read !== undefined || tier.observe !== undefined;
}

type MaybeOutcome = WriteOutcome | void | Promise<WriteOutcome | void>;
