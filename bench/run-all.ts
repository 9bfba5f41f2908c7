/**
 * `npm run bench`: the landing-page case study (every strategy), the thundering herd and the
 * hot-path micro-benchmark, one after the other, each in its own process; every report goes to
 * bench/results/local/ (ignored by git), or to the folder given as `--out DIR`. Exits non-zero
 * if any of them could not be completed.
 */
import { spawn } from 'node:child_process';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RESULTS_DIR } from './lib/paths.js';

const { values } = parseArgs({ options: { out: { type: 'string' } } });
const out = values.out ?? RESULTS_DIR;
const BENCHES = [
  { name: 'landing page', script: './landing-page/main.js', report: 'landing-page.md' },
  { name: 'thundering herd', script: './herd/main.js', report: 'herd.md' },
  { name: 'hot path', script: './hot.js', report: 'hot.md' },
] as const;

function run(script: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), '--out', out], { stdio: 'inherit' });
    child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
    child.on('error', () => resolve(1));
  });
}

const outcomes: string[] = [];
let failed = 0;
for (const [i, bench] of BENCHES.entries()) {
  process.stderr.write(`\n[bench] ${i + 1}/${BENCHES.length} ${bench.name}\n`);
  const started = Date.now();
  const code = await run(bench.script);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  if (code !== 0) failed++;
  outcomes.push(`${code === 0 ? 'ok    ' : 'FAILED'} ${bench.name} (${seconds} s)${code === 0 ? `: ${relative(process.cwd(), join(out, bench.report))}` : `: exit code ${code}`}`);
}
process.stdout.write(`\n${outcomes.join('\n')}\n`);
process.exitCode = failed > 0 ? 1 : 0;
