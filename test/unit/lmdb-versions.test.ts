// The version rules of the LMDB tier (src/tiers/lmdb/versions.ts) on a real LMDB file, one
// decision at a time: which conditional write a committed entry, tombstone or clear refuses, how
// the cluster's order overrides the file's, and what a stored record and stamp hold. The
// coherence properties exercise these rules through whole caches; this table says which rule
// decides each case, so a wrong comparison shows as the case it gets wrong.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { makeEntry } from '../../src/core/entry.js';
import type { WriteCondition } from '../../src/core/tier.js';
import { acquireEnvironment, releaseEnvironment, transact, type ChangeStamp, type LmdbEnvironment } from '../../src/tiers/lmdb/env.js';
import { keySeal } from '../../src/tiers/lmdb/seal.js';
import { admits, currentVersion, isStoredUnder, recordChange, stampOf, storedEntry, storedRecord, type StoredEntry } from '../../src/tiers/lmdb/versions.js';
import { tempDir } from '../helpers/tmp.js';

const KEY = '1:users:7';

describe('LMDB version rules', () => {
  const dir = tempDir('herdcache-versions');
  let env: LmdbEnvironment;

  before(() => {
    env = acquireEnvironment(dir.path, 64 * 1024 * 1024);
  });
  after(async () => {
    await releaseEnvironment(env);
    dir.cleanup();
  });
  beforeEach(async () => {
    await transact(env, env.entries, () => {
      for (const db of [env.entries, env.tombstones, env.clears]) for (const key of db.getKeys({})) db.remove(key as never);
    });
  });

  /** Commits the tombstone and clear stamps of a case. */
  async function given(stamps: { tombstone?: ChangeStamp; clears?: Record<string, ChangeStamp> }): Promise<void> {
    await transact(env, env.entries, () => {
      if (stamps.tombstone !== undefined) env.tombstones.put(KEY, stamps.tombstone);
      for (const [prefix, stamp] of Object.entries(stamps.clears ?? {})) env.clears.put(prefix, stamp);
    });
  }

  const entryAt = (v: number, rv?: number): StoredEntry => storedRecord(KEY, makeEntry('x', 0, 10, 10, 0), v, rv);

  it('an unconditional write is always admitted', async () => {
    await given({ tombstone: { v: 99, t: 0, rv: 99 }, clears: { '': { v: 99, t: 0 } } });
    assert.equal(admits(env, KEY, entryAt(99, 99), undefined), true);
    assert.equal(admits(env, KEY, entryAt(99, 99), {}), true);
  });

  it('a write read at version `since` is refused by any later change of its key, and only by a later one', async () => {
    const since = (unchangedSince: number): WriteCondition => ({ unchangedSince });
    assert.equal(admits(env, KEY, undefined, since(5)), true, 'nothing stored, nothing deleted');
    assert.equal(admits(env, KEY, entryAt(5), since(5)), true, 'the entry it read');
    assert.equal(admits(env, KEY, entryAt(6), since(5)), false, 'an entry written after its read');
    assert.equal(admits(env, KEY, { ...entryAt(6), v: undefined } as StoredEntry, since(5)), true, 'an entry without a version counts as version 0');
    await given({ tombstone: { v: 5, t: 0 } });
    assert.equal(admits(env, KEY, undefined, since(5)), true, 'a delete it saw');
    await given({ tombstone: { v: 6, t: 0 } });
    assert.equal(admits(env, KEY, undefined, since(5)), false, 'a delete after its read');
    assert.equal(admits(env, '1:users:8', undefined, since(5)), true, "another key's tombstone");
  });

  it('a clear refuses the writes under its prefix read before it, and no others', async () => {
    await given({ clears: { '1:users:': { v: 9, t: 0 }, '2:': { v: 50, t: 0 }, '1:users:70': { v: 50, t: 0 } } });
    assert.equal(admits(env, KEY, undefined, { unchangedSince: 8 }), false, 'its namespace was cleared after the read');
    assert.equal(admits(env, KEY, undefined, { unchangedSince: 9 }), true, 'the clear was seen');
    assert.equal(admits(env, '3:users:7', undefined, { unchangedSince: 8 }), true, 'a prefix it does not start with');
    await given({ clears: { '': { v: 12, t: 0 } } });
    assert.equal(admits(env, KEY, undefined, { unchangedSince: 11 }), false, 'a clear of everything covers every key');
  });

  it("a later local change gives way when the cluster ordered it before this write", async () => {
    // A drop heard from the cluster carries the cluster version of the change it was for.
    const both = (unchangedSince: number, clusterVersion: number): WriteCondition => ({ unchangedSince, clusterVersion });
    assert.equal(admits(env, KEY, entryAt(6), both(5, 3)), false, 'a newer local entry without a cluster version keeps its place');
    assert.equal(admits(env, KEY, entryAt(6, 3), both(5, 3)), false, 'a newer entry of the same cluster version');
    assert.equal(admits(env, KEY, entryAt(6, 4), both(5, 3)), false, 'a newer entry of a later cluster version');
    assert.equal(admits(env, KEY, entryAt(6, 2), both(5, 3)), true, 'a newer entry the cluster ordered first');
    await given({ tombstone: { v: 6, t: 0 } });
    assert.equal(admits(env, KEY, undefined, both(5, 3)), false, 'a newer local delete without a cluster version');
    await given({ tombstone: { v: 6, t: 0, rv: 4 } });
    assert.equal(admits(env, KEY, undefined, both(5, 3)), false, 'a newer delete later on the cluster');
    await given({ tombstone: { v: 6, t: 0, rv: 3 } });
    assert.equal(admits(env, KEY, undefined, both(5, 3)), true, 'a drop of the very version being written: the copy may land');
  });

  it('with a cluster version, the cluster order decides whatever the local versions say', async () => {
    const cluster = (clusterVersion: number): WriteCondition => ({ clusterVersion });
    assert.equal(admits(env, KEY, entryAt(1, 7), cluster(8)), true, 'newer on the cluster');
    assert.equal(admits(env, KEY, entryAt(1, 7), cluster(7)), false, 'the value it already holds');
    assert.equal(admits(env, KEY, entryAt(1, 7), cluster(6)), false, 'older on the cluster');
    assert.equal(admits(env, KEY, entryAt(1), cluster(1)), true, 'an entry with no cluster version');
    await given({ tombstone: { v: 1, t: 0, rv: 7 } });
    assert.equal(admits(env, KEY, undefined, cluster(6)), false, 'deleted later on the cluster');
    assert.equal(admits(env, KEY, undefined, cluster(7)), true, 'the value the delete made way for');
    await given({ clears: { '1:': { v: 2, t: 0, rv: 10 } } });
    assert.equal(admits(env, KEY, undefined, cluster(9)), false, 'cleared later on the cluster');
    assert.equal(admits(env, KEY, undefined, cluster(10)), true);
    await given({ clears: { '0:': { v: 2, t: 0, rv: 99 } } });
    assert.equal(admits(env, KEY, undefined, cluster(10)), true, "another namespace's clear");
  });

  it('a stored record carries its versions and the seal of its key; a stamp its versions and time', () => {
    const entry = makeEntry({ a: 1 }, 1_000, 10, 20, 3);
    assert.deepEqual(storedRecord(KEY, entry, 4, undefined), { value: { a: 1 }, storedAt: 1_000, freshUntil: 1_010, staleUntil: 1_020, delta: 3, v: 4, kh: keySeal(KEY) });
    assert.deepEqual(storedRecord(KEY, entry, 4, 9), { value: { a: 1 }, storedAt: 1_000, freshUntil: 1_010, staleUntil: 1_020, delta: 3, v: 4, kh: keySeal(KEY), rv: 9 });
    assert.deepEqual(stampOf(4, 1_234, undefined), { v: 4, t: 1_234 });
    assert.deepEqual(stampOf(4, 1_234, 9), { v: 4, t: 1_234, rv: 9 });
    assert.equal(isStoredUnder(storedRecord(KEY, entry, 1, undefined), KEY), true);
    assert.equal(isStoredUnder(storedRecord(KEY, entry, 1, undefined), '1:users:8'), false, 'filed under another key');
    assert.equal(isStoredUnder({ ...storedRecord(KEY, entry, 1, undefined), kh: undefined }, KEY), false, 'no seal');
    assert.equal(isStoredUnder({ kh: keySeal(KEY) }, KEY), false, 'not an entry');
  });

  it('each change takes the next version and is logged under it; a read sees the committed counter', async () => {
    env.root.resetReadTxn();
    const before = currentVersion(env);
    const versions = await transact(env, env.entries, () => [
      recordChange(env, { o: 'me', t: 1, k: KEY }),
      recordChange(env, { o: 'me', t: 2, p: '1:' }),
    ]);
    assert.deepEqual(versions, [before + 1, before + 2]);
    env.root.resetReadTxn();
    assert.equal(currentVersion(env), before + 2);
    assert.deepEqual(env.log.get(before + 1), { o: 'me', t: 1, k: KEY });
    assert.deepEqual(env.log.get(before + 2), { o: 'me', t: 2, p: '1:' });
  });

  it('reads a stored entry only under the key it was stored for', async () => {
    const record = storedRecord(KEY, makeEntry('v', 0, 10, 10, 0), 3, undefined);
    await transact(env, env.entries, () => {
      env.entries.put(KEY, record);
      env.entries.put('1:users:8', record); // filed under the wrong key, as damage would
    });
    env.root.resetReadTxn();
    assert.deepEqual(storedEntry(env, KEY), record);
    assert.equal(storedEntry(env, '1:users:8'), undefined);
    assert.equal(storedEntry(env, '1:absent'), undefined);
  });
});
