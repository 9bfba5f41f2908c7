import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { Child } from '../lib/children.js';
import { percentiles } from '../lib/histogram.js';
import type { Progress } from '../lib/progress.js';

/** What every part is told: how small to be and how many times to repeat each measurement. */
export interface Settings {
  readonly quick: boolean;
  readonly repeats: number;
}

/** Several measurements of one quantity: the median, the middle half, the extremes. */
export interface Spread {
  readonly count: number;
  readonly median: number;
  readonly p25: number;
  readonly p75: number;
  readonly min: number;
  readonly max: number;
}

/** One table of a part's report; cells are written as given. */
export interface Table {
  readonly caption: string;
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** A Vega-Lite figure of a part, written as `<name>.svg` and `<name>.png`. */
export interface Figure {
  readonly name: string;
  readonly spec: TopLevelSpec;
}

/** What a part hands back: its tables and figures for scale.md, and its numbers for scale.json. */
export interface PartOutput {
  readonly notes: readonly string[];
  readonly tables: readonly Table[];
  readonly figures: readonly Figure[];
  readonly data: unknown;
}

/** One part of the suite, run in a process of its own (see main.ts). */
export interface Part {
  readonly name: string;
  readonly title: string;
  /** Repeats of the default run: fewer where one repeat is long (whole fills, processes, seconds of writes). */
  readonly repeats: number;
  run(settings: Settings, progress: Progress): Promise<PartOutput>;
}

/**
 * Percentiles go through the HDR histogram of bench/lib like every other figure of the bench;
 * the extremes are taken exactly, since a handful of repeats is all there is.
 */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { count: 0, median: Number.NaN, p25: Number.NaN, p75: Number.NaN, min: Number.NaN, max: Number.NaN };
  const [p25, median, p75] = percentiles(values, [25, 50, 75]) as [number, number, number];
  return { count: values.length, median, p25, p75, min: Math.min(...values), max: Math.max(...values) };
}

/** The median and middle half of a spread as chart fields (see {@link lineChart}). */
export function band(s: Spread): { median: number; lo: number; hi: number } {
  return { median: s.median, lo: s.p25, hi: s.p75 };
}

/** A number with about three significant digits, and thousands separators when large. */
export function num(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

/** "median (p25–p75)", the form every measured cell of the report takes. */
export function cell(s: Spread, unit = ''): string {
  return `${num(s.median)}${unit} (${num(s.p25)}–${num(s.p75)})`;
}

/** A ratio with its middle half and extremes, e.g. "1.23x (1.10–1.40; 1.02–1.51)". */
export function ratioCell(s: Spread): string {
  return `${s.median.toFixed(2)}x (${s.p25.toFixed(2)}–${s.p75.toFixed(2)}; ${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
}

/**
 * Runs the two contenders of one repeat, `a` first on even repeats and `b` first on odd ones:
 * whichever runs second meets a warmer page cache, a larger heap, a drifted core (bench/hot/paired.ts).
 */
export async function alternate<A, B>(repeat: number, a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
  if (repeat % 2 === 0) {
    const ra = await a();
    return [ra, await b()];
  }
  const rb = await b();
  return [await a(), rb];
}

/** `list` rotated by `repeat`, for more than two contenders. */
export function rotated<T>(list: readonly T[], repeat: number): T[] {
  const k = repeat % Math.max(1, list.length);
  return [...list.slice(k), ...list.slice(0, k)];
}

/** Completed operations and the time they took, for a throughput. */
export interface Throughput {
  readonly ops: number;
  readonly ms: number;
}

/**
 * Calls `op` until `durationMs` passed, with `inFlight` outstanding at once (1: each awaited
 * before the next). With more, a new call starts as soon as one settles, so the count never
 * dips the way batches of Promise.all do; the time includes draining the last ones.
 */
export async function timedPool(op: (i: number) => Promise<unknown>, inFlight: number, durationMs: number): Promise<Throughput> {
  const t0 = performance.now();
  const deadline = t0 + durationMs;
  let started = 0;
  let done = 0;
  if (inFlight <= 1) {
    while (performance.now() < deadline) {
      await op(started++);
      done++;
    }
  } else {
    await new Promise<void>((resolve, reject) => {
      let open = 0;
      const launch = (): void => {
        while (open < inFlight && performance.now() < deadline) {
          open++;
          op(started++).then(() => {
            open--;
            done++;
            launch();
          }, reject);
        }
        if (open === 0) resolve();
      };
      launch();
    });
  }
  return { ops: done, ms: performance.now() - t0 };
}

/** Calls `op` for 0..count-1 with `inFlight` outstanding, to fill a store. */
export async function fill(count: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await op(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane));
}

/** Size of an LMDB environment's data file (lmdb-js with a directory path writes `data.mdb` in it). */
export function dataFileBytes(dir: string): number {
  return statSync(join(dir, 'data.mdb')).size;
}

/** CLOCK_MONOTONIC in ms: one time line for every process of the host, unlike each process's performance.now(). */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * A line per series over a (log-scaled, when asked) x axis; points that carry `lo` and `hi`
 * (p25 and p75 of the repeats) get a vertical bar between them, so the spread shows beside the median.
 * `target` draws a dashed horizontal line: the bound or target the values are judged against.
 */
export function lineChart(title: string, subtitle: string, points: readonly Record<string, string | number>[], x: { field: string; title: string; log?: boolean }, y: { field: string; title: string; log?: boolean }, series: string, target?: number): TopLevelSpec {
  const xEnc = { field: x.field, type: 'quantitative' as const, title: x.title, scale: x.log === true ? { type: 'log' as const } : { zero: false } };
  const yScale = y.log === true ? { type: 'log' as const } : { zero: true };
  const color = { field: series, type: 'nominal' as const, title: null, legend: { orient: 'bottom' as const, columns: 2, labelLimit: 400 } };
  const withSpread = points.some((p) => p['lo'] !== undefined && p['hi'] !== undefined);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle },
    config: { font: 'DejaVu Sans', view: { stroke: '#ddd' } },
    width: 520,
    height: 260,
    data: { values: points.map((p) => ({ ...p })) },
    layer: [
      { mark: { type: 'line', point: true }, encoding: { x: xEnc, y: { field: y.field, type: 'quantitative', title: y.title, scale: yScale }, color } },
      ...(withSpread ? [{ mark: { type: 'rule' as const, strokeWidth: 2, opacity: 0.6 }, encoding: { x: xEnc, y: { field: 'lo', type: 'quantitative' as const, scale: yScale }, y2: { field: 'hi' }, color } }] : []),
      ...(target === undefined ? [] : [{ data: { values: [{ target }] }, mark: { type: 'rule' as const, strokeDash: [4, 4], color: '#c00' }, encoding: { y: { field: 'target', type: 'quantitative' as const } } }]),
    ],
  };
}

/** Tells every worker to quit and waits for it (killing one that does not exit, or whose channel is gone). */
export async function quitAll(workers: readonly Child[]): Promise<void> {
  for (const w of workers) {
    try {
      w.send({ type: 'job', job: { kind: 'quit' } });
    } catch {
      w.kill();
    }
  }
  await Promise.all(workers.map((w) => w.stop(5_000)));
}
