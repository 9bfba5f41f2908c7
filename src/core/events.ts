import { channel } from 'node:diagnostics_channel';

/**
 * Everything the cache reports as it works, by event name. Background failures never reject
 * anyone's promise: they arrive here (and in `stats()`).
 *
 * @example
 * ```ts
 * cache.on('background-error', ({ key, source, error }) => log.warn({ key, source, error }));
 * ```
 */
export interface CacheEvents {
  /** A refresh or an abandoned compute failed in the background. */
  'background-error': { readonly key: string; readonly source: string; readonly error: unknown };
  /** A background refresh stored a new value. */
  refresh: { readonly key: string; readonly source: string; readonly duration: number };
  /** A lease was taken over from a holder that died or overran. */
  'lease-takeover': { readonly key: string };
  /** A stored record could not be decoded; it was read as a miss. */
  'corrupt-entry': { readonly key: string; readonly tier: string };
  /** A damaged storage file was moved aside and replaced by a fresh one (see src/tiers/lmdb/probe.ts). */
  'corrupt-file': { readonly tier: string; readonly path: string; readonly reason: string; readonly quarantinedTo: string };
  /** A tier failed (commit, read, server). */
  'tier-error': { readonly tier: string; readonly operation: string; readonly error: unknown };
  /** An entry left a tier because of a bound or its grand timeout. */
  evict: { readonly key: string; readonly tier: string; readonly cause: 'size' | 'expired' };
  /** An event a policy declared (see Policy.events), with the policy's name and the event's. */
  policy: { readonly policy: string; readonly name: string; readonly key?: string; readonly detail?: unknown };
}

/** Every event name of {@link CacheEvents}, checked against the interface by the type below. */
const EVENT_NAMES = {
  'background-error': true, refresh: true, 'lease-takeover': true, 'corrupt-entry': true,
  'corrupt-file': true, 'tier-error': true, evict: true, policy: true,
} as const satisfies Record<keyof CacheEvents, true>;

/**
 * Whether `name` is an event of the cache itself (not one a policy declared).
 *
 * @example
 * ```ts
 * isBuiltInEvent('refresh'); // true
 * ```
 */
export function isBuiltInEvent(name: string): name is keyof CacheEvents {
  return Object.hasOwn(EVENT_NAMES, name);
}

/**
 * A listener for one event.
 *
 * @example
 * ```ts
 * const onRefresh: Listener<'refresh'> = (e) => console.log(e.key, e.duration);
 * ```
 */
export type Listener<E extends keyof CacheEvents> = (event: CacheEvents[E]) => void;

/**
 * The diagnostics channel every cache publishes its events on, as `{ type, namespace, ...event }`,
 * for observability tools that subscribe without a reference to the cache.
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel';
 * subscribe(DIAGNOSTICS_CHANNEL, (msg) => console.log(msg));
 * ```
 */
export const DIAGNOSTICS_CHANNEL = 'herdcache:events';
const diagnostics = channel(DIAGNOSTICS_CHANNEL);

/**
 * A small typed emitter. A listener that throws is isolated: the others still run and the
 * cache carries on.
 *
 * @example
 * ```ts
 * const emitter = new CacheEventEmitter('ns');
 * emitter.on('refresh', (e) => console.log(e));
 * ```
 */
export class CacheEventEmitter {
  private readonly listeners = new Map<keyof CacheEvents, Set<(event: never) => void>>();

  constructor(private readonly namespace: string) {}

  on<E extends keyof CacheEvents>(name: E, listener: Listener<E>): void {
    let set = this.listeners.get(name);
    if (set === undefined) this.listeners.set(name, (set = new Set()));
    set.add(listener as (event: never) => void);
  }

  off<E extends keyof CacheEvents>(name: E, listener: Listener<E>): void {
    this.listeners.get(name)?.delete(listener as (event: never) => void);
  }

  emit<E extends keyof CacheEvents>(name: E, event: CacheEvents[E]): void {
    if (diagnostics.hasSubscribers) diagnostics.publish({ type: name, namespace: this.namespace, ...event });
    const set = this.listeners.get(name);
    if (set === undefined) return;
    for (const listener of set) {
      try {
        (listener as Listener<E>)(event);
      } catch {
        // A faulty listener must not break the cache or the other listeners.
      }
    }
  }
}
