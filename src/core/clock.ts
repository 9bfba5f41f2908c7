/**
 * A source of wall-clock milliseconds. Inject one in tests to control time.
 *
 * @example
 * ```ts
 * let t = 0; const clock: Clock = () => t; t += 1_000;
 * ```
 */
export type Clock = () => number;

/**
 * A source of uniform numbers in [0, 1), like `Math.random`. Inject one in tests to control chance.
 *
 * @example
 * ```ts
 * const random: RandomSource = () => 0.5;
 * ```
 */
export type RandomSource = () => number;

let cachedNow = 0;
function forget(): void {
  cachedNow = 0;
}

/**
 * The default clock: `Date.now()` with 1 ms resolution. Reading the system clock costs several
 * times a memory-tier hit, so the reading is reused for up to 1 ms (the same trick lru-cache
 * uses for its `ttlResolution`). Within one long synchronous block time stands still.
 *
 * @example
 * ```ts
 * const now = coarseClock();
 * ```
 */
export const coarseClock: Clock = () => (cachedNow !== 0 ? cachedNow : readNow());

// Apart from coarseClock so that the function every hit calls stays small enough to inline.
function readNow(): number {
  cachedNow = Date.now();
  setTimeout(forget, 1).unref();
  return cachedNow;
}
