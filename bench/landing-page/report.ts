import { count, markdownTable, ms, textTable } from '../lib/table.js';
import { SLOW_MS, type StrategyResult } from './analyze.js';
import type { LandingParams } from './params.js';

const HEADER = ['strategy', 'calls', 'computes', 'in background', 'computes / ttl', 'max concurrent', 'p50 ms', 'p99 ms', 'max ms', `calls > ${SLOW_MS} ms`, 'errors'];

function row(r: StrategyResult): string[] {
  if (r.failed !== undefined) return [r.label, 'failed', '', '', '', '', '', '', '', '', ''];
  return [
    r.label,
    count(r.calls),
    count(r.computes),
    count(r.backgroundComputes),
    r.computesPerTtl.toFixed(2),
    String(r.maxConcurrent),
    ms(r.latency.p50),
    ms(r.latency.p99),
    ms(r.latency.max),
    count(r.slowCalls),
    count(r.errors),
  ];
}

/** The results as an aligned text table, for the terminal. */
export function terminalTable(results: readonly StrategyResult[]): string {
  return textTable(HEADER, results.map(row));
}

interface Check {
  readonly claim: string;
  readonly measured: string;
  readonly met: boolean;
}

/** The targets of DESIGN.md ("Numbers the product aims for"), for the strategies that ran. */
export function checks(results: readonly StrategyResult[]): Check[] {
  const by = (name: string): StrategyResult | undefined => results.find((r) => r.name === name && r.failed === undefined);
  const peers = results.filter((r) => r.family === 'peer' && r.failed === undefined);
  const fewestPeer = peers.length === 0 ? undefined : Math.min(...peers.map((p) => p.computes));
  const out: Check[] = [];
  const barrier = by('barrier');
  if (barrier) out.push({ claim: 'barrier(): max concurrent computes across processes = 1', measured: String(barrier.maxConcurrent), met: barrier.maxConcurrent === 1 });
  const staleBarrier = by('stale-barrier');
  if (staleBarrier) {
    out.push({
      claim: '[serveStale, barrier]: about one compute per ttl period on the whole machine',
      measured: `${staleBarrier.computesPerTtl.toFixed(2)} per ttl period (${staleBarrier.computes} computes)`,
      met: staleBarrier.computesPerTtl <= 1.5,
    });
    out.push({ claim: `[serveStale, barrier]: no call > ${SLOW_MS} ms after warm-up`, measured: String(staleBarrier.slowCalls), met: staleBarrier.slowCalls === 0 });
  }
  for (const name of ['xfetch-1', 'flagship']) {
    const r = by(name);
    if (!r) continue;
    out.push({ claim: `${r.label}: no call > ${SLOW_MS} ms after warm-up`, measured: String(r.slowCalls), met: r.slowCalls === 0 });
    out.push({ claim: `${r.label}: p99 < 1 ms`, measured: `${ms(r.latency.p99)} ms`, met: r.latency.p99 < 1 });
    out.push({ claim: `${r.label}: max 1 concurrent compute`, measured: String(r.maxConcurrent), met: r.maxConcurrent === 1 });
    if (fewestPeer !== undefined) {
      out.push({ claim: `${r.label}: fewer computes than any peer`, measured: `${r.computes} vs fewest peer ${fewestPeer}`, met: r.computes < fewestPeer });
    }
  }
  return out;
}

/** The markdown report: parameters, table, targets, setups, the figures and the method. */
export function markdownReport(params: LandingParams, results: readonly StrategyResult[], machine: string, figureDir: string, command: string): string {
  const targetRows = checks(results).map((c) => [c.claim, c.measured, c.met ? 'met' : '**not met**']);
  const failed = results.filter((r) => r.failed !== undefined);
  const lines = [
    '# Landing page case study',
    '',
    `Measured with \`${command}\` on ${machine}.`,
    '',
    `${params.processes} OS processes × ${params.workers} async workers; each worker calls, then sleeps ${params.sleep} ms, for ${params.duration / 1000} s.`,
    `The work takes ${params.compute} ms (a timer: I/O-like); ttl ${params.ttl} ms; serveStale maxAge / bentocache grace ${params.maxAge} ms;`,
    `cache-manager refreshThreshold ${params.refreshThreshold} ms. Every herdcache process of a strategy shares one fresh LMDB directory;`,
    'the peers keep one cache per process, as they are built to.',
    '',
    `![summary](${figureDir}/summary.png)`,
    '',
    markdownTable(HEADER, results.map(row)),
    '',
    ...(failed.length > 0 ? ['**Runs that could not be completed:**', '', ...failed.map((r) => `- ${r.label}: ${r.failed ?? ''}`), ''] : []),
    ...(targetRows.length > 0 ? ['## Against the targets of DESIGN.md', '', markdownTable(['target', 'measured', ''], targetRows), ''] : []),
    '## How each strategy is set up',
    '',
    ...results.map((r) => `- **${r.label}**: ${r.setup}`),
    '',
    '## Figures',
    '',
    'Top: computes in flight at each instant, summed over every process. Bottom: the latency of every call',
    '(the warm-up calls in orange). The x axis starts at the first warm-up call; the processes warm up one after another.',
    '',
    ...results
      .filter((r) => r.failed === undefined)
      .flatMap((r) => [`### ${r.label}`, '', `![${r.label}](${figureDir}/${r.name}.png)`, '', `[SVG](${figureDir}/${r.name}.svg)`, '']),
    '## Method',
    '',
    '- Every call and every run of the work is recorded with its wall-clock start and end in the process where it',
    '  happened (sub-millisecond clock: `performance.timeOrigin + performance.now()`), and sent to the parent process.',
    '- Warm-up: before the run, each process makes one call, one process after the other. Those calls and the computes',
    '  they start are left out of the columns, except "max concurrent", which sweeps over every compute of the run.',
    '- "computes" counts the runs of the work started after the warm-up, in every process; "in background" those that',
    '  finished after the call that started them had returned (refreshes: XFetch, serve-stale, grace, refreshThreshold).',
    '- "max concurrent" is a sweep over the start (+1) and end (-1) events of every compute of every process.',
    '- Latency percentiles come from an HDR histogram (hdr-histogram-js, 3 significant digits), over the calls after',
    '  the warm-up; the latency of a call is measured around one `await` of the strategy\'s call.',
    `- "computes / ttl" is computes divided by the number of ttl periods in the measured ${params.duration / 1000} s.`,
    '',
  ];
  return lines.join('\n');
}
