import { PipelineCall, type CallEngine } from './call.js';
import type { Clock, RandomSource } from './clock.js';
import { Closers } from './closers.js';
import type { Basis } from './coherence.js';
import { isFresh, type CacheEntry } from './entry.js';
import { AbortedError } from './errors.js';
import { CacheEventEmitter } from './events.js';
import { createPolicyHosts, type HostEngine, type PolicyHosts } from './host.js';
import { instanceId } from './ids.js';
import { leaseChain } from './lease-chain.js';
import { localLeaseStore } from './local-leases.js';
import { StatsCounters, type CacheStats } from './stats.js';
import type { LeaseStore, Tier } from './tier.js';
import { TierStack, type Peeked } from './tier-stack.js';
import type { Pipeline } from './pipeline.js';
import type { ComputeFn } from './policy.js';
import { KeyWakers } from './wakers.js';

/** How long close() waits for background work to notice the abort, ms. */
const CLOSE_GRACE = 2_000;

/**
 * The working parts of one cache behind its public facade: counters and events, the tier stack,
 * the lease chain, the computes and background work in flight, and the waiters woken by news of a
 * key. It is what running computes ({@link CallEngine}) and the policy host ({@link HostEngine})
 * are lent; nothing of it is reachable from the exported Cache.
 *
 * @example
 * ```ts
 * const engine = new CacheEngine(tiers, { clock: Date.now, random: Math.random, namespace: '', prefix: '0::' });
 * ```
 */
export class CacheEngine implements CallEngine, HostEngine {
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly counters: StatsCounters;
  readonly events: CacheEventEmitter;
  readonly stack: TierStack;
  readonly leases: LeaseStore;
  readonly hosts: PolicyHosts;
  /** Computes inside the pipeline now, in the foreground. */
  private foreground = 0;
  private readonly running = new Set<AbortController>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly closers = new Closers();
  /** Callers waiting for another process's value, woken when a change of their key is heard. */
  private readonly wakers = new KeyWakers();
  private readonly id = instanceId();
  private tokenSeq = 0;
  #closed = false;
  private closing: Promise<void> | undefined;

  constructor(tiers: readonly Tier[], settings: { readonly clock: Clock; readonly random: RandomSource; readonly namespace: string; readonly prefix: string }) {
    this.clock = settings.clock;
    this.random = settings.random;
    this.counters = new StatsCounters(tiers.map((t) => t.name));
    this.events = new CacheEventEmitter(settings.namespace);
    this.stack = new TierStack(tiers, {
      clock: this.clock,
      counters: this.counters,
      events: this.events,
      prefix: settings.prefix,
      adopt: (work) => this.adopt(work),
      heardOf: (change) => ('key' in change ? this.wakers.wake(change.key) : this.wakers.wakePrefix(change.prefix)),
    });
    // Nearest first: the machine coordinates through its own store whatever the cluster's does.
    this.leases = leaseChain(
      this.stack.leaseStores,
      localLeaseStore(this.clock),
      (store, operation, error) => this.stack.report(`leases:${store.scope}`, { type: 'error', operation, error }),
      () => this.counters.leasesDegraded++,
    );
    this.hosts = createPolicyHosts(this);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The counters as `stats()` shows them, with the hot paths' hits counted by the cache itself. */
  stats(hotHits: number): CacheStats {
    this.counters.processHits = hotHits;
    return this.counters.snapshot();
  }

  store(key: string, storageKey: string, entry: CacheEntry, basis: Basis): Promise<boolean> {
    return this.stack.coherence.store(key, storageKey, entry, basis);
  }

  openBasis(observed: ReadonlyArray<number | undefined>): Basis {
    return this.stack.coherence.open(observed);
  }

  closeBasis(basis: Basis): void {
    this.stack.coherence.close(basis);
  }

  nap(ms: number, key: string, storageKey: string): Promise<void> {
    return this.wakers.nap(storageKey, ms, this.closers, () => new AbortedError(key, 'the cache closed while waiting'));
  }

  onClose(onClose: () => void): () => void {
    return this.closers.add(onClose);
  }

  readShared(key: string, storageKey: string, observed?: Array<number | undefined>): Promise<CacheEntry | undefined> {
    return this.stack.readShared(key, storageKey, observed);
  }

  adopt(work: Promise<unknown>): void {
    this.background.add(work);
    // Observed either way: whoever adopted it handles its failure.
    const done = (): void => void this.background.delete(work);
    work.then(done, done);
  }

  newToken(): string {
    return `${this.id}.${(++this.tokenSeq).toString(36)}`;
  }

  track(controller: AbortController): void {
    this.running.add(controller);
  }

  untrack(controller: AbortController): void {
    this.running.delete(controller);
  }

  computeFinished(ok: boolean): void {
    if (ok) this.counters.computes++;
    else this.counters.computeErrors++;
  }

  /**
   * The slow path of a compute: the walk of the tiers, then (unless it found a fresh entry the
   * pipeline need not see) the pipeline, counted as a foreground compute so that close() lets it
   * unwind before the tiers close.
   */
  async compute(pipeline: Pipeline, key: string, storageKey: string, fn: ComputeFn<unknown>, durations: { ttl: number; maxAge: number }, peeked: Peeked): Promise<unknown> {
    const now = this.clock();
    const observed: Array<number | undefined> = [];
    const entry = await this.stack.lookup(key, storageKey, now, observed, peeked);
    if (entry !== undefined && isFresh(entry, now) && !pipeline.seesFreshHits) return entry.value;
    this.foreground++;
    try {
      return await pipeline.run(new PipelineCall(this, key, storageKey, durations.ttl, durations.maxAge, entry, fn, observed));
    } finally {
      this.foreground--;
    }
  }

  /** Aborts running computes, waits briefly for background work, closes every tier. Once: every call gets the same promise. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.#closed = true;
    this.closers.close();
    for (const controller of this.running) controller.abort(new AbortedError('*', 'the cache was closed'));
    // The aborted computes unwind in microtasks: let them, so that their leases' releases join
    // the background work waited for below and the tiers close after them (no lease is left
    // behind). Microtasks only: a caller's own rejected promise gets its handler in time.
    for (let turn = 0; turn < 64 && this.foreground > 0; turn++) await Promise.resolve();
    const settled = Promise.allSettled([...this.background]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise((resolve) => { timer = setTimeout(resolve, CLOSE_GRACE); })]);
    clearTimeout(timer);
    await this.stack.close();
  }
}
