/**
 * The process's own change counter: which keys changed here (a write of this cache, or a change
 * heard from another process or machine) since a given moment. It decides whether a copy may go
 * into the memory tier, which has no transaction of its own to decide in: a compute stores its
 * memory copy only if its key did not change after the compute started, and a read copies what
 * it found only if the key did not change while it read.
 *
 * Only changes that an open observation could still ask about are remembered: with nothing
 * open the ledger is empty, and otherwise it forgets what is older than the oldest open one.
 *
 * @example
 * ```ts
 * const ledger = new LocalLedger();
 * const at = ledger.observe();
 * ledger.change('0::k', true);
 * ledger.changedSince('0::k', at); // true
 * ledger.release(at);
 * ```
 */
export class LocalLedger {
  private clock = 0;
  /** Last change of each key; and the last one made by this process itself. */
  private readonly keys = new Map<string, number>();
  private readonly ownKeys = new Map<string, number>();
  private prefixes: Array<{ readonly prefix: string; readonly at: number; readonly own: boolean }> = [];
  /** Open observations (moment -> how many), in increasing order: the first is the oldest. */
  private readonly open = new Map<number, number>();
  private pruneAt = 1_024;

  /** Marks the current moment; pass it to {@link changedSince}, then {@link release} it. */
  observe(): number {
    const at = this.clock;
    this.open.set(at, (this.open.get(at) ?? 0) + 1);
    return at;
  }

  /** Closes an observation taken with {@link observe}. */
  release(at: number): void {
    const count = this.open.get(at);
    if (count === undefined) return;
    if (count > 1) this.open.set(at, count - 1);
    else this.open.delete(at);
    if (this.open.size === 0) {
      this.keys.clear();
      this.ownKeys.clear();
      this.prefixes = [];
    }
  }

  /**
   * Records a change of one storage key; returns its moment. `own`: made by this process (a
   * write here), rather than heard of (a change elsewhere, heard at some later moment).
   */
  change(storageKey: string, own: boolean): number {
    const at = ++this.clock;
    if (this.open.size === 0) return at;
    this.keys.set(storageKey, at);
    if (own) this.ownKeys.set(storageKey, at);
    if (this.keys.size >= this.pruneAt) this.prune();
    return at;
  }

  /** Records a change of every key starting with `prefix` ('' for all). */
  changePrefix(prefix: string, own: boolean): number {
    const at = ++this.clock;
    if (this.open.size > 0) this.prefixes.push({ prefix, at, own });
    return at;
  }

  /**
   * Whether the key changed after moment `at`; with `ownOnly`, counting only this process's
   * writes, whose moment is exact (a change heard of may have been made long before).
   */
  changedSince(storageKey: string, at: number, ownOnly = false): boolean {
    const last = (ownOnly ? this.ownKeys : this.keys).get(storageKey);
    if (last !== undefined && last > at) return true;
    for (const p of this.prefixes) if (p.at > at && (p.own || !ownOnly) && storageKey.startsWith(p.prefix)) return true;
    return false;
  }

  /** How many changes are remembered (for tests). */
  get size(): number {
    return this.keys.size + this.prefixes.length;
  }

  private prune(): void {
    const oldest = this.open.keys().next().value ?? this.clock;
    for (const [key, at] of this.keys) if (at <= oldest) this.keys.delete(key);
    for (const [key, at] of this.ownKeys) if (at <= oldest) this.ownKeys.delete(key);
    this.prefixes = this.prefixes.filter((p) => p.at > oldest);
    this.pruneAt = Math.max(1_024, this.keys.size * 2);
  }
}
