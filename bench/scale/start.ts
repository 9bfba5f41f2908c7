/**
 * `start`: what it costs to start one more compute while N are already in flight. Each compute's
 * function waits on a gate held open, so none finishes; the last 1,000 calls are timed until each
 * one's function has run. Per-call work that grows with what is in flight (a shared signal's
 * listener list, a scan of pending calls) shows as a cost that grows with N; lru-cache's `fetch`
 * with a `fetchMethod` waiting on the same kind of gate is the baseline.
 */
import { LRUCache } from 'lru-cache';
import { barrier, createCache, lmdbTier, memoryTier, ttl, type Cache, type Policy } from '../../src/index.js';
import { tempDir } from '../lib/paths.js';
import type { Progress } from '../lib/progress.js';
import { count } from '../lib/table.js';
import { band, cell, lineChart, ratioCell, rotated, spread, type Part, type PartOutput, type Settings } from './common.js';

const CHUNK = 1_000;
const START_TIMEOUT_MS = 120_000;

interface Value {
  readonly n: number;
}

/** Starts one call of the contender: `fn` is the function it must eventually run for the key. */
type Starter = (key: string, fn: () => Promise<Value>) => Promise<unknown>;

/** A contender set up fresh for one sample, and its teardown. */
interface Contender {
  readonly name: string;
  /** The largest N it is measured at (see CONTENDERS). */
  readonly upTo: (quick: boolean) => number;
  make(n: number): { start: Starter; close: () => Promise<void> };
}

function herdcache(name: string, policy: () => Policy, upTo: (quick: boolean) => number): Contender {
  return {
    name,
    upTo,
    make() {
      const dir = tempDir('scale-start');
      const cache: Cache = createCache({ tiers: [memoryTier(), lmdbTier({ path: dir.path })], policies: [policy()] });
      return {
        start: (key, fn) => cache.compute(key, fn),
        async close() {
          await cache.close();
          dir.remove();
        },
      };
    },
  };
}

const lruCache: Contender = {
  name: 'lru-cache fetch',
  upTo: () => Infinity,
  make(n) {
    let current: (() => Promise<Value>) | undefined;
    // Room for every key: an in-flight fetch pushed out by the bound would be aborted.
    const lru = new LRUCache<string, Value>({ max: 2 * n, fetchMethod: () => current!() });
    return {
      start: (key, fn) => {
        current = fn;
        return lru.fetch(key);
      },
      close: () => Promise.resolve(),
    };
  },
};

/**
 * barrier() commits a lease to LMDB before each function runs, about 0.4 ms apiece on this
 * kind of disk whatever is in flight, and as much again per compute when the gate opens: at
 * 32,000 one sample alone would take half a minute, so it stops at 16,000 (1,000 with --quick).
 */
const CONTENDERS: readonly Contender[] = [
  herdcache('herdcache compute, ttl()', ttl, () => Infinity),
  herdcache('herdcache compute, barrier()', barrier, (quick) => (quick ? 1_000 : 16_000)),
  lruCache,
];

interface Sample {
  /** µs per call spent inside the 1,000 calls themselves. */
  readonly callUs: number;
  /** µs per call from the first of the 1,000 calls until the last one's function ran. */
  readonly startUs: number;
  /** ms from opening the gate until every call settled. */
  readonly drainMs: number;
  readonly warnings: string[];
}

async function sample(contender: Contender, n: number, warnings: string[]): Promise<Sample> {
  const { start, close } = contender.make(n);
  const seenBefore = warnings.length;
  try {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let started = 0;
    let target = Infinity;
    let reached: (() => void) | undefined;
    const fn = (): Promise<Value> => {
      if (++started >= target) reached?.();
      return gate.then(() => ({ n: started }));
    };
    const startedAll = (k: number): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        if (started >= k) return resolve();
        const timer = setTimeout(() => reject(new Error(`start: ${contender.name} ran ${started} of ${k} functions within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
        target = k;
        reached = () => {
          clearTimeout(timer);
          reached = undefined;
          target = Infinity;
          resolve();
        };
      });
    const pending: Promise<unknown>[] = [];
    const head = Math.max(0, n - CHUNK);
    for (let i = 0; i < head; i++) pending.push(start(`k${i}`, fn));
    await startedAll(head);
    const t0 = performance.now();
    for (let i = head; i < n; i++) pending.push(start(`k${i}`, fn));
    const t1 = performance.now();
    await startedAll(n);
    const t2 = performance.now();
    open();
    await Promise.all(pending);
    const t3 = performance.now();
    const chunk = n - head;
    return { callUs: ((t1 - t0) * 1000) / chunk, startUs: ((t2 - t0) * 1000) / chunk, drainMs: t3 - t2, warnings: warnings.slice(seenBefore) };
  } finally {
    await close();
  }
}

interface Row {
  readonly inFlight: number;
  readonly contender: string;
  readonly callUs: number[];
  readonly startUs: number[];
  readonly drainMs: number[];
  readonly ratios: number[];
  readonly warnings: string[];
}

async function run(settings: Settings, progress: Progress): Promise<PartOutput> {
  const sizes = settings.quick ? [1_000, 4_000] : [1_000, 16_000, 32_000];
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  const rows: Row[] = [];
  try {
    // A first pass at the smallest size: every contender runs optimized code before the first sample.
    progress.step(0, sizes.length, 'warm-up', 3_000);
    for (let pass = 0; pass < 2; pass++) for (const c of CONTENDERS) await sample(c, sizes[0]!, warnings);
    for (const [s, n] of sizes.entries()) {
      const here = CONTENDERS.filter((c) => n <= c.upTo(settings.quick));
      const byName = new Map(here.map((c) => [c.name, { inFlight: n, contender: c.name, callUs: [], startUs: [], drainMs: [], ratios: [], warnings: [] } as Row]));
      for (let r = 0; r < settings.repeats; r++) {
        progress.step(s + 1, sizes.length, `${count(n)} in flight, repeat ${r + 1}/${settings.repeats}`, n / 5);
        for (const c of rotated(here, r)) {
          const result = await sample(c, n, warnings);
          const row = byName.get(c.name)!;
          row.callUs.push(result.callUs);
          row.startUs.push(result.startUs);
          row.drainMs.push(result.drainMs);
          row.warnings.push(...result.warnings);
        }
        const base = byName.get(lruCache.name)!.startUs[r]!;
        for (const row of byName.values()) row.ratios.push(row.startUs[r]! / base);
      }
      rows.push(...byName.values());
      progress.done(`${count(n)} in flight measured`);
    }
  } finally {
    process.off('warning', onWarning);
  }
  const unique = (list: readonly string[]): string => [...new Set(list.map((w) => w.split(':')[0]!))].join(', ') || 'none';
  const points = rows.map((r) => ({ inFlight: r.inFlight, ...band(spread(r.startUs)), contender: r.contender }));
  return {
    notes: [
      'herdcache: `createCache({ tiers: [memoryTier(), lmdbTier({ path })], policies: [ttl()] or [barrier()] })`, calls',
      '`cache.compute(key_i, fn)` on distinct keys; lru-cache: `new LRUCache({ max: 2N, fetchMethod })`, calls `lru.fetch(key_i)`.',
      'Every function waits on one gate held open. After N−1,000 calls have all started their function, the last 1,000 calls',
      'are timed: "call" is the time spent inside the calls themselves, "start" the time until the last one\'s function ran',
      '(what a caller waits before its work begins, including anything herdcache does asynchronously first, such as taking',
      "the barrier's lease in LMDB). Then the gate opens and every call is awaited (\"drain\"). Warnings emitted during a",
      `sample (process.on('warning')) are listed. ${settings.repeats} repeats, the contenders' order rotated. Ratio: start µs/call`,
      "herdcache / lru-cache of the same repeat. barrier() commits a lease to LMDB before each function runs (about 0.4 ms",
      `apiece here, and as much again per compute once the gate opens), so it is measured up to ${count(CONTENDERS[1]!.upTo(settings.quick))} in flight only.`,
    ],
    tables: [
      {
        caption: 'Per-call cost of the last 1,000 starts, µs: median (p25–p75) of the repeats; ratio: median (p25–p75; min–max)',
        header: ['in flight N', 'contender', 'call µs/call', 'start µs/call', 'ratio start vs lru-cache', 'drain ms (all N)', 'warnings'],
        rows: rows.map((r) => [count(r.inFlight), r.contender, cell(spread(r.callUs)), cell(spread(r.startUs)), r.contender === lruCache.name ? 'baseline' : ratioCell(spread(r.ratios)), cell(spread(r.drainMs)), unique(r.warnings)]),
      },
    ],
    figures: [{ name: 'start', spec: lineChart('Compute start cost vs in-flight computes', 'last 1,000 starts, median µs per call', points, { field: 'inFlight', title: 'computes in flight after the last start (N)', log: true }, { field: 'median', title: 'µs per start', log: true }, 'contender') }],
    data: { rows, warnings: [...new Set(warnings)] },
  };
}

export const start: Part = { name: 'start', title: 'Compute start cost vs computes in flight', repeats: 5, run };
