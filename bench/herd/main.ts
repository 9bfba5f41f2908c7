/**
 * `npm run bench:herd`: 100 simultaneous requests on a cold cache, compute 2 s, in one process
 * and as 5 processes × 20 requests started at one instant, then as 3 machines × 20 requests
 * (processes with their own LMDB files sharing one Redis); herdcache beside the peers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { commandLine, firstLine, nameList, positiveNumber } from '../lib/flags.js';
import { machineLine } from '../lib/machine.js';
import { RESULTS_DIR } from '../lib/paths.js';
import { Progress } from '../lib/progress.js';
import { REDIS_SERVER_MISSING, redisServerInstalled } from '../lib/redis-server.js';
import { MACHINE_CONTENDERS, missingRedisClient } from './cross-machine.js';
import { herdSpec, runHerd, type HerdResult, type Shape } from './run.js';
import { markdownReport, shapeText, terminalTable, type Skipped } from './report.js';

const HERD_CONTENDERS = ['none', 'ttl', 'coalesce', 'barrier', 'coalesce-barrier', 'lru-cache', 'bentocache', 'cache-manager'];
const SHAPES = ['single', 'processes', 'machines'];

const { values } = parseArgs({
  options: {
    requests: { type: 'string' },
    processes: { type: 'string' },
    machines: { type: 'string' },
    'per-machine': { type: 'string' },
    shapes: { type: 'string' },
    compute: { type: 'string' },
    contenders: { type: 'string' },
    out: { type: 'string' },
    name: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help === true) {
  process.stdout.write(`Options:
  --requests N           requests in all, single and processes shapes (default 100)
  --processes N          processes of the processes shape; must divide --requests (default 5)
  --machines N           machines of the machines shape: processes with their own LMDB file,
                         sharing one redis-server the bench starts and stops (default 3)
  --per-machine N        requests per machine (default 20)
  --shapes a,b,...       subset of: single (1 process), processes (one machine), machines
                         (needs redis-server; skipped with a message when it is missing)
                         (default all three)
  --compute MS           time the work takes, a timer (default 2000)
  --contenders a,b,...   subset of: ${HERD_CONTENDERS.join(', ')}
                         (the machines shape runs those of them with a Redis setup:
                         ${MACHINE_CONTENDERS.map((c) => c.name).join(', ')})
  --out DIR              where the report goes (default bench/results)
  --name NAME            report name (default herd)
`);
  process.exit(0);
}
const requests = positiveNumber('requests', values.requests, 100, true);
const processes = positiveNumber('processes', values.processes, 5, true);
if (requests % processes !== 0) throw new Error(`--processes (${processes}) must divide --requests (${requests})`);
const machineCount = positiveNumber('machines', values.machines, 3, true);
const perMachine = positiveNumber('per-machine', values['per-machine'], 20, true);
const shapeNames = nameList('shapes', values.shapes, SHAPES, SHAPES);
const compute = positiveNumber('compute', values.compute, 2_000);
const names = nameList('contenders', values.contenders, HERD_CONTENDERS, HERD_CONTENDERS);
const out = values.out ?? RESULTS_DIR;
const name = values.name ?? 'herd';
// Long enough that nothing expires during a run, as in the seed benchmark (300 s).
const ttl = 300_000;

const shapes: Shape[] = [];
if (shapeNames.includes('single')) shapes.push({ processes: 1, perProcess: requests });
if (shapeNames.includes('processes')) shapes.push({ processes, perProcess: requests / processes });
const machineShape: Shape = { processes: machineCount, perProcess: perMachine, machines: true };
const skipped: Skipped[] = [];
if (shapeNames.includes('machines')) {
  // A missing server or client skips this shape only: the rest of the bench runs and passes.
  const reason = redisServerInstalled() ? await missingRedisClient() : REDIS_SERVER_MISSING;
  if (reason === undefined) shapes.push(machineShape);
  else skipped.push({ shape: shapeText(machineShape), reason });
}

const runs = shapes.flatMap((shape) =>
  names.filter((n) => shape.machines !== true || MACHINE_CONTENDERS.some((c) => c.name === n)).map((contenderName) => ({ contenderName, shape })),
);
// Contender by contender as before; the cross-machine runs come last, after the local ones.
runs.sort((a, b) => Number(a.shape.machines === true) - Number(b.shape.machines === true) || names.indexOf(a.contenderName) - names.indexOf(b.contenderName));

const machine = machineLine();
const progress = new Progress(name);
for (const skip of skipped) process.stderr.write(`[${name}] ${skip.shape}: skipped: ${skip.reason}\n`);
const results: HerdResult[] = [];
for (const [index, { contenderName, shape }] of runs.entries()) {
  const spec = herdSpec(contenderName, shape);
  const what = `${spec.label}, ${shapeText(shape)}`;
  progress.step(index + 1, runs.length, what, compute + 1_500);
  try {
    const result = await runHerd(contenderName, shape, compute, ttl);
    results.push(result);
    progress.done(`${what}: ${result.computes} computes, max ${result.maxConcurrent} concurrent`);
  } catch (error) {
    const reason = firstLine(error);
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    results.push({
      contender: contenderName,
      label: spec.label,
      family: spec.family,
      shape,
      requests: 0,
      computes: 0,
      maxConcurrent: 0,
      startSpread: Number.NaN,
      wall: Number.NaN,
      latency: { count: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN },
      errors: 0,
      failed: reason,
    });
    progress.done(`${what}: FAILED: ${reason}`);
  }
}
const command = commandLine('bench:herd', process.argv.slice(2));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, `${name}.md`), markdownReport(results, skipped, compute, machine, command));
writeFileSync(
  join(out, `${name}.json`),
  `${JSON.stringify({ machine, requests, processes, machines: machineCount, perMachine, shapes: shapeNames, compute, skipped, results }, null, 2)}\n`,
);
const skippedLines = skipped.map((s) => `\n${s.shape}: skipped: ${s.reason}`).join('');
process.stdout.write(`\n${terminalTable(results)}\n${skippedLines}\n\nReport: ${join(out, `${name}.md`)}\n`);
// Skipped shapes are not failures: only a run that could not be completed is.
process.exitCode = results.some((r) => r.failed !== undefined) ? 1 : 0;
