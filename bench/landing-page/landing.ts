import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFigure } from '../lib/charts.js';
import { contender } from '../lib/contenders.js';
import { firstLine } from '../lib/flags.js';
import { machineLine } from '../lib/machine.js';
import { Progress } from '../lib/progress.js';
import { analyze, failedResult, type StrategyResult } from './analyze.js';
import type { LandingParams } from './params.js';
import { strategyFigure, summaryFigure } from './plot.js';
import { markdownReport, terminalTable } from './report.js';
import { expectedMs, runStrategy } from './run.js';

/**
 * Runs every requested strategy one after the other, draws the figures, writes
 * `<out>/<name>.md` and `<out>/<name>.json`, prints the table. Resolves to the number of
 * strategies whose run could not be completed.
 */
export async function runLanding(params: LandingParams, command: string): Promise<number> {
  const machine = machineLine();
  const figureDir = join(params.out, params.name);
  mkdirSync(figureDir, { recursive: true });
  const progress = new Progress(params.name);
  const results: StrategyResult[] = [];
  for (const [i, name] of params.strategies.entries()) {
    const spec = contender(name);
    progress.step(i + 1, params.strategies.length, spec.label, expectedMs(params));
    try {
      const records = await runStrategy(params, name);
      const result = analyze(spec, records, params.ttl);
      results.push(result);
      await writeFigure(figureDir, name, strategyFigure(result, records, params));
      progress.done(`${spec.label}: ${result.computes} computes, max ${result.maxConcurrent} concurrent, p99 ${result.latency.p99.toFixed(3)} ms, ${result.slowCalls} slow calls`);
    } catch (error) {
      const reason = firstLine(error);
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      results.push(failedResult(spec, reason));
      progress.done(`${spec.label}: FAILED: ${reason}`);
    }
  }
  if (results.some((r) => r.failed === undefined)) await writeFigure(figureDir, 'summary', summaryFigure(results, params));
  writeFileSync(join(params.out, `${params.name}.md`), markdownReport(params, results, machine, params.name, command));
  writeFileSync(join(params.out, `${params.name}.json`), `${JSON.stringify({ machine, params, results }, null, 2)}\n`);
  process.stdout.write(`\n${terminalTable(results)}\n\nReport: ${join(params.out, `${params.name}.md`)}\n`);
  return results.filter((r) => r.failed !== undefined).length;
}
