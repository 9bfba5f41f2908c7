/**
 * `npm run bench:hot`: ns/op and ops/s of herdcache's hot paths beside lru-cache, lmdb-js,
 * bentocache and cache-manager, measured in one run; writes bench/results/hot.{json,md}.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { commandLine, positiveNumber } from './lib/flags.js';
import { machineLine } from './lib/machine.js';
import { RESULTS_DIR } from './lib/paths.js';
import { Progress } from './lib/progress.js';
import { setUp, setUpWalk } from './hot/contenders.js';
import { consumed } from './hot/measure.js';
import { markdownReport, ratios, terminalReport } from './hot/report.js';
import { measureSession, type SessionResult, type SessionSettings } from './hot/session.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string' },
    'round-ms': { type: 'string' },
    'warmup-ms': { type: 'string' },
    pairs: { type: 'string' },
    'pair-ms': { type: 'string' },
    out: { type: 'string' },
    name: { type: 'string' },
    'walk-only': { type: 'boolean' },
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
  --walk-only      measure only the reads that walk every key, print JSON (the run does this in a child)
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

const settings: SessionSettings = { rounds, roundMs, warmupMs, pairs, pairMs };

if (values['walk-only'] === true) {
  // The child run: only the reads that walk every key, reported to the parent as JSON.
  const walk = await setUpWalk();
  try {
    const session = await measureSession(walk.operations, settings, new Progress(`${name}: every key in turn`));
    process.stdout.write(`${JSON.stringify({ ...session, checksum: consumed() % 10 })}\n`);
  } finally {
    await walk.close();
  }
} else {
  const machine = machineLine();
  const setup = await setUp();
  let session: SessionResult;
  try {
    session = await measureSession(setup.operations, settings, new Progress(name));
  } finally {
    await setup.close();
  }
  const walked = walkInOwnProcess(process.argv.slice(2));
  const results = [...session.results, ...walked.results];
  const ratioRows = ratios(results, new Map([...session.paired, ...walked.paired]));
  mkdirSync(out, { recursive: true });
  const command = commandLine('bench:hot', process.argv.slice(2));
  writeFileSync(join(out, `${name}.json`), `${JSON.stringify({ machine, rounds, roundMs, pairs, pairMs, results, ratios: ratioRows }, null, 2)}\n`);
  writeFileSync(join(out, `${name}.md`), markdownReport(results, ratioRows, machine, rounds, roundMs, command));
  process.stdout.write(`\n${terminalReport(results, ratioRows)}\n\nReport: ${join(out, `${name}.md`)} (checksum ${consumed() % 10})\n`);
}

/**
 * Runs the every-key reads in a child process. In this one they would teach V8 that a hit
 * reorders the table, and that slows the one-key reads of lru-cache (measured: 11 ns became
 * 15 ns), so each kind of read is measured in a process of its own.
 */
function walkInOwnProcess(args: readonly string[]): SessionResult {
  const output = execFileSync(process.execPath, [fileURLToPath(import.meta.url), ...args, '--walk-only'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(output) as SessionResult;
}
