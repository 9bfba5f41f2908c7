/**
 * `cold`: cold misses per second, each key computed once, in one process and in four at once on
 * one LMDB file. `ttl()` computes without asking anyone; `barrier()` first takes the key's lease
 * (an LMDB write), so the ratio barrier/ttl is what stampede protection costs on a miss.
 */
import { Child, type Message } from '../lib/children.js';
import { tempDir } from '../lib/paths.js';
import type { Progress } from '../lib/progress.js';
import { count } from '../lib/table.js';
import { wallNow } from '../lib/time.js';
import { alternate, band, cell, lineChart, quitAll, ratioCell, spread, type Part, type PartOutput, type Settings } from './common.js';
import type { ColdJob, ColdResult } from './worker.js';

const WORKER = new URL('./worker.js', import.meta.url);
const PROCESSES = [1, 4];
const TIMEOUT_MS = 60_000;

/** Every process of one run starts its cache, warms up, then begins at one wall-clock instant. */
async function runOnce(workers: readonly Child[], processes: number, policy: ColdJob['policy'], warmup: number, durationMs: number, label: string): Promise<number> {
  const dir = tempDir(`scale-cold-${policy}-${processes}`);
  try {
    const active = workers.slice(0, processes);
    active.forEach((w, i) => w.send({ type: 'job', job: { kind: 'cold', path: dir.path, policy, prefix: `${label}-p${i}`, warmup, durationMs } satisfies ColdJob }));
    for (const w of active) await w.next('ready', TIMEOUT_MS);
    const startAt = wallNow() + 100;
    for (const w of active) w.send({ type: 'go', startAt });
    let computes = 0;
    let maxMs = 0;
    for (const w of active) {
      const { result } = await w.next<Message & { result: ColdResult }>('result', TIMEOUT_MS + durationMs);
      if (result.computes !== result.calls) throw new Error(`cold: ${result.calls} calls on distinct keys ran ${result.computes} computes`);
      computes += result.computes;
      maxMs = Math.max(maxMs, result.ms);
    }
    return (computes * 1000) / maxMs;
  } finally {
    dir.remove();
  }
}

interface ShapeResult {
  readonly processes: number;
  readonly ttl: number[];
  readonly barrier: number[];
  readonly ratios: number[];
}

async function run(settings: Settings, progress: Progress): Promise<PartOutput> {
  const durationMs = settings.quick ? 250 : 1_500;
  // Each warm-up compute costs a commit or three: enough to optimize the code, no more.
  const warmup = settings.quick ? 50 : 300;
  const maxProcesses = Math.max(...PROCESSES);
  const workers = Array.from({ length: maxProcesses }, (_, i) => new Child(WORKER, `cold worker ${i}`));
  const results: ShapeResult[] = [];
  try {
    for (const processes of PROCESSES) {
      const r: ShapeResult = { processes, ttl: [], barrier: [], ratios: [] };
      for (let i = 0; i < settings.repeats; i++) {
        progress.step(i + 1, settings.repeats, `${processes} process${processes === 1 ? '' : 'es'}`, 2 * (durationMs + 1_000));
        const [t, b] = await alternate(
          i,
          () => runOnce(workers, processes, 'ttl', warmup, durationMs, `r${i}`),
          () => runOnce(workers, processes, 'barrier', warmup, durationMs, `r${i}`),
        );
        r.ttl.push(t);
        r.barrier.push(b);
        r.ratios.push(b / t);
      }
      progress.done(`${processes} process(es): barrier/ttl ${spread(r.ratios).median.toFixed(2)}x computes/s`);
      results.push(r);
    }
  } finally {
    await quitAll(workers);
  }
  const points = results.flatMap((r) => [
    { processes: r.processes, ...band(spread(r.ttl)), policy: 'ttl()' },
    { processes: r.processes, ...band(spread(r.barrier)), policy: 'barrier()' },
  ]);
  return {
    notes: [
      'Each process: `createCache({ tiers: [memoryTier(), lmdbTier({ path })], policies: [ttl()] or [barrier()] })`, then',
      '`await cache.compute(key, async () => value)` on distinct keys (its own range) one after the other, so that every call',
      `is a cold miss that computes and stores. ${count(warmup)} warm-up computes on other keys first; then every process`,
      `starts at one wall-clock instant and runs for ${durationMs} ms. Computes/s is the sum over the processes divided by`,
      `the longest process's time. All processes of a run share one fresh LMDB directory. ${settings.repeats} repeats, the`,
      "policies' order alternating. Ratio: throughput barrier/ttl (1.0 means the barrier costs nothing on a miss).",
    ],
    tables: [
      {
        caption: 'Cold computes per second: median (p25–p75) of the repeats; ratio: median (p25–p75; min–max) of the per-repeat ratios',
        header: ['processes', 'ttl() computes/s', 'barrier() computes/s', 'throughput ratio barrier/ttl'],
        rows: results.map((r) => [String(r.processes), cell(spread(r.ttl)), cell(spread(r.barrier)), ratioCell(spread(r.ratios))]),
      },
    ],
    figures: [{ name: 'cold', spec: lineChart('Cold computes/s vs processes', 'distinct keys, sequential per process; median', points, { field: 'processes', title: 'processes on one LMDB file' }, { field: 'median', title: 'computes/s (all processes)' }, 'policy') }],
    data: results,
  };
}

export const cold: Part = { name: 'cold', title: 'Cold computes: throughput vs processes', repeats: 5, run };
