/**
 * A clock that moves only when told to, for tests of code that takes an injected clock.
 *
 * @example
 * ```ts
 * const clock = manualClock(1_000);
 * clock.advance(500);
 * clock(); // 1_500
 * ```
 */
export interface ManualClock {
  (): number;
  advance(ms: number): void;
  set(ms: number): void;
}

/**
 * Builds a {@link ManualClock} starting at `start` ms.
 *
 * @example
 * ```ts
 * const cache = createCache({ clock: manualClock() });
 * ```
 */
export function manualClock(start = 1_000_000): ManualClock {
  let now = start;
  const clock = (() => now) as ManualClock;
  clock.advance = (ms) => { now += ms; };
  clock.set = (ms) => { now = ms; };
  return clock;
}
