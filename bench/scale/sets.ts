/**
 * `sets`: write throughput as values grow and as callers stop waiting for each other. herdcache's
 * `set` on memory over LMDB beside raw lmdb-js `put` (its defaults: msgpack, a directory of its
 * own), awaited one at a time and with 1,000 in flight, and the file each leaves behind.
 */
import { randomBytes } from 'node:crypto';
import { open } from 'lmdb';
import { createCache, lmdbTier, memoryTier } from '../../src/index.js';
import { tempDir } from '../lib/paths.js';
import type { Progress } from '../lib/progress.js';
import { count } from '../lib/table.js';
import { alternate, band, cell, dataFileBytes, fill, lineChart, ratioCell, spread, timedPool, type Part, type PartOutput, type Settings, type Throughput } from './common.js';

const SIZES = [100, 10_000];
const MODES = [
  { name: 'sequential', inFlight: 1 },
  { name: '1,000 in flight', inFlight: 1_000 },
] as const;

/** A string of `bytes` random base64 characters: nothing for an encoder to shorten. */
function valueOf(bytes: number): string {
  return randomBytes(bytes).toString('base64').slice(0, bytes);
}

/** One contender's store: fresh, in a directory of its own, and how to write and close it. */
interface Store {
  put(key: string, value: string): Promise<unknown>;
  close(): Promise<void>;
  readonly dir: string;
}

function herdStore(): Store {
  const dir = tempDir('scale-sets-herd');
  const cache = createCache({ tiers: [memoryTier(), lmdbTier({ path: dir.path })] });
  return {
    dir: dir.path,
    put: (key, value) => cache.set(key, value),
    async close() {
      await cache.close();
      dir.remove();
    },
  };
}

function rawStore(): Store {
  const dir = tempDir('scale-sets-raw');
  const db = open<string, string>({ path: dir.path });
  return {
    dir: dir.path,
    put: (key, value) => db.put(key, value),
    async close() {
      await db.close();
      dir.remove();
    },
  };
}

/** Warm-up writes first (other keys), then the timed ones, on a store opened for this sample alone. */
async function sample(make: () => Store, value: string, inFlight: number, warmup: number, durationMs: number): Promise<Throughput> {
  const store = make();
  try {
    // Enough writes to optimize the code; awaited one at a time they cost a commit each, so fewer.
    const writes = inFlight === 1 ? Math.ceil(warmup / 10) : warmup;
    await fill(writes, Math.min(inFlight, writes), (i) => store.put(`w${i}`, value));
    return await timedPool((i) => store.put(`s${i}`, value), inFlight, durationMs);
  } finally {
    await store.close();
  }
}

interface ModeResult {
  readonly bytes: number;
  readonly mode: string;
  readonly herd: number[];
  readonly raw: number[];
  readonly ratios: number[];
}

interface FileResult {
  readonly bytes: number;
  readonly sets: number;
  readonly herd: number;
  readonly raw: number;
}

/** The data file after the same N distinct keys were written by each (1,000 in flight). */
async function fileSizes(bytes: number, sets: number): Promise<FileResult> {
  const value = valueOf(bytes);
  const sizeAfter = async (make: () => Store): Promise<number> => {
    const store = make();
    try {
      await fill(sets, 1_000, (i) => store.put(`f${i}`, value));
      return dataFileBytes(store.dir);
    } finally {
      await store.close();
    }
  };
  return { bytes, sets, herd: await sizeAfter(herdStore), raw: await sizeAfter(rawStore) };
}

async function run(settings: Settings, progress: Progress): Promise<PartOutput> {
  const durationMs = settings.quick ? 200 : 1_000;
  const warmup = settings.quick ? 200 : 2_000;
  const fileSets = settings.quick ? 2_000 : 20_000;
  const results: ModeResult[] = [];
  const files: FileResult[] = [];
  for (const bytes of SIZES) {
    const value = valueOf(bytes);
    for (const mode of MODES) {
      const result: ModeResult = { bytes, mode: mode.name, herd: [], raw: [], ratios: [] };
      for (let r = 0; r < settings.repeats; r++) {
        progress.step(r + 1, settings.repeats, `${count(bytes)} B, ${mode.name}`, durationMs * 2 + 400);
        const [herd, raw] = await alternate(
          r,
          () => sample(herdStore, value, mode.inFlight, warmup, durationMs),
          () => sample(rawStore, value, mode.inFlight, warmup, durationMs),
        );
        const herdOps = (herd.ops * 1000) / herd.ms;
        const rawOps = (raw.ops * 1000) / raw.ms;
        result.herd.push(herdOps);
        result.raw.push(rawOps);
        result.ratios.push(herdOps / rawOps);
      }
      progress.done(`${count(bytes)} B, ${mode.name}: herdcache/lmdb-js ${spread(result.ratios).median.toFixed(2)}x`);
      results.push(result);
    }
    progress.step(1, 1, `${count(bytes)} B: file size after ${count(fileSets)} sets`, fileSets / 20);
    files.push(await fileSizes(bytes, fileSets));
    progress.done(`${count(bytes)} B: file sizes measured`);
  }
  const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
  const points = results.flatMap((r) => [
    { bytes: r.bytes, ...band(spread(r.herd)), contender: `herdcache set, ${r.mode}` },
    { bytes: r.bytes, ...band(spread(r.raw)), contender: `lmdb-js put, ${r.mode}` },
  ]);
  return {
    notes: [
      'herdcache: `createCache({ tiers: [memoryTier(), lmdbTier({ path })] })`, `await cache.set(key, value)`; lmdb-js:',
      '`open({ path })` of a fresh directory (its default msgpack encoding), `await db.put(key, value)`. Values are random',
      `strings of the given length; every write has a distinct key. Each sample opens a fresh store, writes ${count(warmup)}`,
      `warm-up keys (a tenth as many when sequential), then writes for ${durationMs} ms ("1,000 in flight": a new write starts as soon as one settles; the`,
      `time includes draining the last ones). ${settings.repeats} repeats, the contenders' order alternating.`,
      'Ratio: throughput herdcache / lmdb-js, so higher is better for herdcache.',
    ],
    tables: [
      {
        caption: 'Writes per second: median (p25–p75) of the repeats; ratio: median (p25–p75; min–max) of the per-repeat ratios',
        header: ['value', 'mode', 'herdcache set/s', 'lmdb-js put/s', 'throughput ratio herdcache/lmdb-js'],
        rows: results.map((r) => [`${count(r.bytes)} B`, r.mode, cell(spread(r.herd)), cell(spread(r.raw)), ratioCell(spread(r.ratios))]),
      },
      {
        caption: `data.mdb after ${count(fileSets)} distinct keys (1,000 in flight); herdcache's file also holds its by-age index, change log and the zeroed headroom it keeps allocated past LMDB's last page (src/tiers/lmdb/headroom.ts)`,
        header: ['value', 'herdcache MiB', 'lmdb-js MiB', 'herdcache B/entry', 'lmdb-js B/entry', 'ratio herdcache/lmdb-js'],
        rows: files.map((f) => [`${count(f.bytes)} B`, mib(f.herd), mib(f.raw), count(f.herd / f.sets), count(f.raw / f.sets), `${(f.herd / f.raw).toFixed(2)}x`]),
      },
    ],
    figures: [{ name: 'sets', spec: lineChart('Set throughput vs value size', 'median writes per second', points, { field: 'bytes', title: 'value bytes', log: true }, { field: 'median', title: 'writes/s', log: true }, 'contender') }],
    data: { results, files },
  };
}

export const sets: Part = { name: 'sets', title: 'Sets: throughput vs value size and concurrency', repeats: 5, run };
