/** The slot index that stands for "no entry" in the recency links. */
const NONE = -1;

/** Slots allocated at first; the arrays double when they fill. */
const INITIAL_SLOTS = 64;

/**
 * Bounds and eviction hook of a {@link RecencyTable}. An absent bound does not limit.
 *
 * @example
 * ```ts
 * const options: RecencyTableOptions<string> = { maxEntries: 100, maxSize: 4096, onEvict: (key) => console.log(key) };
 * ```
 */
export interface RecencyTableOptions<V> {
  /** Most entries held. */
  readonly maxEntries?: number;
  /** Most total size held, counting each entry's size as given to `set`. */
  readonly maxSize?: number;
  /** Called for each entry pushed out by a bound; not for deletes, replacements or `clear`. */
  readonly onEvict?: (key: string, value: V) => void;
}

/**
 * A map bounded by entry count and by total size that pushes out the least recently used entry
 * first. `get` counts as use and is one Map lookup plus, unless the entry is already the newest,
 * a few writes to typed arrays. It is kept this small on purpose: V8 inlines a caller's whole hit path
 * (lookup, freshness check, counter) only while the inlined code stays under its budget, and a
 * general-purpose LRU's `get` (options, metrics, background fetches) alone nearly fills it.
 *
 * @example
 * ```ts
 * const table = new RecencyTable<string>({ maxEntries: 2 });
 * table.set('a', 'A'); table.set('b', 'B');
 * table.get('a');      // 'a' is now the newest
 * table.set('c', 'C'); // pushes out 'b'
 * ```
 */
export class RecencyTable<V> {
  /** Key to slot. Values are small integers, and the links live in typed arrays: a reorder moves numbers, not pointers. */
  private readonly slotOf = new Map<string, number>();
  private keyAt: (string | undefined)[] = [];
  private valueAt: (V | undefined)[] = [];
  private sizeAt = new Float64Array(INITIAL_SLOTS);
  private newerOf = new Int32Array(INITIAL_SLOTS);
  private olderOf = new Int32Array(INITIAL_SLOTS);
  /** Slots freed by deletes and evictions, reused before new ones. */
  private readonly freeSlots: number[] = [];
  /** Slots handed out so far; those at or past it are unused. */
  private slotsUsed = 0;
  private newest = NONE;
  private oldest = NONE;
  private heldSize = 0;
  private readonly maxEntries: number;
  private readonly maxSize: number;
  private readonly onEvict: ((key: string, value: V) => void) | undefined;

  constructor(options: RecencyTableOptions<V> = {}) {
    if (!(options.maxEntries === undefined || options.maxEntries >= 1) || !(options.maxSize === undefined || options.maxSize > 0)) {
      throw new RangeError('RecencyTable bounds must be positive: maxEntries >= 1, maxSize > 0');
    }
    this.maxEntries = options.maxEntries ?? Number.POSITIVE_INFINITY;
    this.maxSize = options.maxSize ?? Number.POSITIVE_INFINITY;
    this.onEvict = options.onEvict;
  }

  /** Entries held. */
  get size(): number {
    return this.slotOf.size;
  }

  /** Total size held: the sum of the sizes given to `set`. */
  get totalSize(): number {
    return this.heldSize;
  }

  /** The value of `key`, which becomes the most recently used; undefined when absent. */
  get(key: string): V | undefined {
    const slot = this.slotOf.get(key);
    if (slot === undefined) return undefined;
    if (slot !== this.newest) this.promote(slot);
    return this.valueAt[slot];
  }

  /** The value of `key` without counting it as use. */
  peek(key: string): V | undefined {
    const slot = this.slotOf.get(key);
    return slot === undefined ? undefined : this.valueAt[slot];
  }

  /**
   * Holds `value` under `key` as the most recently used entry, then pushes out the oldest entries
   * until both bounds hold. An entry larger than `maxSize` is refused: any older value of `key`
   * is removed and `false` returned.
   */
  set(key: string, value: V, size = 1): boolean {
    if (size > this.maxSize) {
      this.delete(key);
      return false;
    }
    let slot = this.slotOf.get(key);
    if (slot === undefined) {
      slot = this.takeSlot();
      this.slotOf.set(key, slot);
      this.keyAt[slot] = key;
      this.append(slot);
    } else {
      this.heldSize -= this.sizeAt[slot]!;
      if (slot !== this.newest) this.promote(slot);
    }
    this.valueAt[slot] = value;
    this.sizeAt[slot] = size;
    this.heldSize += size;
    this.evictOverflow();
    return true;
  }

  /** Removes `key`; true when it was held. */
  delete(key: string): boolean {
    const slot = this.slotOf.get(key);
    if (slot === undefined) return false;
    this.remove(slot);
    return true;
  }

  /** Removes every entry, without calling `onEvict`. */
  clear(): void {
    this.slotOf.clear();
    this.keyAt = [];
    this.valueAt = [];
    this.freeSlots.length = 0;
    this.slotsUsed = 0;
    this.newest = NONE;
    this.oldest = NONE;
    this.heldSize = 0;
  }

  /** The keys held, oldest first. A snapshot: the table may change while it is read. */
  keys(): string[] {
    const keys: string[] = [];
    for (let slot = this.oldest; slot !== NONE; slot = this.newerOf[slot]!) keys.push(this.keyAt[slot]!);
    return keys;
  }

  private evictOverflow(): void {
    // The newest entry alone fits both bounds (size <= maxSize was checked, maxEntries >= 1),
    // so the loop stops before it reaches the entry just set.
    while (this.slotOf.size > this.maxEntries || this.heldSize > this.maxSize) {
      const victim = this.oldest;
      const key = this.keyAt[victim]!;
      const value = this.valueAt[victim] as V;
      this.remove(victim);
      this.onEvict?.(key, value);
    }
  }

  private takeSlot(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    if (this.slotsUsed === this.newerOf.length) this.grow();
    return this.slotsUsed++;
  }

  private grow(): void {
    const capacity = this.newerOf.length * 2;
    const newerOf = new Int32Array(capacity);
    const olderOf = new Int32Array(capacity);
    const sizeAt = new Float64Array(capacity);
    newerOf.set(this.newerOf);
    olderOf.set(this.olderOf);
    sizeAt.set(this.sizeAt);
    this.newerOf = newerOf;
    this.olderOf = olderOf;
    this.sizeAt = sizeAt;
  }

  private remove(slot: number): void {
    this.slotOf.delete(this.keyAt[slot]!);
    this.unlink(slot);
    this.heldSize -= this.sizeAt[slot]!;
    // Let go of the key and value now rather than when the slot is next reused.
    this.keyAt[slot] = undefined;
    this.valueAt[slot] = undefined;
    this.freeSlots.push(slot);
  }

  private promote(slot: number): void {
    this.unlink(slot);
    this.append(slot);
  }

  private append(slot: number): void {
    this.olderOf[slot] = this.newest;
    this.newerOf[slot] = NONE;
    if (this.newest === NONE) this.oldest = slot;
    else this.newerOf[this.newest] = slot;
    this.newest = slot;
  }

  private unlink(slot: number): void {
    const newer = this.newerOf[slot]!;
    const older = this.olderOf[slot]!;
    if (newer === NONE) this.newest = older;
    else this.olderOf[newer] = older;
    if (older === NONE) this.oldest = newer;
    else this.newerOf[older] = newer;
  }
}
