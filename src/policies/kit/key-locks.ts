import { E_TIMEOUT, Mutex, withTimeout } from 'async-mutex';

/**
 * One async-mutex per key, created on first use and dropped when nobody holds or awaits it, so
 * that callers of one process line up behind a single leader instead of each asking the shared
 * tier. Waiting is bounded: after `timeout` ms `acquire` gives up and resolves undefined.
 *
 * @example
 * ```ts
 * const locks = new KeyLocks();
 * const release = await locks.acquire('0::page', 10_000);
 * try { ... } finally { release?.(); }
 * ```
 */
export class KeyLocks {
  private readonly locks = new Map<string, { readonly mutex: Mutex; users: number; waited: boolean }>();

  /**
   * Resolves with the release function, or undefined if the lock was not had within `timeout` ms.
   * `onQueueStart` runs when the first caller of a round queues behind the holder.
   */
  async acquire(key: string, timeout: number, onQueueStart?: () => void): Promise<(() => void) | undefined> {
    let slot = this.locks.get(key);
    if (slot === undefined) this.locks.set(key, (slot = { mutex: new Mutex(), users: 0, waited: false }));
    slot.users++;
    if (slot.mutex.isLocked() && this.firstWait(key)) onQueueStart?.();
    const done = (): void => {
      if (--slot.users === 0 && this.locks.get(key) === slot) this.locks.delete(key);
    };
    try {
      const release = await withTimeout(slot.mutex, timeout).acquire();
      return () => {
        release();
        done();
      };
    } catch (error) {
      done();
      if (error === E_TIMEOUT) return undefined;
      throw error;
    }
  }

  /**
   * True the first time it is asked for a key while the key's lock is in use: one round of
   * callers (a holder and those queued behind it) counts as one wait, however it waits.
   */
  firstWait(key: string): boolean {
    const slot = this.locks.get(key);
    if (slot === undefined) return true;
    if (slot.waited) return false;
    slot.waited = true;
    return true;
  }

  /** Keys with a holder or a waiter. */
  get size(): number {
    return this.locks.size;
  }
}
