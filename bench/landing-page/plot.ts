import type { TopLevelSpec } from 'vega-lite';
import { concurrencySteps } from '../lib/concurrency.js';
import type { StrategyResult } from './analyze.js';
import type { LandingParams } from './params.js';
import type { StrategyRecords } from './run.js';

const WIDTH = 760;
const PANEL_HEIGHT = 150;
const FAMILY_COLORS = { domain: ['none', 'herdcache', 'peer'], range: ['#9e9e9e', '#2b6cb0', '#dd8452'] };

/**
 * One figure per strategy, like the case study's: the number of computes in flight over time
 * across every process (a step curve) above the latency of every call (a scatter). Points that
 * would land on the same pixel are drawn once: the picture is the same, the file much smaller.
 */
export function strategyFigure(result: StrategyResult, records: StrategyRecords, params: LandingParams): TopLevelSpec {
  const starts = [...records.calls.map((c) => c.start), ...records.computes.map((c) => c.start)];
  const ends = [...records.calls.map((c) => c.end), ...records.computes.map((c) => c.end)];
  const t0 = Math.min(...starts);
  const until = Math.max(...ends);
  const span = (until - t0) / 1000;
  const maxLatency = Math.max(0, ...records.calls.map((c) => c.end - c.start));
  const yMax = Math.max(params.compute * 1.25, maxLatency * 1.05);
  const seen = new Set<string>();
  const points: Array<{ t: number; ms: number; phase: string }> = [];
  for (const call of records.calls) {
    const t = (call.start - t0) / 1000;
    const ms = call.end - call.start;
    const phase = call.error !== undefined ? 'error' : call.warmup ? 'warm-up' : 'call';
    const pixel = `${Math.round((t / span) * WIDTH)}:${Math.round((ms / yMax) * PANEL_HEIGHT)}:${phase}`;
    if (seen.has(pixel)) continue;
    seen.add(pixel);
    points.push({ t, ms, phase });
  }
  const lanes = params.processes * params.workers;
  const x = { field: 't', type: 'quantitative' as const, title: 'seconds since the first call', scale: { domain: [0, span], nice: false } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: result.label,
      // Two short lines: without a canvas Vega estimates text widths, generously.
      subtitle: [
        `${params.processes} processes × ${params.workers} workers · compute ${params.compute} ms · ttl ${params.ttl} ms`,
        `${result.computes} computes · max ${result.maxConcurrent} concurrent · p99 ${result.latency.p99.toFixed(3)} ms · ${result.slowCalls} calls > 100 ms`,
      ],
    },
    config: { font: 'DejaVu Sans', view: { stroke: '#ddd' } },
    vconcat: [
      {
        title: 'Concurrent computes (all processes)',
        width: WIDTH,
        height: PANEL_HEIGHT,
        data: { values: concurrencySteps(records.computes, t0, until) },
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.2 },
        encoding: {
          x,
          y: { field: 'n', type: 'quantitative', title: 'computes', scale: { domain: [0, Math.max(lanes + 1, result.maxConcurrent)] } },
        },
      },
      {
        title: 'Latency of every call',
        width: WIDTH,
        height: PANEL_HEIGHT,
        data: { values: points },
        mark: { type: 'point', filled: true, size: 10, opacity: 0.7 },
        encoding: {
          x,
          y: { field: 'ms', type: 'quantitative', title: 'ms', scale: { domain: [0, yMax], nice: false } },
          color: {
            field: 'phase',
            type: 'nominal',
            title: null,
            scale: { domain: ['call', 'warm-up', 'error'], range: ['#2b6cb0', '#dd8452', '#c53030'] },
            legend: { orient: 'bottom', direction: 'horizontal' },
          },
        },
      },
    ],
  };
}

function panel(results: readonly StrategyResult[], field: string, title: string, showLabels: boolean, logMax?: number): Record<string, unknown> {
  const order = results.map((r) => r.label);
  // A bar on a log scale needs a floor to start from: 1 µs, below anything a call takes.
  const log = logMax === undefined ? {} : { scale: { type: 'log', domain: [0.001, logMax], clamp: true }, axis: { values: [0.001, 0.01, 0.1, 1, 10, 100, 1000, 10000], format: '~g' } };
  return {
    width: 150,
    height: { step: 18 },
    title,
    encoding: {
      y: { field: 'label', type: 'nominal', sort: order, title: null, axis: showLabels ? {} : null },
      x: { field, type: 'quantitative', title: null, ...log },
    },
    layer: [
      { mark: 'bar', encoding: { color: { field: 'family', type: 'nominal', scale: FAMILY_COLORS, title: null, legend: { orient: 'bottom' } } } },
      { mark: { type: 'text', align: 'left', dx: 3, fontSize: 10 }, encoding: { text: { field: `${field}Text`, type: 'nominal' } } },
    ],
  };
}

/** The summary: computes, peak concurrency, calls > 100 ms and p99 latency of every strategy. */
export function summaryFigure(results: readonly StrategyResult[], params: LandingParams): TopLevelSpec {
  const ok = results.filter((r) => r.failed === undefined);
  const values = ok.map((r) => ({
    label: r.label,
    family: r.family,
    computes: r.computes,
    computesText: String(r.computes),
    maxConcurrent: r.maxConcurrent,
    maxConcurrentText: String(r.maxConcurrent),
    slow: r.slowCalls,
    slowText: String(r.slowCalls),
    p99: Math.max(r.latency.p99, 0.001),
    p99Text: `${r.latency.p99.toFixed(3)} ms`,
  }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Landing page: every strategy side by side',
      subtitle: `${params.processes} processes × ${params.workers} workers, ${params.duration / 1000} s, compute ${params.compute} ms, ttl ${params.ttl} ms`,
    },
    config: { font: 'DejaVu Sans', view: { stroke: null }, axisY: { labelLimit: 320 } },
    data: { values },
    hconcat: [
      panel(ok, 'computes', 'computes (whole machine)', true),
      panel(ok, 'maxConcurrent', 'max concurrent computes', false),
      panel(ok, 'slow', 'calls > 100 ms', false),
      panel(ok, 'p99', 'p99 latency, ms (log)', false, Math.max(1, ...values.map((v) => v.p99)) * 10),
    ],
    resolve: { scale: { y: 'shared', color: 'shared' } },
    // The panels are built by a helper whose literal vega-lite's deep union types cannot follow.
  } as unknown as TopLevelSpec;
}
