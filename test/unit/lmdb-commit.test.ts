// One commit of the LMDB tier (src/tiers/lmdb/commit.ts) on a real file, with actions that fail
// on purpose: which failures are repaired and tried once more (a delete or clear after dropping
// the reserve, any write after rebuilding a garbled structures record), and what the caller and
// the report get for the others.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { StorageError } from '../../src/core/errors.js';
import type { TierReport } from '../../src/core/tier.js';
import { commit, isMapFull, type CommitContext } from '../../src/tiers/lmdb/commit.js';
import { acquireEnvironment, releaseEnvironment, transact, type LmdbEnvironment } from '../../src/tiers/lmdb/env.js';
import { FREEING_WRITE, SMALL_WRITE } from '../../src/tiers/lmdb/headroom.js';
import { keepReserve } from '../../src/tiers/lmdb/room.js';
import { seal, STRUCTURES_KEY } from '../../src/tiers/lmdb/seal.js';
import { tempDir } from '../helpers/tmp.js';

function setup(t: TestContext, open = true): { env: LmdbEnvironment; reports: TierReport[]; context: CommitContext } {
  const dir = tempDir('herdcache-commit');
  const env = acquireEnvironment(dir.path, 64 * 1024 * 1024);
  t.after(async () => {
    await releaseEnvironment(env);
    dir.cleanup();
  });
  const reports: TierReport[] = [];
  return { env, reports, context: { report: (r) => reports.push(r), origin: 'me', clock: () => 1_000, stillOpen: () => open } };
}

/** An action that throws `error` the first `times` times it runs, then writes meta 'done'. */
function failing(error: Error, times = 1): { action: (env: LmdbEnvironment) => string; runs: () => number } {
  let runs = 0;
  return {
    runs: () => runs,
    action: (env) => {
      runs++;
      if (runs <= times) throw error;
      env.meta.put('done', runs);
      return 'committed';
    },
  };
}

describe('an LMDB commit', () => {
  it('resolves with what the action returned, and the process reads its own write at once', async (t) => {
    const { env, context } = setup(t);
    assert.equal(await commit(env, 'set', '0::k', SMALL_WRITE, (e) => (e.meta.put('x', 7), 'ok'), context), 'ok');
    assert.equal(env.meta.get('x'), 7);
  });

  it('a failure it cannot repair is reported and rejects with a StorageError naming the operation and key', async (t) => {
    const { env, reports, context } = setup(t);
    const cause = new Error('EIO: input/output error');
    const { action, runs } = failing(cause, 5);
    await assert.rejects(commit(env, 'set', '0::k', SMALL_WRITE, action, context), (error: unknown) => {
      assert.ok(error instanceof StorageError);
      assert.equal(error.message, 'lmdb: set could not be committed');
      assert.equal(error.key, '0::k');
      assert.equal(error.cause, cause);
      return true;
    });
    assert.equal(runs(), 1, 'a set is not tried again');
    assert.deepEqual(reports, [{ type: 'error', operation: 'set', error: cause }]);
    await assert.rejects(commit(env, 'checkpoint', undefined, SMALL_WRITE, failing(cause).action, context), (error: unknown) =>
      error instanceof StorageError && error.key === undefined && error.message === 'lmdb: checkpoint could not be committed');
  });

  it('says to raise maxBytes when the map is full', async (t) => {
    const { env, context } = setup(t);
    await assert.rejects(commit(env, 'set', '0::k', SMALL_WRITE, failing(new Error('MDB_MAP_FULL: Environment mapsize limit reached')).action, context), (error: unknown) =>
      error instanceof StorageError && error.message === 'lmdb: set could not be committed (the map is full: raise maxBytes)');
    assert.equal(isMapFull(new Error('map full')), true);
    assert.equal(isMapFull(new Error('MDB_MAP_RESIZED')), true);
    assert.equal(isMapFull(new Error('MDB_CORRUPTED')), false);
    assert.equal(isMapFull('MDB_MAP_FULL'), false);
  });

  for (const operation of ['delete', 'clear'] as const) {
    it(`a ${operation} that fails drops the reserve and is tried once more`, async (t) => {
      const { env, reports, context } = setup(t);
      assert.equal(await keepReserve(env), true);
      const { action, runs } = failing(new Error('MDB_MAP_FULL'));
      assert.equal(await commit(env, operation, '0::k', FREEING_WRITE, action, context), 'committed');
      assert.equal(runs(), 2);
      env.root.resetReadTxn();
      assert.equal(env.reserve.doesExist('reserve'), false, 'the reserve was used');
      assert.deepEqual(reports, [], 'a repaired failure is not reported');
      const again = failing(new Error('MDB_MAP_FULL'));
      await assert.rejects(commit(env, operation, '0::k', FREEING_WRITE, again.action, context), StorageError);
      assert.equal(again.runs(), 1, 'without a reserve left there is nothing to retry with');
    });
  }

  it('nothing is repaired in an environment its tier has let go', async (t) => {
    const { env, reports, context } = setup(t, false);
    await keepReserve(env);
    const { action, runs } = failing(new Error('MDB_MAP_FULL'));
    await assert.rejects(commit(env, 'delete', '0::k', FREEING_WRITE, action, context), StorageError);
    assert.equal(runs(), 1);
    env.root.resetReadTxn();
    assert.equal(env.reserve.doesExist('reserve'), true, 'the reserve is left alone');
    assert.equal(reports.length, 1);
  });

  it('a garbled structures record is rebuilt, reported with what was dropped, and the write tried again', async (t) => {
    const { env, reports, context } = setup(t);
    await transact(env, env.entries, () => {
      env.entries.put('0::a', { value: { shape: 1 }, storedAt: 0, freshUntil: 1, staleUntil: 1, delta: 0 });
      env.entries.put('0::b', { value: { shape: 1 }, storedAt: 0, freshUntil: 1, staleUntil: 1, delta: 0 });
    });
    const raw = env.root.openDB<Buffer, string>('entries', { encoding: 'binary' });
    await raw.put(STRUCTURES_KEY as unknown as string, seal(Buffer.from([0xc1, 0xc1, 0xc1])));
    const cause = new Error('the structures do not decode');
    const { action, runs } = failing(cause);
    assert.equal(await commit(env, 'set', '0::c', SMALL_WRITE, action, context), 'committed');
    assert.equal(runs(), 2);
    assert.equal(reports.length, 1);
    const [report] = reports;
    assert.ok(report?.type === 'error' && report.operation === 'rebuild-structures');
    assert.equal((report.error as Error).message, 'lmdb: the shared structures record was garbled: rebuilt it and dropped the 2 entries encoded against it');
    assert.equal((report.error as Error).cause, cause);
    env.root.resetReadTxn();
    assert.equal(env.entries.get('0::a'), undefined);
  });
});
