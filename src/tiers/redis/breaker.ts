/**
 * The three states of a {@link CircuitBreaker}: `closed` lets every command through, `open`
 * refuses them at once, `half-open` lets one trial command through to probe the server.
 *
 * @example
 * ```ts
 * const state: CircuitState = breaker.state;
 * ```
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

/**
 * Settings of a {@link CircuitBreaker}.
 *
 * @example
 * ```ts
 * const options: BreakerOptions = { failures: 5, cooldown: 1_000 };
 * ```
 */
export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  readonly failures: number;
  /** How long the circuit stays open before one trial command may probe the server, ms. */
  readonly cooldown: number;
}

/**
 * A circuit breaker: after `failures` consecutive failures it opens and refuses work for
 * `cooldown` ms, so that a slow or dead server costs callers nothing instead of a timeout each;
 * then it lets one trial through (half-open) and closes again when that succeeds.
 *
 * The clock is monotonic time (`performance.now`), not the cache's clock: a cooldown is about
 * real time passing, and a test's manual cache clock must not keep a circuit open forever.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ failures: 5, cooldown: 1_000 });
 * if (breaker.allow()) {
 *   try { await send(); breaker.succeeded(); } catch (err) { breaker.failed(); throw err; }
 * }
 * ```
 */
export class CircuitBreaker {
  private consecutive = 0;
  private openedAt = 0;
  private current: CircuitState = 'closed';
  private trialRunning = false;

  constructor(
    private readonly options: BreakerOptions,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The state now (an open circuit whose cooldown passed reads as half-open). */
  get state(): CircuitState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.options.cooldown) return 'half-open';
    return this.current;
  }

  /** Consecutive failures counted since the last success. */
  get failures(): number {
    return this.consecutive;
  }

  /** Ms left before an open circuit lets a trial through (0 when not open). */
  get retryIn(): number {
    return this.current === 'open' ? Math.max(0, this.options.cooldown - (this.now() - this.openedAt)) : 0;
  }

  /**
   * Whether a command may be sent now. In half-open state only one trial runs at a time: the
   * caller that gets `true` must report its outcome with `succeeded()` or `failed()`.
   */
  allow(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.trialRunning) return false;
    this.current = 'half-open';
    this.trialRunning = true;
    return true;
  }

  /** The command answered: close the circuit. */
  succeeded(): void {
    this.consecutive = 0;
    this.current = 'closed';
    this.trialRunning = false;
  }

  /** The command failed (timeout, lost connection): count it, open the circuit at the threshold. */
  failed(): void {
    this.consecutive++;
    const trialFailed = this.current === 'half-open';
    this.trialRunning = false;
    // Commands sent before the circuit opened may fail after it: they must not extend the cooldown.
    if (this.current === 'open') return;
    if (trialFailed || this.consecutive >= this.options.failures) {
      this.current = 'open';
      this.openedAt = this.now();
    }
  }

  /** A command that was allowed never ran (refused before sending): free the trial slot. */
  abandoned(): void {
    this.trialRunning = false;
  }
}
