import type { Closers } from './closers.js';

/**
 * Sleepers waiting for another caller's value of a key, woken early as soon as a change of that
 * key, or the release of its lease, is heard (a write of this cache, the LMDB change log, the
 * Redis channel). The pause stays the upper bound: a waiter whose news is lost (a holder killed
 * before it let go, a message dropped) still looks again.
 *
 * @example
 * ```ts
 * const wakers = new KeyWakers();
 * const napping = wakers.nap('0::k', 50, closers, () => new Error('closed'));
 * wakers.wake('0::k'); // napping resolves now, not in 50 ms
 * ```
 */
export class KeyWakers {
  private readonly sleepers = new Map<string, Set<() => void>>();

  /** Resolves after `ms`, or when the key is woken; rejects with `onAbort()` if the cache closes first. */
  nap(storageKey: string, ms: number, closers: Closers, onAbort: () => Error): Promise<void> {
    return new Promise((resolve, reject) => {
      if (closers.closed) {
        reject(onAbort());
        return;
      }
      let found = this.sleepers.get(storageKey);
      if (found === undefined) this.sleepers.set(storageKey, (found = new Set()));
      const sleepers = found;
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        forget();
        sleepers.delete(woken);
        if (sleepers.size === 0 && this.sleepers.get(storageKey) === sleepers) this.sleepers.delete(storageKey);
        if (error === undefined) resolve();
        else reject(error);
      };
      const woken = (): void => finish();
      const aborted = (): void => finish(onAbort());
      const timer = setTimeout(woken, ms);
      const forget = closers.add(aborted);
      sleepers.add(woken);
    });
  }

  /** Wakes the sleepers of one key. */
  wake(storageKey: string): void {
    const sleepers = this.sleepers.get(storageKey);
    if (sleepers !== undefined) for (const woken of [...sleepers]) woken();
  }

  /** Wakes the sleepers of every key starting with `prefix` ('' for all). */
  wakePrefix(prefix: string): void {
    for (const key of [...this.sleepers.keys()]) if (key.startsWith(prefix)) this.wake(key);
  }

  /** How many keys have sleepers (for tests and diagnostics). */
  get size(): number {
    return this.sleepers.size;
  }
}
