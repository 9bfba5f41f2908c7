import { PipelineCall } from './call.js';
import type { CacheEntry } from './entry.js';
import { AbortedError, InvalidOptionError } from './errors.js';
import { isBuiltInEvent, type CacheEventEmitter, type CacheEvents } from './events.js';
import type { ComputeCall, Policy, PolicyEventDetail, PolicyHost } from './policy.js';
import { isCounter, type StatsCounters } from './stats.js';
import type { Lease, LeaseStore } from './tier.js';

/**
 * What the policy host needs from the cache.
 *
 * @example
 * ```ts
 * const host = createPolicyHost(cache);
 * ```
 */
export interface HostEngine {
  readonly clock: () => number;
  readonly random: () => number;
  readonly counters: StatsCounters;
  readonly events: CacheEventEmitter;
  readonly leases: LeaseStore;
  /** True once the cache closed. */
  readonly closed: boolean;
  /** Runs `onClose` when the cache closes; returns how to forget it. */
  onClose(onClose: () => void): () => void;
  /**
   * Reads the shared tiers only (fresh snapshot), promoting a fresh hit to the process tier; the
   * counters observed go into `observed`, the basis of the compute that may follow.
   */
  readShared(key: string, storageKey: string, observed?: Array<number | undefined>): Promise<CacheEntry | undefined>;
  /** Remembers background work so that close() can wait for it to settle. */
  adopt(work: Promise<unknown>): void;
  /** Sleeps `ms`, or less if a change of the key is heard; rejects with AbortedError when the cache closes. */
  nap(ms: number, key: string, storageKey: string): Promise<void>;
  newToken(): string;
}

/**
 * The hosts of one cache: the primitives, and each policy's view of them.
 *
 * @example
 * ```ts
 * const hosts = createPolicyHosts(engine);
 * const stage = policy.create(hosts.forPolicy(policy));
 * ```
 */
export interface PolicyHosts {
  readonly base: PolicyHost;
  /** The host `policy` is created with: it counts and emits what the policy declared. */
  forPolicy(policy: Policy): PolicyHost;
}

/**
 * Builds the {@link PolicyHost} a cache lends its policies: the primitives only, naming no
 * policy. Each policy gets its own view ({@link hostForPolicy}).
 *
 * @example
 * ```ts
 * const hosts = createPolicyHosts(engine);
 * ```
 */
export function createPolicyHosts(engine: HostEngine): PolicyHosts {
  const base = createPolicyHost(engine);
  return { base, forPolicy: (policy) => hostForPolicy(base, policy, engine) };
}

function createPolicyHost(engine: HostEngine): PolicyHost {
  const host: PolicyHost = {
    now: engine.clock,
    random: engine.random,
    leaseScope: engine.leases.scope,
    get closed() {
      return engine.closed;
    },

    async tryLease(call, ttl) {
      // Adopted, so that close() lets the request finish (and give back what it got) before the
      // tiers close: a lease granted to a closed cache would otherwise stay until it expires.
      // The grant is given back or handed to the caller in the same turn as the look at
      // `closed`: with an await between them, a close in that gap left a granted lease neither
      // released nor held by anyone who would release it.
      const acquiring = (async (): Promise<Lease | undefined> => {
        const grant = await engine.leases.acquire(call.storageKey, engine.newToken(), ttl);
        if (!grant.acquired) return undefined;
        if (engine.closed) {
          await engine.leases.release(grant.lease.key, grant.lease.token).catch(() => false);
          throw new AbortedError(call.key, 'the cache closed while taking the lease');
        }
        if (grant.tookOver) {
          engine.counters.leaseTakeovers++;
          engine.events.emit('lease-takeover', { key: call.key });
        }
        return grant.lease;
      })();
      engine.adopt(acquiring);
      return acquiring;
    },

    async releaseLease(lease: Lease) {
      const releasing = engine.leases.release(lease.key, lease.token);
      engine.adopt(releasing);
      try {
        await releasing;
      } catch (error) {
        // An unreleased lease expires by itself; report, never fail the caller for it.
        engine.counters.errors++;
        engine.events.emit('tier-error', { tier: 'leases', operation: 'release', error });
      }
    },

    async leaseHolder(call) {
      return engine.leases.holder(call.storageKey);
    },

    readShared(call) {
      return engine.readShared(call.key, call.storageKey, observedOf(call));
    },

    awaitNews(call, ms) {
      return engine.nap(ms, call.key, call.storageKey);
    },

    watchBackground(call, source, work) {
      const observed = work.then(undefined, (error: unknown) => {
        engine.counters.backgroundErrors++;
        engine.events.emit('background-error', { key: call.key, source, error });
      });
      engine.adopt(observed);
    },

    count(counter) {
      if (!isCounter(counter)) throw new InvalidOptionError('count', `"${counter}" is not a counter of stats(): declare it in the policy's counters`);
      engine.counters[counter]++;
    },

    emit(name: string, event: object) {
      if (!isBuiltInEvent(name)) throw new InvalidOptionError('emit', `"${name}" is not an event of the cache: declare it in the policy's events`);
      engine.events.emit(name, event as CacheEvents[typeof name]);
    },

    async sleep(ms, key) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          forget();
          resolve();
        }, ms);
        const forget = engine.onClose(() => {
          clearTimeout(timer);
          reject(new AbortedError(key, 'the cache closed while waiting'));
        });
      });
    },
  };
  return host;
}

/**
 * The view of the host one policy is created with: the same primitives, and counters and events
 * of its own (declared in {@link Policy.counters} and {@link Policy.events}) beside the built-in
 * ones. Its counters start at 0 in `stats().policies[policy.name]`.
 *
 * @example
 * ```ts
 * const stage = policy.create(hostForPolicy(host, policy, engine));
 * ```
 */
function hostForPolicy(host: PolicyHost, policy: Policy, engine: Pick<HostEngine, 'counters' | 'events'>): PolicyHost {
  const declared = new Set(policy.counters ?? []);
  const events = new Set(policy.events ?? []);
  if (declared.size === 0 && events.size === 0) return host;
  const own = engine.counters.declare(policy.name, [...declared]);
  const view: PolicyHost = Object.create(host, {
    count: {
      value(counter: string): void {
        if (declared.has(counter)) own[counter] = (own[counter] ?? 0) + 1;
        else host.count(counter);
      },
    },
    emit: {
      value(name: string, event: PolicyEventDetail): void {
        if (!events.has(name)) return host.emit(name, event);
        engine.events.emit('policy', { policy: policy.name, name, ...(event.key === undefined ? {} : { key: event.key }), ...(event.detail === undefined ? {} : { detail: event.detail }) });
      },
    },
  }) as PolicyHost;
  return view;
}

/** The counters a call's reads observed, when the call is the engine's own. */
function observedOf(call: ComputeCall): Array<number | undefined> | undefined {
  return call instanceof PipelineCall ? call.observed : undefined;
}
