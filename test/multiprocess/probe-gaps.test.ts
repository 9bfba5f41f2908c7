// Damage the probe once let through, each found by a run of the damaged-files property (P21):
// - damage only LMDB's write path meets (bit flips in page headers): every page still read, so a
//   probe that only read the file passed it, and the first set of the process that opened it
//   died of SIGSEGV; the probe now also takes a copy of the file through the write path;
// - a garbage page that a read by key meets but the probe's iteration did not, because lmdb-js
//   ends an iteration quietly when LMDB fails to read the next page: most reads missed and every
//   write failed; the probe now checks that each database yields as many records as it counts;
// - meta pages that decayed in place after the file was checked, leaving its size and times as
//   they were: the probe was skipped and LMDB faulted at open; the check now hashes them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { CacheStats } from '../../src/index.js';
import { startEngineWorker } from '../fixtures/engine-worker.js';
import { tempDir } from '../helpers/tmp.js';

const fixture = (name: string): URL => new URL(`../../../test/fixtures/files/${name}.mdb.gz`, import.meta.url);
const KEYS = 150;

for (const [name, what] of [
  ['write-path-damage', 'a file that reads whole but faults LMDB on the first write'],
  ['iteration-stops', 'a file with a garbage page that an iteration stops before, quietly'],
] as const) {
  it(`${what} is moved aside before the process opening it writes, and that process lives`, async (t) => {
    const dir = tempDir('herdcache-probe-gap');
    t.after(dir.cleanup);
    mkdirSync(dir.path, { recursive: true });
    writeFileSync(join(dir.path, 'data.mdb'), gunzipSync(readFileSync(fixture(name))));
    const reader = await startEngineWorker({ path: dir.path, ttl: 3_600_000 });
    t.after(() => reader.kill('SIGKILL'));
    for (let i = 0; i < KEYS; i++) {
      const read = await reader.call({ op: 'getSync', key: `k${i}` });
      if (read !== undefined && read !== null) assert.equal(read, `value-${i}-${'x'.repeat(200)}`, `k${i} read back a wrong value`);
    }
    await reader.call({ op: 'set', key: 'after', value: 'written after the damage' });
    assert.equal(await reader.call({ op: 'getSync', key: 'after' }), 'written after the damage');
    const stats = (await reader.call({ op: 'stats' })) as CacheStats;
    assert.equal(stats.corruptFiles, 1, 'the file was quarantined and rebuilt');
    await reader.call({ op: 'close' });
    assert.deepEqual(await reader.exited, { code: 0, signal: null });
    assert.deepEqual(reader.unhandled, []);
  });
}

it('meta pages garbled after the file was checked, its size and times left as they were, are found at the next open: the file is moved aside and the process lives', async (t) => {
  const dir = tempDir('herdcache-meta-decay');
  t.after(dir.cleanup);
  const writer = await startEngineWorker({ path: dir.path, ttl: 3_600_000 });
  for (let i = 0; i < KEYS; i++) await writer.call({ op: 'set', key: `k${i}`, value: `value-${i}` });
  await writer.call({ op: 'close' });
  await writer.exited;
  // Closed cleanly, so marked as checked; now the meta pages decay without the file's times moving.
  const file = join(dir.path, 'data.mdb');
  const before = statSync(file, { bigint: true });
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.alloc(8192, 0x5a), 0, 8192, 0);
  } finally {
    closeSync(fd);
  }
  // To the nanosecond, which Node's utimes cannot set: GNU touch can.
  const seconds = before.mtimeNs / 1_000_000_000n;
  const nanos = (before.mtimeNs % 1_000_000_000n).toString().padStart(9, '0');
  execFileSync('touch', ['-m', '-d', `@${seconds}.${nanos}`, file]);
  assert.equal(statSync(file, { bigint: true }).mtimeNs, before.mtimeNs, 'the damage left the modification time as it was');
  const reader = await startEngineWorker({ path: dir.path, ttl: 3_600_000 });
  t.after(() => reader.kill('SIGKILL'));
  assert.equal(await reader.call({ op: 'getSync', key: 'k1' }), undefined, 'a moved-aside file serves nothing');
  await reader.call({ op: 'set', key: 'after', value: 'written after the damage' });
  assert.equal(await reader.call({ op: 'getSync', key: 'after' }), 'written after the damage');
  assert.equal(((await reader.call({ op: 'stats' })) as CacheStats).corruptFiles, 1);
  await reader.call({ op: 'close' });
  assert.deepEqual(await reader.exited, { code: 0, signal: null });
});
