/**
 * `npm run bench:hot`: ns/op and ops/s of herdcache's hot paths beside lru-cache, lmdb-js,
 * bentocache and cache-manager, measured in one run; writes bench/results/hot.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { commandLine, positiveNumber } from './lib/flags.js';
import { median } from './lib/histogram.js';
import { machineLine } from './lib/machine.js';
import { RESULTS_DIR } from './lib/paths.js';
import { Progress } from './lib/progress.js';
import { setUp } from './hot/contenders.js';
import { calibrate, consumed } from './hot/measure.js';
import { pairedRatio, RATIO_TARGETS, type PairedRatio } from './hot/paired.js';
import { markdownReport, ratios, terminalReport, type OperationResult } from './hot/report.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string' },
    'round-ms': { type: 'string' },
    'warmup-ms': { type: 'string' },
    pairs: { type: 'string' },
    'pair-ms': { type: 'string' },
    out: { type: 'string' },
    name: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help === true) {
  process.stdout.write(`Options:
  --rounds N       measured rounds per operation (default 9)
  --round-ms MS    length of one round of one operation (default 100)
  --warmup-ms MS   warm-up per operation before measuring (default 300)
  --pairs N        adjacent burst pairs per ratio (default 21)
  --pair-ms MS     length of one burst of a pair (default 25)
  --out DIR        where hot.json and hot.md go (default bench/results)
  --name NAME      report name (default hot)
`);
  process.exit(0);
}
const rounds = positiveNumber('rounds', values.rounds, 9, true);
const roundMs = positiveNumber('round-ms', values['round-ms'], 100);
const warmupMs = positiveNumber('warmup-ms', values['warmup-ms'], 300);
const pairs = positiveNumber('pairs', values.pairs, 21, true);
const pairMs = positiveNumber('pair-ms', values['pair-ms'], 25);
const out = values.out ?? RESULTS_DIR;
const name = values.name ?? 'hot';

const machine = machineLine();
const progress = new Progress(name);
const setup = await setUp();
try {
  const ops = setup.operations;
  const iterations = new Map<string, number>();
  progress.step(0, rounds, 'warm-up', ops.length * warmupMs * 1.5);
  for (const op of ops) {
    await op.run(await calibrate(op, warmupMs));
    iterations.set(op.name, await calibrate(op, roundMs));
  }
  progress.done(`warmed up ${ops.length} operations`);
  const samples = new Map<string, number[]>(ops.map((op) => [op.name, []]));
  for (let round = 0; round < rounds; round++) {
    progress.step(round + 1, rounds, 'round', ops.length * roundMs);
    // Rotate the order so that no operation always runs right after the same neighbour (GC, caches).
    for (let k = 0; k < ops.length; k++) {
      const op = ops[(round + k) % ops.length]!;
      const n = iterations.get(op.name)!;
      samples.get(op.name)!.push((await op.run(n)) / n);
    }
  }
  progress.done(`${rounds} rounds measured`);
  const results: OperationResult[] = ops.map((op) => {
    const perOp = samples.get(op.name)!;
    const ns = median(perOp);
    return { name: op.name, label: op.label, nsPerOp: ns, opsPerSec: 1e9 / ns, fastest: Math.min(...perOp), slowest: Math.max(...perOp), iterations: iterations.get(op.name)! };
  });
  const byName = new Map(ops.map((op) => [op.name, op]));
  const burst = (name: string): number => Math.max(1, Math.round((iterations.get(name)! * pairMs) / roundMs));
  const paired = new Map<string, PairedRatio>();
  for (const [i, t] of RATIO_TARGETS.entries()) {
    progress.step(i + 1, RATIO_TARGETS.length, 'ratio', pairs * pairMs * 2);
    paired.set(t.label, await pairedRatio(byName.get(t.numerator)!, burst(t.numerator), byName.get(t.denominator)!, burst(t.denominator), pairs));
  }
  progress.done(`${RATIO_TARGETS.length} ratios measured in ${pairs} pairs each`);
  const ratioRows = ratios(results, paired);
  mkdirSync(out, { recursive: true });
  const command = commandLine('bench:hot', process.argv.slice(2));
  writeFileSync(join(out, `${name}.json`), `${JSON.stringify({ machine, rounds, roundMs, pairs, pairMs, results, ratios: ratioRows }, null, 2)}\n`);
  writeFileSync(join(out, `${name}.md`), markdownReport(results, ratioRows, machine, rounds, roundMs, command));
  process.stdout.write(`\n${terminalReport(results, ratioRows)}\n\nReport: ${join(out, `${name}.md`)} (checksum ${consumed() % 10})\n`);
} finally {
  await setup.close();
}
