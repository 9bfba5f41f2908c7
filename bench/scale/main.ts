/**
 * `npm run bench:scale`: how herdcache's costs grow with the work (entries, value size, processes,
 * computes in flight, readers), each beside its natural baseline in the same run; writes
 * scale.{json,md} and figures under bench/results/local/ unless told `--out DIR`.
 *
 * The parent forks one process per part (this file again, with `--run-part NAME`), so that a part
 * starts on a fresh heap with no code optimized for another part's shapes, and one part's crash
 * is reported rather than ending the suite.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Child, sendToParent, type Message } from '../lib/children.js';
import { commandLine, firstLine, nameList, positiveNumber } from '../lib/flags.js';
import { machineLine } from '../lib/machine.js';
import { RESULTS_DIR } from '../lib/paths.js';
import { Progress } from '../lib/progress.js';
import { cold } from './cold.js';
import type { Part, PartOutput, Settings } from './common.js';
import { hits } from './hits.js';
import { memory } from './memory.js';
import { writeReports, type PartRecord } from './report.js';
import { sets } from './sets.js';
import { staleness } from './staleness.js';
import { stalls } from './stalls.js';
import { start } from './start.js';

const PARTS: readonly Part[] = [hits, sets, memory, cold, start, stalls, staleness];
const NAMES = PARTS.map((p) => p.name);
/** Far beyond what any part takes by default: only a hung part meets it. */
const PART_TIMEOUT_MS = 30 * 60_000;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    parts: { type: 'string' },
    repeats: { type: 'string' },
    out: { type: 'string' },
    'run-part': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help === true) {
  process.stdout.write(`Options:
  --quick          every part tiny (the whole suite in well under a minute): a smoke check, not a measurement
  --parts a,b      parts to run (default all): ${NAMES.join(', ')}
  --repeats N      repeats of every part (default: 5, or 3 for memory, stalls and staleness; 3 with --quick)
  --out DIR        where scale.json, scale.md and scale/*.{svg,png} go (default bench/results/local)
`);
  process.exit(0);
}

const quick = values.quick === true;
const chosen = nameList('parts', values.parts, NAMES, NAMES);
const repeatsFlag = values.repeats === undefined ? undefined : positiveNumber('repeats', values.repeats, 1, true);

function settingsOf(part: Part): Settings {
  return { quick, repeats: repeatsFlag ?? (quick ? 3 : part.repeats) };
}

function partNamed(name: string): Part {
  const part = PARTS.find((p) => p.name === name);
  if (part === undefined) throw new Error(`unknown part "${name}"`);
  return part;
}

/** The child side: runs one part and hands its output to the parent. */
async function runPart(name: string): Promise<void> {
  const part = partNamed(name);
  const output = await part.run(settingsOf(part), new Progress(`scale ${name}`));
  await sendToParent({ type: 'result', output });
}

/** The parent side: one process per part, in order; a part that fails is reported, the rest still run. */
async function runSuite(): Promise<void> {
  const machine = machineLine();
  const args = process.argv.slice(2);
  const command = commandLine('bench:scale', args);
  const out = values.out ?? RESULTS_DIR;
  const self = fileURLToPath(import.meta.url);
  const records: PartRecord[] = [];
  const t0 = performance.now();
  for (const name of chosen) {
    const part = partNamed(name);
    const settings = settingsOf(part);
    const childArgs = ['--run-part', name, ...(quick ? ['--quick'] : []), ...(repeatsFlag === undefined ? [] : ['--repeats', String(repeatsFlag)])];
    process.stderr.write(`[scale] ${name}: ${part.title}\n`);
    const started = performance.now();
    const child = new Child(self, `part ${name}`, childArgs);
    try {
      const { output } = await child.next<Message & { output: PartOutput }>('result', PART_TIMEOUT_MS);
      await child.stop(10_000);
      records.push({ name, title: part.title, settings, wallMs: performance.now() - started, output });
    } catch (error) {
      child.kill();
      process.stderr.write(`[scale] ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      records.push({ name, title: part.title, settings, wallMs: performance.now() - started, error: firstLine(error) });
    }
    process.stderr.write(`[scale] ${name} took ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  }
  const md = await writeReports(out, records, machine, command, performance.now() - t0);
  process.stdout.write(`Report: ${md}\n`);
  if (records.some((r) => r.output === undefined)) process.exitCode = 1;
}

const partName = values['run-part'];
if (partName !== undefined) {
  runPart(partName).then(
    () => process.disconnect(),
    async (error: unknown) => {
      await sendToParent({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }).catch(() => {});
      process.exit(1);
    },
  );
} else {
  await runSuite();
}
