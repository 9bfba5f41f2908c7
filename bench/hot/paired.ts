import { percentiles } from '../lib/histogram.js';
import type { Operation } from './measure.js';

/** A ratio the product aims for: numerator ns/op over denominator ns/op. */
export interface RatioTarget {
  readonly label: string;
  readonly numerator: string;
  readonly denominator: string;
  readonly target: string;
  /** Undefined for ratios shown for reference only. */
  readonly met?: (ratio: number) => boolean;
}

/** The ratios of the hot-path targets, and others shown for reference. */
export const RATIO_TARGETS: readonly RatioTarget[] = [
  { label: 'herdcache L1 getSync / lru-cache get', numerator: 'l1-getSync', denominator: 'lru-get', target: '<= 1.5x (never worse than 2x)', met: (v) => v <= 1.5 },
  { label: 'herdcache L1 getSync / lru-cache get, every key in turn', numerator: 'l1-getSync-walk', denominator: 'lru-get-walk', target: '(for reference: every hit reorders)' },
  { label: 'herdcache L1 getSync / lru-cache get with a ttl', numerator: 'l1-getSync', denominator: 'lru-get-ttl', target: '(for reference: both check expiry)' },
  { label: 'bentocache getOrSet hit / herdcache L1 compute hit', numerator: 'bento-getOrSet', denominator: 'l1-compute', target: '>= 40x', met: (v) => v >= 40 },
  { label: "herdcache L2 getSync / raw lmdb-js get (herdcache's encoding)", numerator: 'l2-getSync', denominator: 'lmdb-get-shared', target: '<= 1.5x', met: (v) => v <= 1.5 },
  { label: 'herdcache L2 getSync / raw lmdb-js get (default encoding)', numerator: 'l2-getSync', denominator: 'lmdb-get', target: '(for reference)' },
  { label: 'cache-manager wrap hit / herdcache L1 compute hit', numerator: 'manager-wrap', denominator: 'l1-compute', target: '(no target)' },
];

/** One ratio measured in pairs: the median pair and the middle half of the pairs. */
export interface PairedRatio {
  readonly pairs: number;
  readonly p25: number;
  readonly median: number;
  readonly p75: number;
}

/** The ns per op of each side in every pair, and their ratio, in the order measured. */
export interface PairSamples {
  readonly a: number[];
  readonly b: number[];
  readonly ratios: number[];
}

/**
 * Measures `a / b` as many adjacent pairs of short bursts (their order alternating), one ratio
 * per pair. On a shared virtual machine the speed of a core drifts over seconds (neighbours,
 * frequency); two bursts a few ms apart see the same drift, two rounds a second apart do not.
 */
export async function pairedSamples(a: Operation, aIterations: number, b: Operation, bIterations: number, pairs: number): Promise<PairSamples> {
  const samples: PairSamples = { a: [], b: [], ratios: [] };
  for (let i = 0; i < pairs; i++) {
    let aNs: number;
    let bNs: number;
    if (i % 2 === 0) {
      aNs = (await a.run(aIterations)) / aIterations;
      bNs = (await b.run(bIterations)) / bIterations;
    } else {
      bNs = (await b.run(bIterations)) / bIterations;
      aNs = (await a.run(aIterations)) / aIterations;
    }
    samples.a.push(aNs);
    samples.b.push(bNs);
    samples.ratios.push(aNs / bNs);
  }
  return samples;
}

/** {@link pairedSamples}, summed up: the median pair and the middle half of the pairs. */
export async function pairedRatio(a: Operation, aIterations: number, b: Operation, bIterations: number, pairs: number): Promise<PairedRatio> {
  const { ratios } = await pairedSamples(a, aIterations, b, bIterations, pairs);
  const [p25, median, p75] = percentiles(ratios, [25, 50, 75]) as [number, number, number];
  return { pairs, p25, median, p75 };
}
