import { markdownTable, textTable } from '../lib/table.js';

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

/** A ratio of two medians against its target. */
export interface Ratio {
  readonly label: string;
  readonly value: number;
  readonly target: string;
  readonly met: boolean;
}

/** The ratios the product aims for (DESIGN.md and issue 2), from the medians. */
export function ratios(results: readonly OperationResult[]): Ratio[] {
  const ns = (name: string): number | undefined => results.find((r) => r.name === name)?.nsPerOp;
  const out: Ratio[] = [];
  const add = (label: string, a: number | undefined, b: number | undefined, target: string, test: (v: number) => boolean): void => {
    if (a === undefined || b === undefined) return;
    const value = a / b;
    out.push({ label, value, target, met: test(value) });
  };
  add('herdcache L1 getSync / lru-cache get', ns('l1-getSync'), ns('lru-get'), '<= 1.5x (never worse than 2x)', (v) => v <= 1.5);
  add('bentocache getOrSet hit / herdcache L1 compute hit', ns('bento-getOrSet'), ns('l1-compute'), '>= 40x', (v) => v >= 40);
  add("herdcache L2 getSync / raw lmdb-js get (herdcache's encoding)", ns('l2-getSync'), ns('lmdb-get-shared'), '<= 1.5x', (v) => v <= 1.5);
  add('herdcache L2 getSync / raw lmdb-js get (default encoding)', ns('l2-getSync'), ns('lmdb-get'), '(for reference)', () => true);
  add('cache-manager wrap hit / herdcache L1 compute hit', ns('manager-wrap'), ns('l1-compute'), '(no target)', () => true);
  return out;
}

const HEADER = ['operation', 'ns/op (median)', 'ops/s', 'fastest round', 'slowest round'];

function row(r: OperationResult): string[] {
  return [r.label, r.nsPerOp.toFixed(1), Math.round(r.opsPerSec).toLocaleString('en-US'), r.fastest.toFixed(1), r.slowest.toFixed(1)];
}

function ratioRow(r: Ratio): string[] {
  return [r.label, `${r.value.toFixed(2)}x`, r.target, r.target.startsWith('(') ? '' : r.met ? 'met' : 'not met'];
}

/** Table and ratios for the terminal. */
export function terminalReport(results: readonly OperationResult[]): string {
  return `${textTable(HEADER, results.map(row))}\n\n${textTable(['ratio', 'measured', 'target', ''], ratios(results).map(ratioRow))}`;
}

/** The markdown report. */
export function markdownReport(results: readonly OperationResult[], machine: string, rounds: number, roundMs: number, command: string): string {
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
    markdownTable(['ratio', 'measured', 'target', ''], ratios(results).map(ratioRow)),
    '',
    '## Setup',
    '',
    '- The value is the same small page record (about 400 bytes as msgpack) everywhere.',
    '- herdcache L1: `createCache({ lmdb: { path } })` (memory over LMDB, default policies); the value was `set` first.',
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
