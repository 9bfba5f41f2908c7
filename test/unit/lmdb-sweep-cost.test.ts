// What a sweep costs the processes that share the file: it works in slices and gives the event
// loop back between them, only one process sweeps a file at a time, the change log keeps no more
// than it bounds, and a follower far behind drops its copies in one call instead of reading
// every record. (How long each step takes is measured by bench/scale, not asserted here.)
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { acquireEnvironment, releaseEnvironment, transact, type LmdbEnvironment } from '../../src/tiers/lmdb/env.js';
import { ChangeFeed, MAX_POLL_RECORDS } from '../../src/tiers/lmdb/feed.js';
import { MAX_LOG_RECORDS, SLICE_ROWS, sweepEnvironment, usedBytes } from '../../src/tiers/lmdb/sweep.js';
import { SWEEP_CLAIM } from '../../src/tiers/lmdb/sweep-claim.js';
import { storedRecord } from '../../src/tiers/lmdb/versions.js';
import type { Invalidation } from '../../src/core/tier.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = 80_000_000;

async function openEnv(t: TestContext, label: string): Promise<LmdbEnvironment> {
  const dir = tempDir(label);
  const env = acquireEnvironment(dir.path, 1 << 28);
  t.after(async () => {
    await releaseEnvironment(env);
    dir.cleanup();
  });
  return env;
}

/** Writes `count` entries stored at T0 - 1 000 + i, expiring at `staleUntil(i)`. */
async function fill(env: LmdbEnvironment, count: number, staleUntil: (i: number) => number, from = 0): Promise<void> {
  await transact(env, env.entries, () => {
    for (let i = from; i < from + count; i++) {
      const key = `0::k${String(i).padStart(7, '0')}`;
      const storedAt = T0 - 1_000_000 + i;
      env.entries.put(key, storedRecord(key, { value: 'x'.repeat(40), storedAt, freshUntil: staleUntil(i), staleUntil: staleUntil(i), delta: 0 }, 1, undefined));
      env.byAge.put([storedAt, key], staleUntil(i));
    }
  });
}

/**
 * Counts, for each write transaction on the file from now on, how many entries it removes: the
 * real environment, watched.
 */
function removalsPerTransaction(env: LmdbEnvironment): number[] {
  const counts: number[] = [];
  const entries = env.entries as unknown as { transaction: (action: () => unknown) => Promise<unknown>; remove: (key: string) => unknown };
  const transaction = entries.transaction.bind(entries);
  const remove = entries.remove.bind(entries);
  entries.transaction = (action) => transaction(() => (counts.push(0), action()));
  entries.remove = (key) => {
    counts[counts.length - 1]! += 1;
    return remove(key);
  };
  return counts;
}

describe('the LMDB sweep, at scale', () => {
  it(`removes expired entries in slices of at most ${SLICE_ROWS} per transaction, so no step holds the event loop for long`, async (t) => {
    const env = await openEnv(t, 'herdcache-sweep-slices');
    const count = 12 * SLICE_ROWS;
    await fill(env, count, (i) => (i % 2 === 0 ? T0 - 1 : T0 + 60_000));
    const removals = removalsPerTransaction(env);
    const result = await sweepEnvironment(env, T0, 1 << 30, 'a');
    assert.equal(result.length, count / 2);
    assert.ok(result.every((e) => e.cause === 'expired'));
    assert.ok(Math.max(...removals) <= SLICE_ROWS, `one transaction removed ${Math.max(...removals)} entries`);
    assert.ok(removals.length >= count / 2 / SLICE_ROWS, `${count / 2} removals in ${removals.length} transactions`);
  });

  it('evicts for the size bound in slices too, oldest first, until under the bound', async (t) => {
    const env = await openEnv(t, 'herdcache-sweep-size');
    await fill(env, 20_000, () => T0 + 60_000);
    const bound = Math.floor(usedBytes(env) / 3);
    const removals = removalsPerTransaction(env);
    const result = await sweepEnvironment(env, T0, bound, 'a');
    env.root.resetReadTxn();
    assert.ok(usedBytes(env) <= bound, `still ${usedBytes(env)} bytes over a bound of ${bound}`);
    assert.ok(result.length >= 2 * SLICE_ROWS && result.every((e) => e.cause === 'size'));
    assert.deepEqual(result.slice(0, 2).map((e) => e.key), ['0::k0000000', '0::k0000001'], 'the oldest go first');
    assert.ok(Math.max(...removals) <= SLICE_ROWS, `one transaction removed ${Math.max(...removals)} entries`);
  });

  it('a slice of large records stops once it has held the main thread for its budget, and the next one goes on', async (t) => {
    const env = await openEnv(t, 'herdcache-sweep-budget');
    const big = 'y'.repeat(1 << 20);
    await transact(env, env.entries, () => {
      for (let i = 0; i < 48; i++) {
        const key = `0::big${String(i).padStart(3, '0')}`;
        env.entries.put(key, storedRecord(key, { value: big, storedAt: T0 - 10_000 + i, freshUntil: T0 - 1, staleUntil: T0 - 1, delta: 0 }, 1, undefined));
        env.byAge.put([T0 - 10_000 + i, key], T0 - 1);
      }
    });
    const removals = removalsPerTransaction(env);
    const result = await sweepEnvironment(env, T0, 1 << 30, 'a');
    assert.equal(result.length, 48, 'every expired record goes');
    assert.ok(removals.filter((n) => n > 0).length >= 2, `48 records of 1 MiB were judged in ${removals.length} transaction(s): ${removals.join(', ')}`);
  });

  it('only one process sweeps a file at a time: another one finds the claim and leaves the work to it until it lapses', async (t) => {
    const env = await openEnv(t, 'herdcache-sweep-claim');
    await fill(env, 10, () => T0 - 1);
    assert.equal((await sweepEnvironment(env, T0, 1 << 30, 'first')).length, 10);
    await fill(env, 10, () => T0 - 1, 10);
    assert.deepEqual(await sweepEnvironment(env, T0 + 1, 1 << 30, 'second'), [], 'the first sweeper still holds the claim');
    assert.equal((await sweepEnvironment(env, T0 + 2, 1 << 30, 'first')).length, 10, 'its holder goes on');
    await fill(env, 10, () => T0 - 1, 20);
    assert.equal((await sweepEnvironment(env, T0 + 2 + SWEEP_CLAIM, 1 << 30, 'second')).length, 10, 'a lapsed claim is taken over');
  });

  it(`keeps at most ${MAX_LOG_RECORDS} change records however young, and says how far it trimmed`, async (t) => {
    const env = await openEnv(t, 'herdcache-log-cap');
    const records = MAX_LOG_RECORDS + 2_500;
    await transact(env, env.entries, () => {
      for (let v = 1; v <= records; v++) env.log.put(v, { o: 'w', t: T0, k: `0::k${v}` });
      env.meta.put('seq', records);
    });
    await sweepEnvironment(env, T0, 1 << 30, 'a');
    env.root.resetReadTxn();
    const left = [...env.log.getKeys({})];
    assert.equal(left.length, MAX_LOG_RECORDS);
    assert.equal(left[0], records - MAX_LOG_RECORDS + 1, 'the oldest go');
    assert.equal(env.meta.get('trimmed'), records - MAX_LOG_RECORDS);
  });

  it(`a follower more than ${MAX_POLL_RECORDS} records behind drops every copy in one call and goes on from the end`, async (t) => {
    const env = await openEnv(t, 'herdcache-feed-behind');
    const feed = new ChangeFeed('reader', (error) => assert.fail(String(error)));
    feed.start(env);
    const heard: Invalidation[] = [];
    feed.changes.add((change) => heard.push(change));
    const burst = MAX_POLL_RECORDS + 10;
    await transact(env, env.entries, () => {
      for (let v = 1; v <= burst; v++) env.log.put(v, { o: 'writer', t: T0, k: `0::k${v}` });
      env.meta.put('seq', burst);
    });
    feed.poll(env);
    assert.deepEqual(heard, [{ prefix: '' }]);
    await transact(env, env.entries, () => {
      env.log.put(burst + 1, { o: 'writer', t: T0, k: '0::next' });
      env.meta.put('seq', burst + 1);
    });
    feed.poll(env);
    assert.deepEqual(heard, [{ prefix: '' }, { key: '0::next' }], 'then it reads on record by record');
  });
});
