import { median } from '../lib/histogram.js';
import type { Progress } from '../lib/progress.js';
import { calibrate, type Operation } from './measure.js';
import { pairedRatio, RATIO_TARGETS, type PairedRatio } from './paired.js';
import type { OperationResult } from './report.js';

/** How long and how often each operation is measured. */
export interface SessionSettings {
  readonly rounds: number;
  readonly roundMs: number;
  readonly warmupMs: number;
  readonly pairs: number;
  readonly pairMs: number;
}

/** What one process measured: each operation's rounds, and every ratio whose two operations it ran. */
export interface SessionResult {
  readonly results: OperationResult[];
  readonly paired: [label: string, ratio: PairedRatio][];
}

/**
 * Warms every operation up, measures it in rounds (the order rotated each round), then measures
 * each ratio of {@link RATIO_TARGETS} whose numerator and denominator are both among `ops` in
 * adjacent pairs of short bursts.
 */
export async function measureSession(ops: readonly Operation[], settings: SessionSettings, progress: Progress): Promise<SessionResult> {
  const { rounds, roundMs, warmupMs, pairs, pairMs } = settings;
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
  const targets = RATIO_TARGETS.filter((t) => byName.has(t.numerator) && byName.has(t.denominator));
  const paired: [string, PairedRatio][] = [];
  for (const [i, t] of targets.entries()) {
    progress.step(i + 1, targets.length, 'ratio', pairs * pairMs * 2);
    paired.push([t.label, await pairedRatio(byName.get(t.numerator)!, burst(t.numerator), byName.get(t.denominator)!, burst(t.denominator), pairs)]);
  }
  progress.done(`${targets.length} ratios measured in ${pairs} pairs each`);
  return { results, paired };
}
