import * as hdr from 'hdr-histogram-js';

/** Percentiles of a set of durations, in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * Summarizes durations given in milliseconds with an HDR histogram (recorded in nanoseconds,
 * 3 significant digits): every percentile in the bench comes from here.
 */
export function summarize(durationsMs: Iterable<number>): LatencySummary {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: 3 });
  try {
    for (const ms of durationsMs) histogram.recordValue(Math.max(1, Math.round(ms * 1e6)));
    const count = histogram.totalCount;
    if (count === 0) return { count: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
    return {
      count,
      p50: histogram.getValueAtPercentile(50) / 1e6,
      p99: histogram.getValueAtPercentile(99) / 1e6,
      max: histogram.maxValue / 1e6,
    };
  } finally {
    histogram.destroy();
  }
}

/**
 * Percentiles of a few positive measurements (e.g. ns/op of several rounds, or ratios), through
 * the same histogram, recorded in thousandths so that small values keep their fraction.
 */
export function percentiles(values: readonly number[], at: readonly number[]): number[] {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: 3 });
  try {
    for (const v of values) histogram.recordValue(Math.max(1, Math.round(v * 1_000)));
    return at.map((p) => (histogram.totalCount === 0 ? Number.NaN : histogram.getValueAtPercentile(p) / 1_000));
  } finally {
    histogram.destroy();
  }
}

/** The median of a few positive measurements (see {@link percentiles}). */
export function median(values: readonly number[]): number {
  return percentiles(values, [50])[0]!;
}
