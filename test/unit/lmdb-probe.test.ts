// The probe of an LMDB file before first use (src/tiers/lmdb/probe.ts), case by case: a data
// "file" that is not a file, a garbage lock file beside a sound data file, and the mark that lets
// the next open on this boot skip the probe. Damage to the data file itself, generated, is P21.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { acquireEnvironment, releaseEnvironment, transact } from '../../src/tiers/lmdb/env.js';
import { checkEnvironmentFile } from '../../src/tiers/lmdb/probe.js';
import { tempDir } from '../helpers/tmp.js';

const MAP = 16 * 1024 * 1024;
const QUARANTINE = /^quarantine-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z-[0-9a-f]{6}$/;

/** A closed environment in `dir` holding meta 'kept' = 42. */
async function soundFile(dir: string): Promise<void> {
  const env = acquireEnvironment(dir, MAP);
  await transact(env, env.entries, () => env.meta.put('kept', 42));
  await releaseEnvironment(env);
}

describe('the probe of an LMDB file', () => {
  it('finds nothing in a directory without a data file', (t) => {
    const dir = tempDir('herdcache-probe-none');
    t.after(() => dir.cleanup());
    assert.equal(checkEnvironmentFile(dir.path), undefined);
    assert.deepEqual(readdirSync(dir.path), []);
  });

  it('moves aside a data "file" that is not a regular file', (t) => {
    const dir = tempDir('herdcache-probe-dir');
    t.after(() => dir.cleanup());
    mkdirSync(join(dir.path, 'data.mdb'));
    writeFileSync(join(dir.path, 'herdcache-probe.json'), '{}');
    const finding = checkEnvironmentFile(dir.path);
    assert.equal(finding?.reason, 'the data file is not a regular file');
    const folder = finding!.quarantinedTo.slice(dir.path.length + 1);
    assert.match(folder, QUARANTINE);
    assert.deepEqual(readdirSync(finding!.quarantinedTo), ['data.mdb']);
    assert.deepEqual(readdirSync(dir.path), [folder], 'the mark of the old file went with it');
  });

  it('marks a sound file checked for this boot by its identity; a file changed since is probed and marked again', async (t) => {
    const dir = tempDir('herdcache-probe-mark');
    t.after(() => dir.cleanup());
    await soundFile(dir.path);
    rmSync(join(dir.path, 'herdcache-probe.json'));
    assert.equal(checkEnvironmentFile(dir.path), undefined, 'sound');
    const marker = JSON.parse(readFileSync(join(dir.path, 'herdcache-probe.json'), 'utf8')) as { boot: string; inode: string };
    assert.equal(marker.boot, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    assert.match(marker.inode, /^\d+:\d+:\d+:[\d.]+:\d+$/, 'device, inode, size, mtime and the hash of the meta pages');
    assert.equal(checkEnvironmentFile(dir.path), undefined);
    // Written by another process since: its identity changed, so it is probed and marked anew.
    const env = acquireEnvironment(dir.path, MAP);
    await transact(env, env.entries, () => env.meta.put('more', 1));
    await releaseEnvironment(env);
    rmSync(join(dir.path, 'herdcache-probe.json'));
    writeFileSync(join(dir.path, 'herdcache-probe.json'), JSON.stringify(marker));
    assert.equal(checkEnvironmentFile(dir.path), undefined);
    const remarked = JSON.parse(readFileSync(join(dir.path, 'herdcache-probe.json'), 'utf8')) as { inode: string };
    assert.notEqual(remarked.inode, marker.inode, 'the stale mark was replaced after a probe');
  });

  it('leaves a garbage lock file to LMDB, which rebuilds it: nothing is moved and the data is kept', async (t) => {
    const dir = tempDir('herdcache-probe-lock');
    t.after(() => dir.cleanup());
    await soundFile(dir.path);
    rmSync(join(dir.path, 'herdcache-probe.json'));
    writeFileSync(join(dir.path, 'lock.mdb'), Buffer.alloc(8_192, 0xa5));
    assert.equal(checkEnvironmentFile(dir.path), undefined);
    assert.deepEqual(readdirSync(dir.path).sort(), ['data.mdb', 'herdcache-probe.json', 'lock.mdb']);
    const env = acquireEnvironment(dir.path, MAP);
    try {
      assert.equal(env.meta.get('kept'), 42, 'the data survived');
      assert.equal(env.fileFinding, undefined);
    } finally {
      await releaseEnvironment(env);
    }
  });
});
