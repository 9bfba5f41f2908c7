import { setTimeout as delay } from 'node:timers/promises';

/**
 * Wall-clock milliseconds with sub-millisecond resolution. Processes on one host share the wall
 * clock, so records taken in different processes land on one time line.
 */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Resolves after `ms` milliseconds (a timer, like I/O: the event loop stays free). */
export function sleep(ms: number): Promise<void> {
  return delay(ms);
}

/**
 * Resolves at the wall-clock instant `at`: a timer for most of the way, then a short spin so
 * that processes told the same instant start within a fraction of a millisecond of it.
 */
export async function sleepUntil(at: number): Promise<void> {
  const coarse = at - wallNow() - 2;
  if (coarse > 0) await delay(coarse);
  while (wallNow() < at) {
    // spin: at most ~2 ms
  }
}
