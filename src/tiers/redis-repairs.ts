/**
 * Keys whose write this machine failed to make on Redis (a timeout, an open circuit, a lost
 * connection). The machine's own tiers took the write, so Redis, and the other machines reading
 * through it, may keep an older value. When Redis answers again each key is deleted there
 * (leaving a tombstone and a change record, so every other machine drops its copy too): an
 * outage is repaired, not forgotten. A later successful write of a key makes its repair moot.
 *
 * A write that timed out may still be applied by Redis afterwards (it was on the socket): the
 * repair goes over the same connection after it, so it removes whatever that late write left.
 * Past `limit` keys the queue stops naming keys and repairs the whole tier prefix instead.
 *
 * @example
 * ```ts
 * const repairs = new RepairQueue(10_000);
 * repairs.add({ key: '0::k' });
 * for (const target of repairs.pending()) { await repair(target); repairs.done(target); }
 * ```
 */
export class RepairQueue {
  private readonly keys = new Set<string>();
  private readonly prefixes = new Set<string>();
  private overflowed = false;

  constructor(private readonly limit: number) {}

  /** Something failed to reach Redis. */
  add(target: RepairTarget): void {
    if (this.overflowed) return;
    if ('key' in target) this.keys.add(target.key);
    else this.prefixes.add(target.prefix);
    if (this.keys.size + this.prefixes.size > this.limit) {
      this.overflowed = true;
      this.keys.clear();
      this.prefixes.clear();
    }
  }

  /** A write of the key reached Redis: an older failure of it needs no repair any more. */
  settled(key: string): void {
    this.keys.delete(key);
  }

  /** Whether `target` still waits to be repaired. */
  has(target: RepairTarget): boolean {
    if (this.overflowed) return 'prefix' in target && target.prefix === '';
    return 'key' in target ? this.keys.has(target.key) : this.prefixes.has(target.prefix);
  }

  /** What to repair now: every prefix ('' alone after an overflow), then every key. */
  pending(): RepairTarget[] {
    if (this.overflowed) return [{ prefix: '' }];
    return [...[...this.prefixes].map((prefix) => ({ prefix })), ...[...this.keys].map((key) => ({ key }))];
  }

  /** A repair succeeded. */
  done(target: RepairTarget): void {
    if ('key' in target) this.keys.delete(target.key);
    else if (target.prefix === '' && this.overflowed) this.overflowed = false;
    else this.prefixes.delete(target.prefix);
  }

  get size(): number {
    return this.overflowed ? 1 : this.keys.size + this.prefixes.size;
  }
}

/**
 * One thing to repair: a key, or every key under a prefix.
 *
 * @example
 * ```ts
 * const target: RepairTarget = { prefix: '0::' };
 * ```
 */
export type RepairTarget = { readonly key: string } | { readonly prefix: string };
