import type { Basis } from './coherence.js';
import type { CacheEntry } from './entry.js';
import { makeEntry } from './entry.js';
import { types } from 'node:util';
import { AbortedError, NotSerializableError, StorageError } from './errors.js';
import type { ComputeCall, ComputeFn } from './policy.js';

/**
 * The parts of the cache a running compute needs: kept narrow so a call is cheap to build.
 *
 * @example
 * ```ts
 * const engine: CallEngine = cache; // the Cache class implements it
 * ```
 */
export interface CallEngine {
  readonly closed: boolean;
  /** Runs `onClose` when the cache closes; returns how to forget it. */
  onClose(onClose: () => void): () => void;
  clock(): number;
  /**
   * Stores a compute's entry on every tier unless its key changed after `basis`; resolves with
   * whether it was stored; rejects with NotSerializableError or StorageError.
   */
  store(key: string, storageKey: string, entry: CacheEntry, basis: Basis): Promise<boolean>;
  /** Where a compute about to run starts from (see src/core/coherence.ts). */
  openBasis(observed: ReadonlyArray<number | undefined>): Basis;
  closeBasis(basis: Basis): void;
  /** Tracks a running compute so that `close()` can abort it. */
  track(controller: AbortController): void;
  untrack(controller: AbortController): void;
  computeFinished(ok: boolean): void;
}

/**
 * One compute travelling the pipeline (see {@link ComputeCall}).
 *
 * @example
 * ```ts
 * const call = new PipelineCall(engine, 'k', '0::k', 1_000, 1_000, undefined, () => 42, []);
 * await call.run(); // 42, stored
 * ```
 */
export class PipelineCall implements ComputeCall {
  private controller: AbortController | undefined;

  constructor(
    private readonly engine: CallEngine,
    readonly key: string,
    readonly storageKey: string,
    readonly ttl: number,
    readonly maxAge: number,
    public entry: CacheEntry | undefined,
    private readonly fn: ComputeFn<unknown>,
    /** Each shared tier's change counter at this call's latest read of the key. */
    readonly observed: Array<number | undefined>,
  ) {}

  async run(): Promise<unknown> {
    const engine = this.engine;
    if (engine.closed) throw new AbortedError(this.key, 'the cache closed before the compute could start');
    const controller = new AbortController();
    this.controller = controller;
    // Observed before the function runs: a change committed after this point wins over its result.
    const basis = engine.openBasis(this.observed);
    const startedAt = engine.clock();
    engine.track(controller);
    let ok = false;
    try {
      const value = await untilClosed(() => this.fn({ key: this.key, signal: controller.signal, stale: this.entry?.value }), engine, this.key);
      // A compute aborted by a hard timeout or close() must not store what it produced late.
      if (controller.signal.aborted) throw controller.signal.reason;
      const storedAt = engine.clock();
      const entry = makeEntry(value, storedAt, this.ttl, this.maxAge, Math.max(0, storedAt - startedAt));
      try {
        // Not stored if a set, delete or clear of the key landed after the basis: the result
        // then goes to this caller only.
        if (await engine.store(this.key, this.storageKey, entry, basis)) this.entry = entry;
      } catch (err) {
        // The caller still gets the value it asked for; the failed write was reported by the tier.
        if (!(err instanceof StorageError)) throw err;
      }
      ok = true;
      return value;
    } finally {
      engine.closeBasis(basis);
      engine.untrack(controller);
      if (this.controller === controller) this.controller = undefined;
      engine.computeFinished(ok);
    }
  }

  abort(reason: Error): void {
    this.controller?.abort(reason);
  }
}

/**
 * Runs `fn` and settles with it, or rejects with AbortedError as soon as the cache closes, so
 * that a function ignoring its signal cannot hold its caller (or close()) forever. A hard
 * timeout does not cut it short here: its caller already has its error, and the compute keeps
 * its lease until it settles, so no second compute of the key starts beside it. The function's
 * late outcome is observed, never left unhandled.
 */
function untilClosed<T>(fn: () => T | Promise<T>, engine: Pick<CallEngine, 'onClose'>, key: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let closed = false;
    const settle = engine.onClose(() => {
      closed = true;
      reject(new AbortedError(key, 'the cache was closed'));
    });
    if (closed) return;
    let running: Promise<T>;
    try {
      const result = fn();
      // Awaiting a Proxy reads its `then` through a trap, which may throw (a revoked one does).
      if (types.isProxy(result)) throw new NotSerializableError('', 'the compute returned a Proxy, whose traps may answer differently on each read: return plain data', key);
      running = Promise.resolve(result);
    } catch (err) {
      settle();
      return reject(err);
    }
    running.then(
      (value) => { settle(); resolve(value); },
      (err: unknown) => { settle(); reject(err); },
    );
  });
}
