/**
 * `staleness`: how long after a write resolves in one process the other processes' `getSync`
 * returns the new value, as busy readers are added. Each reader polls between 1 ms chunks of
 * other work, like a server busy with requests; its memory copy is dropped when its change feed
 * (polled every syncInterval, 20 ms by default) sees the write. The baseline is that bound.
 */
import { LMDB_DEFAULTS } from '../../src/index.js';
import { Child, type Message } from '../lib/children.js';
import { summarize } from '../lib/histogram.js';
import { tempDir } from '../lib/paths.js';
import type { Progress } from '../lib/progress.js';
import { count, ms } from '../lib/table.js';
import { cell, lineChart, monotonicMs, quitAll, spread, type Part, type PartOutput, type Settings } from './common.js';
import type { StaleReaderJob, StaleReaderResult, StaleWriterJob, StaleWriterResult } from './worker.js';

const WORKER = new URL('./worker.js', import.meta.url);
const READERS = [1, 2, 4, 8];
const PERIOD_MS = 20;
const BUSY_MS = 1;
const TIMEOUT_MS = 60_000;

interface RunResult {
  /** ms from the writer's set resolving to a reader's first sight, one per (reader, seq) seen. */
  readonly staleness: number[];
  /** Sightings before the writer's own set had resolved (counted as 0 in the percentiles). */
  readonly early: number;
  /** (reader, seq) pairs never seen because a later value replaced it first. */
  readonly skipped: number;
  readonly writes: number;
  readonly loopsPerSec: number;
}

async function runOnce(writer: Child, readers: readonly Child[], durationMs: number): Promise<RunResult> {
  const dir = tempDir(`scale-staleness-${readers.length}`);
  try {
    writer.send({ type: 'job', job: { kind: 'stale-writer', path: dir.path, periodMs: PERIOD_MS, durationMs } satisfies StaleWriterJob });
    // The writer stores seq 0 before it is ready: the readers then open a file that holds the key.
    await writer.next('ready', TIMEOUT_MS);
    for (const r of readers) r.send({ type: 'job', job: { kind: 'stale-reader', path: dir.path, busyMs: BUSY_MS } satisfies StaleReaderJob });
    for (const r of readers) await r.next('ready', TIMEOUT_MS);
    // The readers loop for 200 ms before the first write and 500 ms after the last one.
    const readFrom = monotonicMs() + 200;
    const writeFrom = readFrom + 200;
    const stopAt = writeFrom + durationMs + 500;
    for (const r of readers) r.send({ type: 'go', startAt: readFrom, stopAt });
    writer.send({ type: 'go', startAt: writeFrom });
    const { result: written } = await writer.next<Message & { result: StaleWriterResult }>('result', TIMEOUT_MS + durationMs);
    const staleness: number[] = [];
    let early = 0;
    let skipped = 0;
    let loops = 0;
    for (const r of readers) {
      const { result } = await r.next<Message & { result: StaleReaderResult }>('result', TIMEOUT_MS + durationMs);
      loops += result.loops;
      let previous = 0;
      for (const [seq, at] of result.seen) {
        if (seq === 0) continue;
        skipped += Math.max(0, seq - previous - 1);
        previous = seq;
        const doneAt = written.done[seq - 1];
        if (doneAt === undefined) throw new Error(`staleness: a reader saw seq ${seq}, which the writer never reported`);
        const delay = at - doneAt;
        if (delay < 0) early++;
        staleness.push(Math.max(0, delay));
      }
      skipped += Math.max(0, written.done.length - previous);
    }
    return { staleness, early, skipped, writes: written.done.length, loopsPerSec: (loops * 1000) / readers.length / (stopAt - readFrom) };
  } finally {
    dir.remove();
  }
}

interface ShapeResult {
  readonly readers: number;
  readonly runs: RunResult[];
}

async function run(settings: Settings, progress: Progress): Promise<PartOutput> {
  const durationMs = settings.quick ? 400 : 3_000;
  const readerCounts = settings.quick ? [1, 2] : READERS;
  const writer = new Child(WORKER, 'staleness writer');
  const readers = Array.from({ length: Math.max(...readerCounts) }, (_, i) => new Child(WORKER, `staleness reader ${i}`));
  const results: ShapeResult[] = [];
  try {
    for (const n of readerCounts) {
      const shape: ShapeResult = { readers: n, runs: [] };
      for (let r = 0; r < settings.repeats; r++) {
        progress.step(r + 1, settings.repeats, `${n} reader${n === 1 ? '' : 's'}`, durationMs + 1_500);
        shape.runs.push(await runOnce(writer, readers.slice(0, n), durationMs));
      }
      results.push(shape);
      progress.done(`${n} reader(s): p99 ${ms(summarize(shape.runs.flatMap((x) => x.staleness)).p99)} ms`);
    }
  } finally {
    await quitAll([writer, ...readers]);
  }
  const rows = results.map((s) => {
    const all = summarize(s.runs.flatMap((x) => x.staleness));
    const perRun = s.runs.map((x) => summarize(x.staleness));
    const sum = (f: (x: RunResult) => number): number => s.runs.reduce((acc, x) => acc + f(x), 0);
    return [
      String(s.readers),
      count(all.count),
      ms(all.p50),
      ms(all.p99),
      ms(all.max),
      cell(spread(perRun.map((p) => p.p99))),
      `${count(sum((x) => x.skipped))} / ${count(sum((x) => x.writes) * s.readers)}`,
      count(sum((x) => x.early)),
      count(spread(s.runs.map((x) => x.loopsPerSec)).median),
      `${LMDB_DEFAULTS.syncInterval} ms + commit`,
    ];
  });
  const points = results.flatMap((s) => {
    const all = summarize(s.runs.flatMap((x) => x.staleness));
    return [
      { readers: s.readers, ms: all.p50, percentile: 'p50' },
      { readers: s.readers, ms: all.p99, percentile: 'p99' },
      { readers: s.readers, ms: all.max, percentile: 'max' },
    ];
  });
  return {
    notes: [
      'One writer and N reader processes on one fresh LMDB directory, each `createCache({ tiers: [memoryTier(), lmdbTier({ path })] })`',
      `(default syncInterval, ${LMDB_DEFAULTS.syncInterval} ms). The writer does \`await cache.set('k', { seq })\` every ${PERIOD_MS} ms for ${durationMs} ms and notes`,
      'when each set resolved on CLOCK_MONOTONIC (`process.hrtime.bigint()`, one clock for every process of the host). Each',
      `reader loops \`cache.getSync('k')\`, then ${BUSY_MS} ms of JSON work, then \`setImmediate\`, noting when it first saw each seq.`,
      'Staleness = first sight − the writer\'s resolution. A reader that saw a later seq first skipped the earlier one; a sight',
      'before the set resolved (the commit is visible before the writer hears of it) counts as 0 and is listed as "early".',
      `${settings.repeats} runs per reader count; percentiles (HDR histogram) over every sight of every run. The machine has`,
      'a fixed number of cores: past it, readers and the writer take turns on them.',
    ],
    tables: [
      {
        caption: 'Staleness of getSync in the readers, ms',
        header: ['readers', 'sights', 'p50', 'p99', 'max', 'p99 per run: median (p25–p75)', 'skipped / expected', 'early', 'reader loops/s', 'baseline bound'],
        rows,
      },
    ],
    figures: [{ name: 'staleness', spec: lineChart('Cross-process staleness vs readers', `busy readers (${BUSY_MS} ms work per loop); writes every ${PERIOD_MS} ms; dashed: syncInterval`, points, { field: 'readers', title: 'reader processes', log: true }, { field: 'ms', title: 'staleness, ms' }, 'percentile', LMDB_DEFAULTS.syncInterval) }],
    data: results.map((s) => ({ readers: s.readers, runs: s.runs.map(({ staleness, ...rest }) => ({ ...rest, summary: summarize(staleness) })) })),
  };
}

export const staleness: Part = { name: 'staleness', title: 'Cross-process staleness vs reader processes', repeats: 3, run };
