/**
 * `stalls`: the longest event-loop stall while the LMDB tier's sweep does its biggest jobs:
 * evicting a file over its size bound, removing expired entries among the live ones, trimming a
 * change log past its retention. The target is "a few ms"; the same monitor over an idle second
 * and over the fill before it shows what this machine's loop does anyway.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { createCache, lmdbTier, type Cache, type Tier } from '../../src/index.js';
import { tempDir } from '../lib/paths.js';
import type { Progress } from '../lib/progress.js';
import { count } from '../lib/table.js';
import { sleep } from '../lib/time.js';
import { cell, dataFileBytes, fill, lineChart, num, spread, type Part, type PartOutput, type Settings } from './common.js';

/** The target the sweep is built for: each pass examines at most 20,000 rows (src/tiers/lmdb/sweep.ts). */
const TARGET_MS = 5;
const LONG_TTL = 3_600_000;
const SHORT_TTL = 1_000;
const MAX_PASSES = 30;

/** The longest stall (ms) and the wall time (ms) of `work`, with the loop sampled every ms. */
async function watched<T>(work: () => Promise<T>): Promise<{ result: T; stallMs: number; wallMs: number }> {
  const monitor = monitorEventLoopDelay({ resolution: 1 });
  monitor.enable();
  const t0 = performance.now();
  try {
    const result = await work();
    const wallMs = performance.now() - t0;
    // One more turn, so that a stall at the very end is sampled too.
    await sleep(2);
    return { result, stallMs: monitor.max / 1e6, wallMs };
  } finally {
    monitor.disable();
  }
}

interface Scenario {
  readonly name: string;
  readonly entries: number;
  readonly expired: number;
  readonly maxBytes: number | undefined;
  /** How far the cache's clock moves on between the fill and the sweep. */
  readonly advanceMs: number;
}

interface Pass {
  readonly stallMs: number;
  readonly wallMs: number;
  readonly size: number;
  readonly expired: number;
}

interface ScenarioResult {
  readonly scenario: Scenario;
  readonly fileBytes: number;
  readonly entriesBefore: number;
  readonly fillStallMs: number;
  readonly fillMs: number;
  readonly passes: Pass[];
  readonly entriesAfter: number;
}

/** The tier's own sweep: it is on the object lmdbTier() returns, though not in the SharedTier type. */
function sweeper(tier: Tier): () => Promise<void> {
  const candidate = (tier as unknown as { sweep?: unknown }).sweep;
  if (typeof candidate !== 'function') throw new Error('stalls: lmdbTier() returned an object without a sweep() method: the part cannot trigger a sweep');
  return () => (tier as unknown as { sweep(): Promise<void> }).sweep();
}

async function runScenario(s: Scenario, value: string): Promise<ScenarioResult> {
  const dir = tempDir(`scale-stalls-${s.name}`);
  let offset = 0;
  const clock = (): number => Date.now() + offset;
  // An hour between background sweeps: the only sweeps are the ones timed here.
  const tier = lmdbTier({ path: dir.path, sweepInterval: 3_600_000, ...(s.maxBytes === undefined ? {} : { maxBytes: s.maxBytes }) });
  const cache: Cache = createCache({ tiers: [tier], clock });
  const sweep = sweeper(tier);
  let size = 0;
  let expired = 0;
  cache.on('evict', (e) => (e.cause === 'size' ? size++ : expired++));
  try {
    const every = s.expired > 0 ? Math.floor(s.entries / s.expired) : 0;
    const filled = await watched(() => fill(s.entries, 1_000, (i) => cache.set(`k${i}`, value, { ttl: every > 0 && i % every === 0 && i / every < s.expired ? SHORT_TTL : LONG_TTL })));
    const entriesBefore = tier.size?.() ?? Number.NaN;
    offset += s.advanceMs;
    const passes: Pass[] = [];
    // One pass is what the background timer does each sweepInterval; the later passes show
    // how many it takes to finish the job, and what a pass with nothing left to do costs.
    for (let p = 0; p < MAX_PASSES; p++) {
      const before = { size, expired };
      const { stallMs, wallMs } = await watched(sweep);
      passes.push({ stallMs, wallMs, size: size - before.size, expired: expired - before.expired });
      const last = passes[passes.length - 1]!;
      if (last.size + last.expired === 0 && p + 1 >= minPasses(s)) break;
    }
    return { scenario: s, fileBytes: dataFileBytes(dir.path), entriesBefore, fillStallMs: filled.stallMs, fillMs: filled.wallMs, passes, entriesAfter: tier.size?.() ?? Number.NaN };
  } finally {
    await cache.close();
    dir.remove();
  }
}

/**
 * Passes a scenario runs at least when the clock moved: each pass examines at most 20,000 rows of
 * the by-age index (resuming where the last stopped) and trims at most 20,000 change records, so
 * a pass that removes nothing does not yet prove that nothing is left.
 */
function minPasses(s: Scenario): number {
  return s.advanceMs > 0 ? Math.ceil(s.entries / 20_000) + 1 : 1;
}

/**
 * The exact middle of a few counts: the HDR histogram behind {@link spread} keeps three
 * significant digits, which would turn 20,000 entries into 20,005.
 */
function middle(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
}

async function run(settings: Settings, progress: Progress): Promise<PartOutput> {
  const entries = settings.quick ? 10_000 : 200_000;
  const maxBytes = settings.quick ? 2 ** 20 : 64 * 2 ** 20;
  const expiredCounts = settings.quick ? [500, 1_000] : [10_000, 20_000];
  const scenarios: Scenario[] = [
    { name: 'over the size bound', entries, expired: 0, maxBytes, advanceMs: 0 },
    ...expiredCounts.map((e) => ({ name: `over the bound, ${count(e)} expired`, entries, expired: e, maxBytes, advanceMs: 10_000 })),
    { name: 'change log past 60 s', entries, expired: 0, maxBytes: undefined, advanceMs: 61_000 },
  ];
  const value = randomBytes(150).toString('base64').slice(0, 200);
  const idle: number[] = [];
  const results: ScenarioResult[][] = scenarios.map(() => []);
  for (let r = 0; r < settings.repeats; r++) {
    progress.step(r + 1, settings.repeats, 'idle second, then every scenario', 1_000 + scenarios.length * entries / 15);
    idle.push((await watched(() => sleep(1_000))).stallMs);
    for (const [i, s] of scenarios.entries()) results[i]!.push(await runScenario(s, value));
  }
  progress.done(`${scenarios.length} scenarios × ${settings.repeats} repeats`);
  const rows = results.map((list) => {
    const first = list.map((x) => x.passes[0]!);
    const s = list[0]!.scenario;
    const passes = list.map((x) => x.passes.length);
    const allMax = list.map((x) => Math.max(...x.passes.map((p) => p.stallMs)));
    const removed = list.map((x) => x.passes.reduce((sum, p) => sum + p.size + p.expired, 0));
    return [
      s.name,
      `${count(s.entries)} × 200 B, ${s.maxBytes === undefined ? 'default 1 GiB' : `${num(s.maxBytes / 2 ** 20)} MiB`}`,
      `${num(spread(list.map((x) => x.fileBytes)).median / 2 ** 20)} MiB`,
      cell(spread(list.map((x) => x.fillStallMs))),
      cell(spread(first.map((p) => p.stallMs))),
      cell(spread(first.map((p) => p.wallMs))),
      `${count(middle(first.map((p) => p.size)))} / ${count(middle(first.map((p) => p.expired)))}`,
      count(middle(passes)),
      cell(spread(allMax)),
      count(middle(removed)),
      `${count(middle(list.map((x) => x.entriesBefore)))} → ${count(middle(list.map((x) => x.entriesAfter)))}`,
    ];
  });
  const points = results.flatMap((list) =>
    // Repeats may take different numbers of passes: each pass's median is over the repeats that had it.
    list[0]!.passes.map((_, k) => ({ pass: k + 1, stallMs: spread(list.flatMap((x) => (x.passes[k] === undefined ? [] : [x.passes[k].stallMs]))).median, scenario: list[0]!.scenario.name })),
  );
  return {
    notes: [
      '`createCache({ tiers: [tier], clock })` with `tier = lmdbTier({ path, maxBytes, sweepInterval: 3_600_000 })` (no timed',
      'sweep gets in the way), filled with 1,000 sets in flight of a 200 B string under `k0`…; some of them with `{ ttl: 1_000 }`',
      'in the expired scenarios, the rest with `{ ttl: 3_600_000 }`. The cache\'s clock then moves on (10 s for expiry, 61 s for',
      "the change log, whose records older than 60 s the sweep trims), and the tier's `sweep()` is called, pass after pass,",
      'until a pass removes nothing, and at least once per 20,000 entries plus once when the clock moved (a pass examines at',
      'most 20,000 rows of the by-age index and trims at most 20,000 change records, src/tiers/lmdb/sweep.ts). Counts of',
      'entries are exact medians of the repeats; times are median (p25–p75).',
      'Stalls: `monitorEventLoopDelay({ resolution: 1 })`, max in ms. Entries removed are counted from the cache\'s `evict`',
      "events (cause size / expired); entries before → after from the tier's `size()`. The change-log records trimmed are not",
      'observable through the public API: a pass whose wall time falls to that of an empty pass has nothing left to trim.',
      `Baseline: the target of a few ms (${TARGET_MS} ms here) and the same monitor over an idle second:`,
      `${cell(spread(idle))} ms max stall (median, p25–p75 of ${settings.repeats}).`,
    ],
    tables: [
      {
        caption: `Stalls and sweeps, ms, over ${settings.repeats} repeats; "pass 1" is what one background sweep does`,
        header: ['scenario', 'fill, maxBytes', 'data.mdb', 'fill max stall', 'pass 1 max stall', 'pass 1 wall', 'pass 1 removed size / expired', 'passes', 'max stall, all passes', 'removed, all passes', 'entries before → after'],
        rows,
      },
      {
        caption: 'Every pass of the first repeat: max stall / wall time, ms',
        header: ['scenario', ...Array.from({ length: Math.max(...results.map((l) => l[0]!.passes.length)) }, (_, k) => `pass ${k + 1}`)],
        rows: results.map((l) => [l[0]!.scenario.name, ...l[0]!.passes.map((p) => `${num(p.stallMs)} / ${num(p.wallMs)}`)]),
      },
    ],
    figures: [
      {
        name: 'stalls',
        spec: lineChart('Sweep stall per pass', `max event-loop stall, median of ${settings.repeats}; ${count(entries)} entries; dashed: ${TARGET_MS} ms`, points, { field: 'pass', title: 'sweep pass' }, { field: 'stallMs', title: 'max stall, ms', log: true }, 'scenario', TARGET_MS),
      },
    ],
    data: { idleStallMs: idle, results },
  };
}

export const stalls: Part = { name: 'stalls', title: 'Event-loop stalls of the LMDB sweep', repeats: 3, run };
