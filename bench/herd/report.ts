import { count, markdownTable, ms, textTable } from '../lib/table.js';
import type { HerdResult, Shape } from './run.js';

/** A shape that did not run, and why (redis-server missing...). */
export interface Skipped {
  readonly shape: string;
  readonly reason: string;
}

const HEADER = ['contender', 'shape', 'requests', 'computes', 'max concurrent', 'start spread ms', 'wall ms', 'p50 ms', 'max ms', 'errors'];

/** How the report names a shape: "1 process × 100", "5 processes × 20", "3 machines × 20". */
export function shapeText(shape: Shape): string {
  if (shape.machines === true) return `${shape.processes} machine${shape.processes === 1 ? '' : 's'} × ${shape.perProcess}`;
  return shape.processes === 1 ? `1 process × ${shape.perProcess}` : `${shape.processes} processes × ${shape.perProcess}`;
}

function row(r: HerdResult): string[] {
  if (r.failed !== undefined) return [r.label, shapeText(r.shape), 'failed', '', '', '', '', '', '', ''];
  return [r.label, shapeText(r.shape), count(r.requests), count(r.computes), String(r.maxConcurrent), ms(r.startSpread), ms(r.wall), ms(r.latency.p50), ms(r.latency.max), count(r.errors)];
}

/** The results as an aligned text table, for the terminal. */
export function terminalTable(results: readonly HerdResult[]): string {
  return textTable(HEADER, results.map(row));
}

function targetScope(r: HerdResult): string {
  if (r.shape.machines === true) return 'across the machines';
  return r.shape.processes === 1 ? 'in the process' : 'on the machine';
}

/** The markdown report of the herd run. */
export function markdownReport(results: readonly HerdResult[], skipped: readonly Skipped[], compute: number, machine: string, command: string): string {
  const local = results.filter((r) => r.shape.machines !== true);
  const crossMachine = results.filter((r) => r.shape.machines === true);
  const onceTargets = results.filter((r) => r.contender === 'barrier' || r.contender === 'coalesce-barrier');
  const targets = onceTargets.map((r) => [
    `${r.label}, ${shapeText(r.shape)}: exactly 1 compute ${targetScope(r)}`,
    r.failed !== undefined ? 'failed' : String(r.computes),
    r.failed === undefined && r.computes === 1 ? 'met' : '**not met**',
  ]);
  const failed = results.filter((r) => r.failed !== undefined);
  const machinesShape = crossMachine[0]?.shape;
  return [
    '# Thundering herd',
    '',
    `Measured with \`${command}\` on ${machine}.`,
    '',
    `A cold cache, a ${compute} ms compute (a timer), and every request fired at one wall-clock instant: once as one`,
    'process with all the requests, once spread over several processes told the same start instant, and once over',
    'several "machines" sharing one Redis. Each contender runs on a fresh LMDB directory shared by its processes',
    '(herdcache); the peers keep one cache per process.',
    '',
    ...(local.length > 0 ? [markdownTable(HEADER, local.map(row)), ''] : []),
    ...(crossMachine.length > 0 || skipped.length > 0 ? ['## Across machines', ''] : []),
    ...(machinesShape !== undefined
      ? [
          `${machinesShape.processes} OS processes, each standing for one machine: its own LMDB directory, and one`,
          'redis-server (started by the bench on a free loopback port, fresh for each contender, stopped after) shared',
          'by all of them. herdcache stacks memory → LMDB → Redis; bentocache uses its documented multi-tier setup,',
          'a memory L1, a Redis L2 and a Redis bus. Every cache is connected to Redis before the start instant.',
          '',
          markdownTable(HEADER, crossMachine.map(row)),
          '',
        ]
      : []),
    ...skipped.map((s) => `- ${s.shape}: skipped: ${s.reason}`),
    ...(skipped.length > 0 ? [''] : []),
    ...(failed.length > 0 ? ['**Runs that could not be completed:**', '', ...failed.map((r) => `- ${r.label}, ${shapeText(r.shape)}: ${r.failed ?? ''}`), ''] : []),
    ...(targets.length > 0 ? ['## Against the target of DESIGN.md', '', markdownTable(['target', 'measured', ''], targets), ''] : []),
    '## Reading the table',
    '',
    '- "computes" counts every run of the work in every process; "max concurrent" sweeps their start and end events.',
    '- "start spread" is the time between the first and the last request start, across processes: how simultaneous the herd was.',
    '- `coalesce()` alone is in-process singleflight: one compute per process is what it promises. Composed with',
    '  `barrier()` (which holds its lease in the LMDB file every process shares) it computes once on the machine.',
    '- lru-cache `fetch`, bentocache `getOrSet` and cache-manager `wrap` deduplicate concurrent misses inside one',
    '  process; their caches are per process, so spread over processes each process computes.',
    '- Across machines, `barrier()` takes its lease in Redis (`SET NX PX`, released by token) when a Redis tier is in',
    '  the stack, so one machine computes and the others wait for the entry. bentocache shares values through its',
    '  Redis L2 and keeps its L1 copies in step with its bus; its stampede protection is a lock inside each process.',
    '- Latency percentiles come from an HDR histogram (hdr-histogram-js).',
    '',
  ].join('\n');
}
