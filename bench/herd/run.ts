import { Child, type Message } from '../lib/children.js';
import { maxConcurrency } from '../lib/concurrency.js';
import { contender } from '../lib/contenders.js';
import { summarize, type LatencySummary } from '../lib/histogram.js';
import { tempDir } from '../lib/paths.js';
import type { CallRecord, ComputeRecord } from '../lib/record.js';
import { startRedisServer, type RedisServer } from '../lib/redis-server.js';
import { wallNow } from '../lib/time.js';
import { machineContender } from './cross-machine.js';
import type { HerdWorkerConfig } from './worker.js';

/** How the requests are spread: `processes` processes of `perProcess` requests each. */
export interface Shape {
  readonly processes: number;
  readonly perProcess: number;
  /**
   * Each process stands for a machine of its own: its own LMDB path, and one Redis server
   * (started for the run, stopped after) shared by all of them.
   */
  readonly machines?: boolean;
}

/** One contender in one shape. */
export interface HerdResult {
  readonly contender: string;
  readonly label: string;
  readonly family: string;
  readonly shape: Shape;
  readonly requests: number;
  readonly computes: number;
  readonly maxConcurrent: number;
  /** Spread of the request start times across every process, ms. */
  readonly startSpread: number;
  /** First request start to last request end, ms. */
  readonly wall: number;
  readonly latency: LatencySummary;
  readonly errors: number;
  readonly failed?: string;
}

interface Done extends Message {
  readonly calls: CallRecord[];
  readonly computes: ComputeRecord[];
}

const WORKER = new URL('./worker.js', import.meta.url);

/** The label and family the report shows for a contender in a shape. */
export function herdSpec(name: string, shape: Shape): { label: string; family: string } {
  const spec = shape.machines === true ? machineContender(name) : contender(name);
  return { label: spec.label, family: spec.family };
}

/**
 * Runs one contender in one shape on a cold cache: a fresh LMDB directory shared by the
 * processes, or one per process and a fresh Redis server when the processes are machines.
 */
export async function runHerd(name: string, shape: Shape, compute: number, ttl: number): Promise<HerdResult> {
  const spec = herdSpec(name, shape);
  const machines = shape.machines === true;
  const dirs = Array.from({ length: machines ? shape.processes : 1 }, (_, i) => tempDir(machines ? `herd-${name}-machine-${i}` : `herd-${name}`));
  const children: Child[] = [];
  let redis: RedisServer | undefined;
  try {
    if (machines) redis = await startRedisServer();
    for (let proc = 0; proc < shape.processes; proc++) {
      const lmdbPath = dirs[machines ? proc : 0]!.path;
      const config: HerdWorkerConfig = {
        proc,
        contender: name,
        lmdbPath,
        requests: shape.perProcess,
        compute,
        ttl,
        ...(redis === undefined ? {} : { redisUrl: redis.url }),
      };
      children.push(new Child(WORKER, `${name} ${machines ? 'machine' : 'process'} ${proc}`, [JSON.stringify(config)]));
    }
    await Promise.all(children.map((c) => c.next('ready', 60_000)));
    const startAt = wallNow() + 500;
    for (const child of children) child.send({ type: 'go', startAt });
    const done = await Promise.all(children.map((c) => c.next<Done>('done', compute * 4 + 60_000)));
    await Promise.all(children.map((c) => c.stop(10_000)));
    const calls = done.flatMap((d) => d.calls);
    const computes = done.flatMap((d) => d.computes);
    const starts = calls.map((c) => c.start);
    return {
      contender: name,
      label: spec.label,
      family: spec.family,
      shape,
      requests: calls.length,
      computes: computes.length,
      maxConcurrent: maxConcurrency(computes),
      startSpread: Math.max(...starts) - Math.min(...starts),
      wall: Math.max(...calls.map((c) => c.end)) - Math.min(...starts),
      latency: summarize(calls.map((c) => c.end - c.start)),
      errors: calls.filter((c) => c.error !== undefined).length,
    };
  } finally {
    for (const child of children) child.kill();
    await redis?.stop();
    for (const dir of dirs) dir.remove();
  }
}
