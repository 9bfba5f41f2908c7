// A damaged file whose damage only LMDB's write path meets. It came out of a seeded run of the
// damaged-files property (bit flips in page headers): every page still reads, so a probe that
// only read the file passed it, and the first set of the process that opened it died of SIGSEGV.
// The probe now also inserts a key next to every key, in a transaction it aborts.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { CacheStats } from '../../src/index.js';
import { startEngineWorker } from '../fixtures/engine-worker.js';
import { tempDir } from '../helpers/tmp.js';

const DAMAGED = new URL('../../../test/fixtures/files/write-path-damage.mdb.gz', import.meta.url);
const KEYS = 150;

it('a file that reads whole but faults LMDB on the first write is moved aside before the process opening it writes, and that process lives', async (t) => {
  const dir = tempDir('herdcache-write-path-damage');
  t.after(dir.cleanup);
  mkdirSync(dir.path, { recursive: true });
  writeFileSync(join(dir.path, 'data.mdb'), gunzipSync(readFileSync(DAMAGED)));
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
