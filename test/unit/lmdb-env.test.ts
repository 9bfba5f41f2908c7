// The LMDB environment of a path (src/tiers/lmdb/env.ts): one per path per process, shared by
// reference count and closed by its last user; one size bound per path; the directory made with
// its parents, and a path through a file refused with an error that says so.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidOptionError } from '../../src/core/errors.js';
import { acquireEnvironment, countEntries, releaseEnvironment, transact } from '../../src/tiers/lmdb/env.js';
import { STRUCTURES_KEY } from '../../src/tiers/lmdb/seal.js';
import { tempDir } from '../helpers/tmp.js';

const MAP = 16 * 1024 * 1024;

describe('LMDB environments', () => {
  it('one per path in a process, whatever spelling of the path; the last release closes it', async (t) => {
    const dir = tempDir('herdcache-env-share');
    t.after(() => dir.cleanup());
    const first = acquireEnvironment(dir.path, MAP);
    const second = acquireEnvironment(relative(process.cwd(), dir.path), MAP);
    assert.equal(second, first, 'the same environment');
    await releaseEnvironment(second);
    await transact(first, first.entries, () => first.meta.put('still-open', 1));
    await releaseEnvironment(first);
    assert.throws(() => first.meta.get('still-open'), 'closed by its last user');
    await releaseEnvironment(first); // a release too many is ignored
    const reopened = acquireEnvironment(dir.path, MAP);
    assert.notEqual(reopened, first);
    assert.equal(reopened.meta.get('still-open'), 1, 'what was written before the close committed');
    await releaseEnvironment(reopened);
  });

  it('one size bound per path: a second, different bound is refused, naming both', async (t) => {
    const dir = tempDir('herdcache-env-bound');
    t.after(() => dir.cleanup());
    const unbounded = acquireEnvironment(dir.path, MAP);
    const bounded = acquireEnvironment(dir.path, MAP, 1_000_000); // the first bound given is kept
    const same = acquireEnvironment(dir.path, MAP, 1_000_000);
    const any = acquireEnvironment(dir.path, MAP);
    assert.throws(() => acquireEnvironment(dir.path, MAP, 2_000_000), (error: unknown) => {
      assert.ok(error instanceof InvalidOptionError);
      assert.equal(error.option, 'lmdbTier.maxBytes');
      assert.equal(error.message, `lmdbTier.maxBytes: ${dir.path} is already open in this process with maxBytes 1000000: give every cache on one path the same bound (got 2000000)`);
      return true;
    });
    for (const env of [unbounded, bounded, same, any]) await releaseEnvironment(env);
    const afterClose = acquireEnvironment(dir.path, MAP, 2_000_000);
    await releaseEnvironment(afterClose);
  });

  it('makes the directory and its missing parents; a path through a file is refused, saying which part', async (t) => {
    const dir = tempDir('herdcache-env-dirs');
    t.after(() => dir.cleanup());
    const deep = join(dir.path, 'a', 'b', 'c');
    const env = acquireEnvironment(deep, MAP);
    assert.equal(env.path, deep);
    await releaseEnvironment(env);
    const file = join(dir.path, 'plain-file');
    writeFileSync(file, 'x');
    assert.throws(() => acquireEnvironment(file, MAP), (error: unknown) =>
      error instanceof InvalidOptionError && error.message === `lmdbTier.path: ${file} exists and is not a directory: give a directory for the LMDB environment`);
    const below = join(file, 'below');
    assert.throws(() => acquireEnvironment(below, MAP), (error: unknown) =>
      error instanceof InvalidOptionError && error.message === `lmdbTier.path: a part of ${below} is a file, not a directory: give a directory for the LMDB environment`);
    mkdirSync(join(dir.path, 'exists'));
    const existing = acquireEnvironment(join(dir.path, 'exists'), MAP);
    await releaseEnvironment(existing);
  });

  it('counts entries without the shared structures record', async (t) => {
    const dir = tempDir('herdcache-env-count');
    t.after(() => dir.cleanup());
    const env = acquireEnvironment(dir.path, MAP);
    t.after(() => releaseEnvironment(env));
    assert.equal(countEntries(env), 0);
    await transact(env, env.entries, () => {
      env.entries.put('0::a', { value: { shape: 1 }, storedAt: 0, freshUntil: 1, staleUntil: 1, delta: 0 });
      env.entries.put('0::b', { value: { shape: 2 }, storedAt: 0, freshUntil: 1, staleUntil: 1, delta: 0 });
    });
    env.root.resetReadTxn();
    assert.equal(env.entries.doesExist(STRUCTURES_KEY as unknown as string), true, 'msgpackr keeps its structures beside them');
    assert.equal(countEntries(env), 2);
  });
});
