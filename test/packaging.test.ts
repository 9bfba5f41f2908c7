// The package as a user gets it: `npm pack`, install the tarball in an empty folder, and
// `import { createCache } from 'herdcache'` from a plain .mjs file works.
//
// `npm pack` runs the prepare script, which builds dist/. It runs in a copy of the project (its
// sources, manifest and build settings, node_modules linked), so that the build it proves writes
// the copy's dist/, never the dist/ that the other test files, running meanwhile, import.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env, timeout = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, timeout, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ ok: error === null, stdout, stderr: error === null ? stderr : `${stderr}\n${error.message}` });
    });
  });
}

const CONSUMER = `
import { createCache, errors, memoryTier } from 'herdcache';
const cache = createCache({ ttl: 5_000 });
await cache.set('greeting', { hello: 'world', at: new Date(0), tags: new Set(['a']) });
const value = cache.getSync('greeting');
let code;
try { cache.getSync(''); } catch (err) { code = err instanceof errors.InvalidKeyError ? err.code : String(err); }
await cache.close();
console.log(JSON.stringify({ hello: value.hello, at: value.at.toISOString(), tags: [...value.tags], code, memoryTier: typeof memoryTier }));
`;

it('npm pack, install in an empty folder, import from plain Node ESM', { timeout: 180_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'herdcache-pack-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const packDir = join(work, 'pack');
  const consumer = join(work, 'consumer');
  const cacheDir = join(work, 'cache-dir');
  const project = join(work, 'project');
  mkdirSync(packDir);
  mkdirSync(consumer);
  mkdirSync(project);
  for (const entry of ['package.json', 'package-lock.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json', 'src']) {
    if (existsSync(join(ROOT, entry))) cpSync(join(ROOT, entry), join(project, entry), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'), 'dir');

  // `npm pack` runs the prepare script (the build) first, here into the copy's own dist/.
  const pack = await run('npm', ['pack', '--json', '--pack-destination', packDir], project);
  assert.ok(existsSync(join(project, 'dist', 'src', 'index.js')), 'the prepare script built the copy');
  assert.ok(pack.ok, `npm pack failed:\n${pack.stderr}`);
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  assert.ok(info !== undefined);
  const files = info.files.map((f) => f.path);
  for (const needed of ['package.json', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/tiers/lmdb/tier.js', 'dist/src/core/cache.d.ts']) {
    assert.ok(files.includes(needed), `${needed} missing from the tarball`);
  }
  assert.ok(!files.some((f) => f.startsWith('dist/test/') || f.startsWith('src/') || f.startsWith('test/')), 'tests and sources stay out of the tarball');
  const tarball = join(packDir, readdirSync(packDir).find((f) => f.endsWith('.tgz')) ?? info.filename);

  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'herdcache-consumer', version: '1.0.0', private: true, type: 'module' }));
  const installArgs = ['install', '--no-audit', '--no-fund', '--no-package-lock', tarball];
  let install = await run('npm', [...installArgs, '--offline'], consumer);
  if (!install.ok) {
    t.diagnostic('offline install failed; retrying online');
    install = await run('npm', installArgs, consumer);
  }
  assert.ok(install.ok, `npm install of the tarball failed offline and online (is the registry reachable?):\n${install.stderr}`);
  assert.ok(existsSync(join(consumer, 'node_modules', 'herdcache', 'dist', 'src', 'index.d.ts')), 'type declarations are installed');

  writeFileSync(join(consumer, 'check.mjs'), CONSUMER);
  const env = { ...process.env, HERDCACHE_DIR: cacheDir };
  const check = await run(process.execPath, ['check.mjs'], consumer, env, 30_000);
  assert.ok(check.ok, `the installed package failed to run:\n${check.stderr}`);
  assert.deepEqual(JSON.parse(check.stdout.trim()), {
    hello: 'world',
    at: '1970-01-01T00:00:00.000Z',
    tags: ['a'],
    code: 'E_INVALID_KEY',
    memoryTier: 'function',
  });
  assert.ok(existsSync(join(cacheDir, 'data.mdb')), 'HERDCACHE_DIR was used for the LMDB file');
  assert.ok(!existsSync(join(consumer, '.herdcache')), 'nothing was written to ./.herdcache');
});
