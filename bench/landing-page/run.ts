import { Child, type Message } from '../lib/children.js';
import { tempDir } from '../lib/paths.js';
import type { CallRecord, ComputeRecord } from '../lib/record.js';
import { wallNow } from '../lib/time.js';
import type { LandingParams } from './params.js';
import type { WorkerConfig } from './worker.js';

/** Everything the processes of one strategy recorded, on one wall-clock time line. */
export interface StrategyRecords {
  readonly strategy: string;
  readonly startAt: number;
  readonly endAt: number;
  readonly calls: CallRecord[];
  readonly computes: ComputeRecord[];
}

interface Done extends Message {
  readonly calls: CallRecord[];
  readonly computes: ComputeRecord[];
}

const WORKER = new URL('./worker.js', import.meta.url);

/**
 * Runs one strategy: starts the processes on a fresh shared LMDB directory, warms up one
 * process after the other (one call each), starts every worker at one instant, collects the
 * records. Rejects if a process crashes or stalls.
 */
export async function runStrategy(params: LandingParams, strategy: string): Promise<StrategyRecords> {
  const dir = tempDir(strategy);
  const children: Child[] = [];
  try {
    for (let proc = 0; proc < params.processes; proc++) {
      const config: WorkerConfig = {
        proc,
        strategy,
        lmdbPath: dir.path,
        workers: params.workers,
        compute: params.compute,
        ttl: params.ttl,
        maxAge: params.maxAge,
        sleep: params.sleep,
        refreshThreshold: params.refreshThreshold,
      };
      children.push(new Child(WORKER, `${strategy} process ${proc}`, [JSON.stringify(config)]));
    }
    await Promise.all(children.map((c) => c.next('ready', 60_000)));
    for (const child of children) {
      child.send({ type: 'warm' });
      await child.next('warmed', params.compute * 10 + 30_000);
    }
    const startAt = wallNow() + 300;
    const endAt = startAt + params.duration;
    for (const child of children) child.send({ type: 'go', startAt, endAt });
    const done = await Promise.all(children.map((c) => c.next<Done>('done', params.duration + params.compute * 3 + 60_000)));
    await Promise.all(children.map((c) => c.stop(10_000)));
    return {
      strategy,
      startAt,
      endAt,
      calls: done.flatMap((d) => d.calls),
      computes: done.flatMap((d) => d.computes),
    };
  } finally {
    for (const child of children) child.kill();
    dir.remove();
  }
}

/** About how long one strategy takes, for the progress bar. */
export function expectedMs(params: LandingParams): number {
  return params.duration + params.processes * params.compute + 1_500;
}
