import { HardTimeoutError, InvalidOptionError } from '../core/errors.js';
import { isServable } from '../core/entry.js';
import { assertDuration, optionsObject } from '../core/options.js';
import type { Policy } from '../core/policy.js';

/**
 * Options of {@link timeouts}. Give at least one.
 *
 * @example
 * ```ts
 * timeouts({ soft: 100, hard: 2_000 });
 * ```
 */
export interface TimeoutOptions {
  /** If the compute is slower than this and a stale value is kept, return the stale value; the compute finishes in the background. */
  readonly soft?: number;
  /** Reject with HardTimeoutError after this, and abort the compute's signal. */
  readonly hard?: number;
}

/**
 * Bounds on how long a caller waits for a compute. The soft timeout needs entries kept past
 * their ttl (a cache `maxAge`, or serveStale) to have a stale value to fall back on.
 *
 * @example
 * ```ts
 * const cache = createCache({ ttl: 1_000, maxAge: 60_000, policies: [timeouts({ soft: 50, hard: 5_000 }), barrier()] });
 * ```
 */
export function timeouts(options?: TimeoutOptions): Policy {
  const { soft, hard } = optionsObject('timeouts', options);
  if (soft === undefined && hard === undefined) throw new InvalidOptionError('timeouts', 'give soft and/or hard, in ms');
  if (soft !== undefined) assertDuration('timeouts.soft', soft, true);
  if (hard !== undefined) assertDuration('timeouts.hard', hard, true);
  if (soft !== undefined && hard !== undefined && soft >= hard) {
    throw new InvalidOptionError('timeouts.soft', `the soft timeout (${soft} ms) must be shorter than the hard one (${hard} ms)`);
  }
  return {
    name: 'timeouts',
    check({ ttl, maxAge }) {
      if (soft !== undefined && maxAge <= ttl) {
        throw new InvalidOptionError('timeouts.soft', 'needs stale values to fall back on: set the cache maxAge above ttl or compose serveStale({ maxAge })');
      }
    },
    create(host) {
      return {
        handle(call, next) {
          const work = next();
          const stale = call.entry;
          const racers: Array<Promise<unknown>> = [work];
          const timers: NodeJS.Timeout[] = [];
          // Watched once: a compute abandoned at the soft timeout and then aborted at the hard
          // one is one failure, not two.
          let abandoned = false;
          const abandon = (source: string): void => {
            if (abandoned) return;
            abandoned = true;
            host.watchBackground(call, source, work);
          };
          if (soft !== undefined && stale !== undefined && isServable(stale, host.now())) {
            racers.push(new Promise((resolve) => {
              timers.push(setTimeout(() => {
                host.count('softTimeouts');
                host.count('staleServed');
                abandon('soft-timeout');
                resolve(stale.value);
              }, soft));
            }));
          }
          if (hard !== undefined) {
            racers.push(new Promise((_resolve, reject) => {
              timers.push(setTimeout(() => {
                const error = new HardTimeoutError(call.key, hard);
                host.count('hardTimeouts');
                call.abort(error);
                abandon('hard-timeout');
                reject(error);
              }, hard));
            }));
          }
          if (racers.length === 1) return work;
          const settle = (): void => timers.forEach(clearTimeout);
          work.then(settle, settle);
          return Promise.race(racers);
        },
      };
    },
  };
}
