import { maxConcurrency } from '../lib/concurrency.js';
import type { ContenderSpec } from '../lib/contenders.js';
import { summarize, type LatencySummary } from '../lib/histogram.js';
import type { StrategyRecords } from './run.js';

/** Calls slower than this after the warm-up count as slow (the case study's mark). */
export const SLOW_MS = 100;

/** What the report says about one strategy. */
export interface StrategyResult {
  readonly name: string;
  readonly label: string;
  readonly family: ContenderSpec['family'];
  readonly setup: string;
  /** Calls after the warm-up. */
  readonly calls: number;
  /** Computes started after the warm-up, foreground and background. */
  readonly computes: number;
  readonly backgroundComputes: number;
  readonly warmupComputes: number;
  /** Most computes in flight at once, across every process, warm-up included. */
  readonly maxConcurrent: number;
  /** Latency of the calls after the warm-up, ms. */
  readonly latency: LatencySummary;
  readonly slowCalls: number;
  readonly errors: number;
  /** Computes per ttl period of the measured run. */
  readonly computesPerTtl: number;
  /** Set when the run could not be completed. */
  readonly failed?: string;
}

/** Turns the records of one strategy into its row of the report. */
export function analyze(spec: ContenderSpec, records: StrategyRecords, ttl: number): StrategyResult {
  const calls = records.calls.filter((c) => !c.warmup);
  const computes = records.computes.filter((c) => c.start >= records.startAt);
  return {
    name: spec.name,
    label: spec.label,
    family: spec.family,
    setup: spec.setup,
    calls: calls.length,
    computes: computes.length,
    backgroundComputes: computes.filter((c) => c.background).length,
    warmupComputes: records.computes.length - computes.length,
    maxConcurrent: maxConcurrency(records.computes),
    latency: summarize(calls.map((c) => c.end - c.start)),
    slowCalls: calls.filter((c) => c.end - c.start > SLOW_MS).length,
    errors: records.calls.filter((c) => c.error !== undefined).length,
    computesPerTtl: computes.length / ((records.endAt - records.startAt) / ttl),
  };
}

/** The row of a strategy whose run failed. */
export function failedResult(spec: ContenderSpec, reason: string): StrategyResult {
  return {
    name: spec.name,
    label: spec.label,
    family: spec.family,
    setup: spec.setup,
    calls: 0,
    computes: 0,
    backgroundComputes: 0,
    warmupComputes: 0,
    maxConcurrent: 0,
    latency: { count: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN },
    slowCalls: 0,
    errors: 0,
    computesPerTtl: 0,
    failed: reason,
  };
}
