/**
 * What to do when the cache closes: each running compute and each sleeper registers one
 * function and forgets it when it settles. A Set, not listeners on one AbortSignal: Node walks
 * (and warns about) a signal's listener list, so the cost of starting a compute grew with the
 * number already running; here registering and forgetting cost the same at any concurrency.
 *
 * @example
 * ```ts
 * const closers = new Closers();
 * const forget = closers.add(() => reject(new AbortedError(key, 'the cache was closed')));
 * try { await work; } finally { forget(); }
 * ```
 */
export class Closers {
  private readonly waiting = new Set<() => void>();
  private done = false;

  /** True once {@link close} ran. */
  get closed(): boolean {
    return this.done;
  }

  /** Runs `onClose` once when the cache closes (at once if it already did); returns how to forget it. */
  add(onClose: () => void): () => void {
    if (this.done) {
      onClose();
      return () => {};
    }
    this.waiting.add(onClose);
    return () => this.waiting.delete(onClose);
  }

  /** Runs every registered function once. */
  close(): void {
    this.done = true;
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const onClose of waiting) onClose();
  }

  /** How many are registered (for tests). */
  get size(): number {
    return this.waiting.size;
  }
}
