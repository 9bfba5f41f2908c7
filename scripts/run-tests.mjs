#!/usr/bin/env node
// Runs every compiled test file with node's test runner. Each file runs in its own process
// with test/helpers/strict-rejections loaded first, so an unhandled rejection fails the run.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = 'dist/test';
const only = process.argv.slice(2);
function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'fixtures' || name === 'helpers' ? [] : collect(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}
const files = collect(root).filter((f) => only.length === 0 || only.some((o) => f.includes(o))).sort();
if (files.length === 0) {
  console.error(`no test files found under ${root}${only.length ? ` matching ${only.join(', ')}` : ''}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, [
  '--import', './dist/test/helpers/strict-rejections.js',
  // Many more property runs under test:deep take longer by design: give each file more time then.
  '--test', '--test-concurrency=2', `--test-timeout=${process.env['HERDCACHE_PROPERTY_RUNS'] ? 1_200_000 : 120_000}`,
  ...files,
], { stdio: 'inherit', env: { ...process.env, HERDCACHE_TEST: '1' } });
process.exit(result.status ?? 1);
