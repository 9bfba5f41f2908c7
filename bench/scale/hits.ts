/**
 * `hits`: the cost of a hit as the table grows. herdcache's memory tier beside lru-cache, and
 * herdcache's LMDB tier (no memory tier, so every read goes to LMDB) beside raw lmdb-js, reading
 * random keys of the filled set: once the table outgrows the CPU caches, a lookup costs a cache
 * miss or more whoever does it, and the ratio shows what herdcache adds on top.
 */
import { LRUCache } from 'lru-cache';
import { open } from 'lmdb';
import { createCache, lmdbTier, memoryTier, type Cache } from '../../src/index.js';
import { calibrate, syncOperation, type Operation } from '../hot/measure.js';
import { pairedSamples } from '../hot/paired.js';
import { tempDir } from '../lib/paths.js';
import type { Progress } from '../lib/progress.js';
import { count } from '../lib/table.js';
import { band, cell, fill, lineChart, ratioCell, spread, type Part, type PartOutput, type Settings, type Spread } from './common.js';

/** A random walk over the filled keys, shared by every contender so that each reads the same sequence. */
const WALK = 1 << 16;
const BURST_MS = 25;

interface Value {
  readonly id: number;
  readonly name: string;
  readonly score: number;
}

const valueOf = (i: number): Value => ({ id: i, name: `item-${i}`, score: i % 100 });

interface PairResult {
  readonly a: Spread;
  readonly b: Spread;
  readonly ratio: Spread;
}

/**
 * Adjacent short bursts of `a` and `b`, their order alternating, one ratio per pair: two bursts
 * a few ms apart see the same drift of a shared core (see bench/hot/paired.ts).
 */
async function measurePairs(a: Operation, b: Operation, pairs: number): Promise<PairResult> {
  const aN = await calibrate(a, BURST_MS);
  const bN = await calibrate(b, BURST_MS);
  // Warm-up: several bursts each, so that both run optimized code before the first pair.
  for (let i = 0; i < 8; i++) {
    await a.run(aN);
    await b.run(bN);
  }
  const samples = await pairedSamples(a, aN, b, bN, pairs);
  return { a: spread(samples.a), b: spread(samples.b), ratio: spread(samples.ratios) };
}

interface SizeResult {
  readonly entries: number;
  readonly l1: PairResult;
  readonly l2: PairResult;
  readonly fillMs: Record<string, number>;
}

/** Fails loudly rather than timing misses: every contender must hold every filled key. */
function assertAllHit(label: string, get: (key: string) => unknown, keys: readonly string[], walk: Uint32Array): void {
  for (let i = 0; i < 1_000; i++) {
    const key = keys[walk[i]!]!;
    if (get(key) === undefined) throw new Error(`hits: ${label} misses "${key}" after the fill`);
  }
}

async function measureSize(n: number, pairs: number, progress: Progress): Promise<SizeResult> {
  const keys = Array.from({ length: n }, (_, i) => `k${i}`);
  const walk = new Uint32Array(WALK);
  for (let i = 0; i < WALK; i++) walk[i] = Math.floor(Math.random() * n);
  const l2Dir = tempDir(`scale-hits-l2-${n}`);
  const rawDir = tempDir(`scale-hits-raw-${n}`);
  const fillMs: Record<string, number> = {};
  const timedFill = async (name: string, work: () => Promise<void> | void): Promise<void> => {
    const t0 = performance.now();
    await work();
    fillMs[name] = performance.now() - t0;
  };
  let l1: Cache | undefined;
  let l2: Cache | undefined;
  const raw = open<Value, string>({ path: rawDir.path });
  try {
    progress.step(1, 3, `${count(n)} entries: fill`, n / 50);
    const l1Cache = createCache({ tiers: [memoryTier({ maxEntries: n })] });
    l1 = l1Cache;
    await timedFill('herdcache L1', () => fill(n, 1_000, (i) => l1Cache.set(keys[i]!, valueOf(i))));
    const lru = new LRUCache<string, Value>({ max: n });
    await timedFill('lru-cache', () => {
      for (let i = 0; i < n; i++) lru.set(keys[i]!, valueOf(i));
    });
    const l2Cache = createCache({ tiers: [lmdbTier({ path: l2Dir.path })] });
    l2 = l2Cache;
    await timedFill('herdcache L2', () => fill(n, 1_000, (i) => l2Cache.set(keys[i]!, valueOf(i))));
    await timedFill('lmdb-js', async () => {
      for (let start = 0; start < n; start += 50_000) {
        await raw.transaction(() => {
          for (let i = start; i < Math.min(n, start + 50_000); i++) void raw.put(keys[i]!, valueOf(i));
        });
      }
    });
    assertAllHit('herdcache L1', (k) => l1Cache.getSync(k), keys, walk);
    assertAllHit('lru-cache', (k) => lru.get(k), keys, walk);
    assertAllHit('herdcache L2', (k) => l2Cache.getSync(k), keys, walk);
    assertAllHit('lmdb-js', (k) => raw.get(k), keys, walk);

    // One cursor per contender over the same walk: each reads the same keys in the same order.
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    const mask = WALK - 1;
    const herdL1 = syncOperation('l1', 'herdcache L1 getSync', () => l1Cache.getSync(keys[walk[s1++ & mask]!]!));
    const lruGet = syncOperation('lru', 'lru-cache get', () => lru.get(keys[walk[s2++ & mask]!]!));
    const herdL2 = syncOperation('l2', 'herdcache L2 getSync', () => l2Cache.getSync(keys[walk[s3++ & mask]!]!));
    const rawGet = syncOperation('raw', 'lmdb-js get', () => raw.get(keys[walk[s4++ & mask]!]!));
    progress.step(2, 3, `${count(n)} entries: L1 pairs`, pairs * BURST_MS * 2 + 500);
    const l1Pairs = await measurePairs(herdL1, lruGet, pairs);
    progress.step(3, 3, `${count(n)} entries: L2 pairs`, pairs * BURST_MS * 2 + 500);
    const l2Pairs = await measurePairs(herdL2, rawGet, pairs);
    progress.done(`${count(n)} entries: L1 ${l1Pairs.ratio.median.toFixed(2)}x lru-cache, L2 ${l2Pairs.ratio.median.toFixed(2)}x lmdb-js`);
    return { entries: n, l1: l1Pairs, l2: l2Pairs, fillMs };
  } finally {
    await l1?.close();
    await l2?.close();
    await raw.close();
    l2Dir.remove();
    rawDir.remove();
  }
}

async function run(settings: Settings, progress: Progress): Promise<PartOutput> {
  const sizes = settings.quick ? [1_000, 10_000] : [1_000, 100_000, 1_000_000];
  // Pairs stand in for repeats here: each is a repeat of both contenders, a few ms apart.
  const pairs = Math.max(settings.quick ? 7 : 21, settings.repeats);
  const results: SizeResult[] = [];
  for (const n of sizes) results.push(await measureSize(n, pairs, progress));
  const rows = results.flatMap((r) => [
    [count(r.entries), 'L1: herdcache getSync / lru-cache get', cell(r.l1.a), cell(r.l1.b), ratioCell(r.l1.ratio)],
    [count(r.entries), 'L2: herdcache getSync (no L1) / lmdb-js get', cell(r.l2.a), cell(r.l2.b), ratioCell(r.l2.ratio)],
  ]);
  const points = results.flatMap((r) => [
    { entries: r.entries, ...band(r.l1.a), contender: 'herdcache L1 getSync' },
    { entries: r.entries, ...band(r.l1.b), contender: 'lru-cache get' },
    { entries: r.entries, ...band(r.l2.a), contender: 'herdcache L2 getSync (no L1)' },
    { entries: r.entries, ...band(r.l2.b), contender: 'lmdb-js get' },
  ]);
  return {
    notes: [
      `Random keys of the filled set (one random walk of ${count(WALK)} keys, the same for every contender), read with`,
      `each contender's own compiled timing loop; ${pairs} adjacent pairs of ${BURST_MS} ms bursts per ratio, their order`,
      'alternating. herdcache L1: `createCache({ tiers: [memoryTier({ maxEntries: n })] })`; lru-cache: `new LRUCache({ max: n })`;',
      'herdcache L2: `createCache({ tiers: [lmdbTier({ path })] })` (no memory tier: every read decodes from LMDB); lmdb-js:',
      '`open({ path })` with its defaults. Values: `{ id, name, score }`. Every contender is checked to hold the keys first.',
    ],
    tables: [
      {
        caption: 'ns per read: median of the pairs (p25–p75); ratio: median (p25–p75; min–max) of the per-pair ratios',
        header: ['entries', 'pair', 'herdcache ns/op', 'baseline ns/op', 'ratio herdcache/baseline'],
        rows,
      },
      {
        caption: 'Time to fill, ms (herdcache with 1,000 sets in flight; lmdb-js in transactions of 50,000 puts)',
        header: ['entries', ...Object.keys(results[0]?.fillMs ?? {})],
        rows: results.map((r) => [count(r.entries), ...Object.values(r.fillMs).map((v) => v.toFixed(0))]),
      },
    ],
    figures: [{ name: 'hits', spec: lineChart('Hit cost vs entries', 'random keys; median ns per read', points, { field: 'entries', title: 'entries', log: true }, { field: 'median', title: 'ns per read', log: true }, 'contender') }],
    data: results,
  };
}

export const hits: Part = { name: 'hits', title: 'Hits: ns per read vs entries', repeats: 5, run };
