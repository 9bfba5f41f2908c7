import { AsyncLocalStorage } from 'node:async_hooks';
import { sleep, wallNow } from './time.js';
import type { Work } from './contenders.js';

/** One request, timed on the wall clock (ms, sub-ms resolution). */
export interface CallRecord {
  readonly proc: number;
  readonly worker: number;
  readonly start: number;
  readonly end: number;
  readonly warmup: boolean;
  readonly error?: string;
}

/** One run of the slow work, whoever started it (a caller, or a refresh in the background). */
export interface ComputeRecord {
  readonly proc: number;
  readonly start: number;
  readonly end: number;
  /** True when the call that started it had already returned before it finished. */
  readonly background: boolean;
}

interface OpenCompute {
  readonly start: number;
  readonly end: number;
  readonly callId: number | undefined;
}

/**
 * Records, inside one process, every call and every compute. Each call runs in an async
 * context carrying its id, so a compute knows which call started it (a background refresh
 * inherits the context of the call that triggered it); a compute that outlives its call is
 * counted as background.
 */
export class Recorder {
  private readonly context = new AsyncLocalStorage<number>();
  private readonly calls: CallRecord[] = [];
  private readonly callEnds = new Map<number, number>();
  private readonly computes: OpenCompute[] = [];
  private seq = 0;
  private running = 0;

  constructor(readonly proc: number) {}

  /** The slow work: waits `ms` on a timer (I/O-like) and returns a page, recording the run. */
  work(ms: number): Work {
    return async () => {
      const start = wallNow();
      const callId = this.context.getStore();
      this.running++;
      try {
        await sleep(ms);
        return `<html><body>landing page rendered at ${new Date().toISOString()}</body></html>`;
      } finally {
        this.running--;
        this.computes.push({ start, end: wallNow(), callId });
      }
    };
  }

  /** Times one call; an error is recorded, not thrown. */
  async timeCall(worker: number, warmup: boolean, call: () => Promise<unknown>): Promise<void> {
    const id = ++this.seq;
    const start = wallNow();
    let error: string | undefined;
    try {
      await this.context.run(id, call);
    } catch (err) {
      error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
    const end = wallNow();
    this.callEnds.set(id, end);
    this.calls.push({ proc: this.proc, worker, start, end, warmup, ...(error === undefined ? {} : { error }) });
  }

  /** Waits until no compute is running (background refreshes finish), at most `maxMs`. */
  async settle(maxMs: number): Promise<void> {
    const deadline = wallNow() + maxMs;
    while (this.running > 0 && wallNow() < deadline) await sleep(5);
  }

  /** Everything recorded so far. */
  records(): { calls: CallRecord[]; computes: ComputeRecord[] } {
    const computes = this.computes.map(({ start, end, callId }): ComputeRecord => {
      const callEnd = callId === undefined ? undefined : this.callEnds.get(callId);
      return { proc: this.proc, start, end, background: callEnd === undefined || callEnd < end };
    });
    return { calls: this.calls, computes };
  }
}
