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

/** How often pending repairs are tried while Redis does not answer, ms. */
const REPAIR_INTERVAL = 500;

/**
 * Works through a {@link RepairQueue}: now, and again every REPAIR_INTERVAL while some remain,
 * one pass at a time, until the tier closes.
 *
 * @example
 * ```ts
 * const runner = new RepairRunner(queue, (target) => repairOne(target), () => closed);
 * runner.schedule(); // after a write failed, or when Redis answers again
 * ```
 */
export class RepairRunner {
  private running = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly queue: RepairQueue,
    private readonly repairOne: (target: RepairTarget) => Promise<void>,
    private readonly closed: () => boolean,
  ) {}

  /** Tries the pending repairs now, and again every REPAIR_INTERVAL while some remain. */
  schedule(): void {
    if (this.closed() || this.queue.size === 0) return;
    this.timer ??= setInterval(() => void this.pass(), REPAIR_INTERVAL).unref();
    void this.pass();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async pass(): Promise<void> {
    if (this.running || this.closed()) return;
    if (this.queue.size === 0) {
      this.stop();
      return;
    }
    this.running = true;
    try {
      for (const target of this.queue.pending()) {
        // Looked at again just before it is sent: a write of the key that reached Redis while
        // earlier repairs ran settled it. One sent after this goes over the same connection,
        // after the repair, so Redis applies it last.
        if (!this.queue.has(target)) continue;
        await this.repairOne(target);
        this.queue.done(target);
      }
    } catch {
      // Redis is still away: the timer tries again.
    } finally {
      this.running = false;
    }
  }
}
