import { isFresh } from '../core/entry.js';
import { InvalidOptionError, LeaseWaitTimeoutError } from '../core/errors.js';
import { assertDuration, optionsObject } from '../core/options.js';
import type { ComputeCall, Next, Policy, PolicyHost } from '../core/policy.js';
import type { Lease } from '../core/tier.js';
import { giveLease, holdsLease, KeyLocks, takeLease, waitForValue, type PollOptions } from './kit/index.js';

/**
 * Options of {@link barrier}.
 *
 * @example
 * ```ts
 * barrier({ lease: 5_000, maxWait: 30_000 });
 * ```
 */
export interface BarrierOptions {
  /** How long a lease protects a compute, ms: a holder that dies or overruns is replaced after it. Default 10 000. */
  readonly lease?: number;
  /** Longest a caller waits for another's compute before failing with LeaseWaitTimeoutError, ms. Default 60 000. */
  readonly maxWait?: number;
  /**
   * How often a waiter looks for the value, ms: pauses double from `first` (default 2) up to
   * `longest` (default 50). News of the key (the LMDB change log, the Redis channel) wakes a
   * waiter at once, so longer pauses mostly save Redis round trips.
   */
  readonly poll?: PollOptions;
}

/**
 * Double-checked locking per key: on a miss take the key's lease in the shared tier, look
 * again, compute, store, release. At most one compute per key runs across every process
 * sharing the tier. Inside one process, callers of a key line up behind one leader (an
 * async-mutex per key), so only the leader talks to the shared tier; across processes, waiters
 * poll for the value without spinning and take over if the holder's lease expires.
 *
 * @example
 * ```ts
 * const cache = createCache({ policies: [barrier({ lease: 5_000 })] });
 * ```
 */
export function barrier(options?: BarrierOptions): Policy {
  const given = optionsObject('barrier', options);
  const lease = given.lease ?? 10_000;
  const maxWait = given.maxWait ?? 60_000;
  assertDuration('barrier.lease', lease, true);
  assertDuration('barrier.maxWait', maxWait, true);
  if (given.poll !== undefined && (typeof given.poll !== 'object' || given.poll === null)) {
    throw new InvalidOptionError('barrier.poll', 'must be an object { first?, longest? } of durations in ms');
  }
  const poll: PollOptions = optionsObject('barrier.poll', given.poll);
  if (poll.first !== undefined) assertDuration('barrier.poll.first', poll.first, true);
  if (poll.longest !== undefined) assertDuration('barrier.poll.longest', poll.longest, true);
  return {
    name: 'barrier',
    traits: { answersFreshHits: true, missesStale: true },
    create(host) {
      const locks = new KeyLocks();
      return {
        async handle(call, next) {
          if (call.entry !== undefined && isFresh(call.entry, host.now())) return call.entry.value;
          // One deadline per call, on the monotonic clock, wherever the holder is and however
          // often the loop below takes the lease again.
          const deadline = performance.now() + maxWait;
          // A call that holds the key's lease already (serveStale took it outside) computes
          // without queueing on this process's lock: one that waited for the lock while holding
          // the lease deadlocked with a caller that held the lock and waited for the lease, until
          // both bounds ran out (found by P9 on real processes, a throwing compute under the
          // flagship pipeline).
          if (holdsLease(call)) {
            const borrowed = await takeLease(host, call, lease);
            if (borrowed !== undefined) return await underLease(host, call, next, borrowed);
          }
          // Bounded by the lease: a leader that overruns it no longer holds the others back.
          const release = await locks.acquire(call.storageKey, Math.min(lease, maxWait), () => host.count('leaseWaits'));
          try {
            if (release === undefined && performance.now() >= deadline) throw new LeaseWaitTimeoutError(call.key, maxWait);
            return await guarded(host, call, next, lease, deadline, maxWait, poll, () => {
              if (locks.firstWait(call.storageKey)) host.count('leaseWaits');
            });
          } finally {
            release?.();
          }
        },
      };
    },
  };
}

/** Computes under the key's lease, after the double check, and gives the lease back. */
async function underLease(host: PolicyHost, call: ComputeCall, next: Next, lease: Lease): Promise<unknown> {
  try {
    // The double check: the previous holder may have stored the value just before releasing.
    const again = await host.readShared(call);
    if (again !== undefined && isFresh(again, host.now())) {
      call.entry = again;
      return again.value;
    }
    if (again !== undefined) call.entry = again;
    return await next();
  } finally {
    await giveLease(host, lease);
  }
}

async function guarded(host: PolicyHost, call: ComputeCall, next: Next, leaseTtl: number, deadline: number, maxWait: number, poll: PollOptions, countWait: () => void): Promise<unknown> {
  for (;;) {
    // A caller that queued behind this process's leader finds the leader's value here.
    const current = await host.readShared(call);
    if (current !== undefined && isFresh(current, host.now())) {
      call.entry = current;
      return current.value;
    }
    const lease = await takeLease(host, call, leaseTtl);
    if (lease !== undefined) return underLease(host, call, next, lease);
    countWait();
    const left = deadline - performance.now();
    if (left <= 0) throw new LeaseWaitTimeoutError(call.key, maxWait);
    const arrived = await waitForValue(host, call, left, poll);
    if (arrived !== undefined) {
      call.entry = arrived;
      return arrived.value;
    }
    // Nothing arrived: the holder failed or its lease expired; loop to take the lease.
  }
}
