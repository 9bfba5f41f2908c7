import { markdownTable, textTable } from '../lib/table.js';
import { RATIO_TARGETS, type PairedRatio } from './paired.js';

/** The median of one operation over the rounds. */
export interface OperationResult {
  readonly name: string;
  readonly label: string;
  readonly nsPerOp: number;
  readonly opsPerSec: number;
  /** Fastest and slowest round, ns/op: how noisy it was. */
  readonly fastest: number;
  readonly slowest: number;
  readonly iterations: number;
}

/** A ratio against its target: measured in pairs, with the ratio of the table's medians beside it. */
export interface Ratio {
  readonly label: string;
  readonly paired: PairedRatio;
  readonly ofMedians: number;
  readonly target: string;
  /** Undefined for a ratio without a target. */
  readonly met: boolean | undefined;
}

/** Joins the paired measurements with the targets and the medians of the table. */
export function ratios(results: readonly OperationResult[], paired: ReadonlyMap<string, PairedRatio>): Ratio[] {
  const ns = (name: string): number | undefined => results.find((r) => r.name === name)?.nsPerOp;
  return RATIO_TARGETS.flatMap((t) => {
    const pair = paired.get(t.label);
    const a = ns(t.numerator);
    const b = ns(t.denominator);
    if (pair === undefined || a === undefined || b === undefined) return [];
    return [{ label: t.label, paired: pair, ofMedians: a / b, target: t.target, met: t.met?.(pair.median) }];
  });
}

const HEADER = ['operation', 'ns/op (median)', 'ops/s', 'fastest round', 'slowest round'];

function row(r: OperationResult): string[] {
  return [r.label, r.nsPerOp.toFixed(1), Math.round(r.opsPerSec).toLocaleString('en-US'), r.fastest.toFixed(1), r.slowest.toFixed(1)];
}

const RATIO_HEADER = ['ratio', 'median of pairs', 'middle half of pairs', 'of the medians above', 'target', ''];

function ratioRow(r: Ratio): string[] {
  const { p25, median, p75 } = r.paired;
  return [r.label, `${median.toFixed(2)}x`, `${p25.toFixed(2)}x - ${p75.toFixed(2)}x`, `${r.ofMedians.toFixed(2)}x`, r.target, r.met === undefined ? '' : r.met ? 'met' : 'not met'];
}

/** Table and ratios for the terminal. */
export function terminalReport(results: readonly OperationResult[], ratioRows: readonly Ratio[]): string {
  return `${textTable(HEADER, results.map(row))}\n\n${textTable(RATIO_HEADER, ratioRows.map(ratioRow))}`;
}

/** The markdown report. */
export function markdownReport(results: readonly OperationResult[], ratioRows: readonly Ratio[], machine: string, rounds: number, roundMs: number, command: string): string {
  const pairs = ratioRows[0]?.paired.pairs ?? 0;
  return [
    '# Hot path',
    '',
    `Measured with \`${command}\` on ${machine}.`,
    '',
    `Every operation is warmed up, then measured in ${rounds} rounds of about ${roundMs} ms each (operations interleaved,`,
    'their order rotated each round); the table gives the median round (from an HDR histogram) with the fastest and',
    'slowest round beside it. Asynchronous operations are awaited one at a time, as a caller would.',
    '',
    markdownTable(HEADER, results.map(row)),
    '',
    `Each ratio is then measured on its own in ${pairs} adjacent pairs of short bursts (numerator and denominator a few ms`,
    'apart, their order alternating): the speed of a shared virtual core drifts over seconds, and two bursts a few ms apart',
    'see the same drift where two rounds a second apart may not. The target is judged on the median pair; the middle half',
    "of the pairs and the ratio of the table's medians are shown beside it.",
    '',
    markdownTable(RATIO_HEADER, ratioRows.map(ratioRow)),
    '',
    '## Setup',
    '',
    '- The value is the same small page record (about 400 bytes as msgpack) everywhere.',
    '- herdcache L1: `createCache({ lmdb: { path } })` (memory over LMDB, default policies); the value was `set` first.',
    '  It and lru-cache hold the same 1,000 other entries beside the value, so both look it up in tables of one size;',
    "  the set benchmarks write to a cache of their own, which keeps them from growing the readers' tables.",
    '- "keys in turn": herdcache L1 `getSync` and lru-cache `get` read all 1,001 keys one after another, so every hit moves',
    '  an entry to the recent end of the table (the one-key reads find theirs there already). This pair runs in a child',
    '  process of its own: in the same process it would teach V8 that hits reorder, which slows the one-key reads.',
    '- herdcache L2: `createCache({ tiers: [lmdbTier({ path })] })`: no memory tier, so every `getSync` reads LMDB and',
    '  decodes the entry record (value + timing).',
    '- set: writes the memory tier and commits to LMDB; "awaited one at a time" waits for every commit, "100 in flight"',
    '  lets LMDB batch the commits.',
    '- lru-cache: `new LRUCache({ max: 10_000 })`. lmdb-js, the same value read back with `get`: once with `open({ path })`',
    "  and its defaults, once in a named database with herdcache's encoding (msgpackr shared structures, `moreTypes`),",
    '  which is the fair baseline for the L2 ratio: the same decode work. bentocache: memory store `memoryDriver({ maxItems: 10_000, serialize: false })`',
    '  (its fastest memory setup), `getOrSet({ key, factory })`. cache-manager v7: `createCache({ ttl })` with its default',
    '  in-memory Keyv store, `wrap(key, fn)`.',
    '',
  ].join('\n');
}
