import type { Counter } from '../../core/stats.js';
import type { ComputeCall, PolicyHost } from '../../core/policy.js';
import { giveLease, takeLease } from './leases.js';

/**
 * How {@link refreshInBackground} runs a refresh.
 *
 * @example
 * ```ts
 * const how: RefreshOptions = { source: 'my-policy', leaseTtl: 10_000, counter: 'refreshes' };
 * ```
 */
export interface RefreshOptions {
  /** Names the refresh in the `refresh` and `background-error` events. */
  readonly source: string;
  /** How long the key's lease protects the refresh, ms: a refresher that dies is replaced after it. */
  readonly leaseTtl: number;
  /** Counted once per refresh that runs: a built-in counter, or one the policy declared. */
  readonly counter?: Counter | (string & {});
}

/** Keys being refreshed, per host: a policy refreshes a key once at a time in this process. */
const refreshing = new WeakMap<PolicyHost, Set<string>>();

/**
 * Recomputes the call's key in the background, so that its caller can be answered at once with
 * what it has. At most one refresh per key runs: in this process (a key being refreshed is not
 * refreshed again until it settles) and across processes and machines (it runs under the key's
 * lease; whoever does not get the lease leaves the refresh to its holder). Under the lease it
 * looks again and gives up if the entry changed since `call.entry` was read: someone else
 * refreshed it. Never rejects: a failure is counted in `backgroundErrors` and emitted as a
 * `background-error` event; a success is emitted as a `refresh` event with its duration.
 *
 * @example
 * ```ts
 * refreshInBackground(host, call, { source: 'serve-stale', leaseTtl: 10_000, counter: 'staleRefreshes' });
 * return call.entry.value;
 * ```
 */
export function refreshInBackground(host: PolicyHost, call: ComputeCall, options: RefreshOptions): void {
  let keys = refreshing.get(host);
  if (keys === undefined) refreshing.set(host, (keys = new Set()));
  if (keys.has(call.storageKey) || host.closed) return;
  keys.add(call.storageKey);
  const seen = call.entry;
  const work = (async () => {
    const lease = await takeLease(host, call, options.leaseTtl);
    if (lease === undefined) return;
    try {
      // The double check: another process may have refreshed since this caller read the entry.
      const current = await host.readShared(call);
      if (current !== undefined && (seen === undefined || current.storedAt > seen.storedAt)) return;
      if (options.counter !== undefined) host.count(options.counter);
      const started = host.now();
      await call.run();
      host.emit('refresh', { key: call.key, source: options.source, duration: host.now() - started });
    } finally {
      await giveLease(host, lease);
    }
  })();
  host.watchBackground(call, options.source, work);
  const done = (): void => void keys.delete(call.storageKey);
  void work.then(done, done);
}
