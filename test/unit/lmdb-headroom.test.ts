// The headroom of the LMDB file (src/tiers/lmdb/headroom.ts): the blocks LMDB grows into are
// allocated ahead of it, by a bounded amount, so that a full disk meets the tier's own write.
// The full-disk behaviour itself is proven on real processes under `ulimit -f` in
// test/multiprocess/faults.test.ts.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { acquireEnvironment, releaseEnvironment, transact } from '../../src/tiers/lmdb/env.js';
import { GROW_MARGIN } from '../../src/tiers/lmdb/headroom.js';
import { tempDir } from '../helpers/tmp.js';

/** LMDB's end of file: the pages it uses, up to its last one. */
function lmdbEnd(env: ReturnType<typeof acquireEnvironment>): number {
  const stats = env.root.getStats() as { lastPageNumber: number; pageSize: number };
  return (stats.lastPageNumber + 1) * stats.pageSize;
}

describe('LMDB headroom', () => {
  it('keeps at least 1 MiB allocated past LMDB\'s last page as the file grows, and never more than a quarter of the file plus a few MiB', async (t) => {
    const dir = tempDir('herdcache-headroom');
    const env = acquireEnvironment(dir.path, 1 << 30);
    t.after(async () => {
      await releaseEnvironment(env);
      dir.cleanup();
    });
    const data = join(dir.path, 'data.mdb');
    const value = Buffer.alloc(2_000, 1);
    for (let round = 0; round < 40; round++) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => transact(env, env.reserve, () => env.reserve.put(`k${round}-${i}`, value), { use: 'grow', bytes: value.length })));
      env.root.resetReadTxn();
      const end = lmdbEnd(env);
      const size = statSync(data).size;
      assert.ok(size - end >= GROW_MARGIN, `round ${round}: ${size - end} bytes of headroom past LMDB's end`);
      assert.ok(size <= end * 1.25 + 10 * 1024 * 1024, `round ${round}: the file is ${size} bytes for ${end} used`);
    }
    assert.ok(lmdbEnd(env) > 4 * 1024 * 1024, 'the file grew over several extensions');
  });

  it('a record larger than one extension step commits on a disk with room (the claim extends as far as it needs)', async (t) => {
    const dir = tempDir('herdcache-headroom-big');
    const env = acquireEnvironment(dir.path, 1 << 30);
    t.after(async () => {
      await releaseEnvironment(env);
      dir.cleanup();
    });
    const big = Buffer.alloc(12 * 1024 * 1024, 3);
    await transact(env, env.reserve, () => env.reserve.put('big', big), { use: 'grow', bytes: big.length });
    env.root.resetReadTxn();
    assert.equal(env.reserve.get('big')?.length, big.length);
    assert.ok(statSync(join(dir.path, 'data.mdb')).size - lmdbEnd(env) >= GROW_MARGIN, 'headroom is left after it');
  });
});
