// The manual clock is part of herdcache/testing; tests take it from there.
export { manualClock, type ManualClock } from '../../src/testing/clock.js';

/** A random source that replays the given numbers in order, then repeats the last. */
export function scriptedRandom(values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)] ?? 0.5;
}
