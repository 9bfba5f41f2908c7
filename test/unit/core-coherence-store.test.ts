// Coherence on its own, over recording tiers: the basis of a compute and of a read, and the
// write path of a store: which tier is written in which order and under which condition, when a
// store is superseded, and how its failures surface.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TOMBSTONE_RETENTION } from '../../src/core/coherence.js';
import { makeEntry, type CacheEntry } from '../../src/core/entry.js';
import { NotSerializableError, StorageError } from '../../src/core/errors.js';
import type { WriteOutcome } from '../../src/core/tier.js';
import { deferred } from '../fixtures/policy-support.js';
import { cluster, entry, fails, harness, machineAndCluster, memorySet, tier } from '../fixtures/coherence-tiers.js';

describe('Coherence: the basis of a compute and of a read', () => {
  it('open keeps the counters the last read saw, observes only the tiers not read, and reports a tier that cannot say', () => {
    let asked = 0;
    const failure = new Error('counter unreadable');
    const h = harness((log) => [tier('lmdb', log, { observe: () => { asked++; return 9; } }), tier('redis', log, { scope: 'cluster', observe: fails(failure) }), tier('plain', log)]);
    const basis = h.coherence.open([5, 6]);
    assert.deepEqual([basis.shared, asked, basis.local, typeof basis.openedAt], [[5, 6, undefined], 0, 0, 'number']);
    assert.deepEqual(Object.keys(basis).sort(), ['local', 'openedAt', 'shared']);
    assert.deepEqual(h.reports, [], 'a tier without a counter is not a failure');
    const fresh = h.coherence.open([]);
    assert.deepEqual(fresh.shared, [9, undefined, undefined]);
    assert.deepEqual(h.reports, [{ tier: 'redis', report: { type: 'error', operation: 'observe', error: failure } }]);
    h.coherence.close(basis);
    h.coherence.close(fresh);
  });

  it('a read starts with nothing observed, and closing every basis and read lets the ledger forget', () => {
    const { coherence } = harness(() => []);
    const read = coherence.beginRead();
    assert.deepEqual(read, { local: 0, observed: [], versions: [] });
    const basis = coherence.open([]);
    coherence.ledger.change('0::k', true);
    coherence.endRead(read);
    assert.equal(coherence.ledger.size, 1, 'the basis still needs it');
    coherence.close(basis);
    assert.equal(coherence.ledger.size, 0);
  });
});

describe('Coherence.store', () => {
  it('a set writes the widest tier first without condition, carries the cluster version down, then keeps a copy in memory', async () => {
    const h = harness(machineAndCluster(42));
    assert.equal(await h.coherence.store('k', '0::k', entry), true);
    assert.deepEqual(h.log, ['redis set 0::k {}', 'lmdb set 0::k {clusterVersion=42}', memorySet]);
    assert.deepEqual([h.landed, h.counters.superseded], [['0::k'], 0]);
  });

  it('every tier keeps the one copy made at the call, with the entry\'s timing: the caller\'s later changes reach none', async () => {
    const shared: CacheEntry[] = [];
    const h = harness((log) => [tier('lmdb', log, { onSet: (stored) => shared.push(stored) })]);
    const value = { page: 'v' };
    await h.coherence.store('k', '0::k', makeEntry(value, 5, 10, 20, 3));
    value.page = 'changed';
    assert.deepEqual(shared, [makeEntry({ page: 'v' }, 5, 10, 20, 3)]);
    assert.notEqual(shared[0]?.value, value);
    assert.equal(h.inMemory[0], shared[0]);
  });

  it('a compute is stored on each tier only if unchanged since what it saw there; a machine tier\'s version is not a cluster version', async () => {
    const h = harness((log) => [tier('near', log), tier('far', log, { answer: () => ({ applied: true, version: 9 }) })]);
    const basis = h.coherence.open([3, 4]);
    assert.equal(await h.coherence.store('k', '0::k', entry, basis), true);
    assert.deepEqual(h.log, ['far set 0::k {unchangedSince=4}', 'near set 0::k {unchangedSince=3}', memorySet]);
  });

  it('a cluster tier that answers without a version, or without an outcome, still took the write', async () => {
    for (const answer of [(): WriteOutcome => ({ applied: true }), (): void => undefined]) {
      const h = harness((log) => [tier('lmdb', log), tier('redis', log, { scope: 'cluster', answer })]);
      assert.equal(await h.coherence.store('k', '0::k', entry), true);
      assert.deepEqual([h.log, h.landed], [['redis set 0::k {}', 'lmdb set 0::k {}', memorySet], ['0::k']]);
    }
  });

  it('a refusal by a shared tier supersedes the compute: nothing nearer is written, the memory copy goes, nobody woken, counted once', async () => {
    const h = harness((log) => [tier('lmdb', log), tier('redis', log, { scope: 'cluster', answer: () => ({ applied: false }) })]);
    const basis = h.coherence.open([1, 2]);
    assert.equal(await h.coherence.store('k', '0::k', entry, basis), false);
    assert.deepEqual([h.log, h.landed, h.counters.superseded], [['redis set 0::k {unchangedSince=2}', 'memory delete k'], [], 1]);
  });

  it('a compute leaves alone a tier it could not observe, but a tier without counters takes a plain write; a set writes them all', async () => {
    const h = harness((log) => [tier('reads', log, { read: true }), tier('plain', log), tier('observes', log, { observe: fails(new Error('no counter')) })]);
    const basis = h.coherence.open([]);
    assert.deepEqual(basis.shared, [undefined, undefined, undefined]);
    assert.equal(await h.coherence.store('k', '0::k', entry, basis), true);
    assert.deepEqual(h.log, ['plain set 0::k {}', memorySet]);
    h.log.length = 0;
    assert.equal(await h.coherence.store('k', '0::k', entry), true);
    assert.deepEqual(h.log, ['observes set 0::k {}', 'plain set 0::k {}', 'reads set 0::k {}', memorySet]);
  });

  it('a write of this process after the compute began supersedes it; a change only heard of, or of another key, does not', async () => {
    const h = harness(() => []);
    const first = h.coherence.open([]);
    h.coherence.heard({ key: '0::k' }, 0);
    await h.coherence.store('other', '0::other', entry);
    assert.equal(await h.coherence.store('k', '0::k', entry, first), true, 'the shared tiers judge what was heard');
    const second = h.coherence.open([]);
    await h.coherence.store('k', '0::k', entry);
    h.log.length = 0;
    assert.equal(await h.coherence.store('k', '0::k', entry, second), false);
    assert.deepEqual([h.log, h.counters.superseded], [[], 1]);
  });

  it('a compute that ran longer than tombstones are kept is returned but not stored', async () => {
    const h = harness(machineAndCluster(1));
    const basis = h.coherence.open([1, 1]);
    const now = performance.now();
    assert.equal(await h.coherence.store('k', '0::k', entry, { ...basis, openedAt: now - TOMBSTONE_RETENTION - 1_000 }), false);
    assert.deepEqual([h.log, h.counters.superseded], [[], 1]);
    assert.equal(await h.coherence.store('k', '0::k', entry, { ...basis, openedAt: now - TOMBSTONE_RETENTION + 60_000 }), true, 'long, but not that long');
    assert.equal(h.log.length, 3);
  });

  it('a value that cannot be encoded is refused before any tier is written', async () => {
    const h = harness(machineAndCluster(1));
    await assert.rejects(h.coherence.store('k', '0::k', makeEntry({ run: () => 1 }, 0, 1, 1, 0)), (error: unknown) => error instanceof NotSerializableError && error.code === 'E_NOT_SERIALIZABLE' && error.key === 'k');
    assert.deepEqual(h.log, []);
  });

  it('a failed machine tier does not stop the others; the memory copy goes, the machine copy it still holds is deleted', async () => {
    const diskFull = new Error('disk full');
    const h = harness((log) => [tier('lmdb', log, { answer: (op) => (op.op === 'set' ? fails(diskFull)() : { applied: true }) }), cluster(log, 5)]);
    await assert.rejects(h.coherence.store('k', '0::k', entry), (error: unknown) => {
      assert.ok(error instanceof StorageError);
      assert.deepEqual([error.code, error.tier, error.message, error.key, error.cause], ['E_STORAGE', 'shared', 'shared: the write failed', 'k', diskFull]);
      return true;
    });
    assert.deepEqual([h.log, h.landed], [['redis set 0::k {}', 'lmdb set 0::k {clusterVersion=5}', 'memory delete k', 'lmdb delete 0::k', 'memory delete k'], []], 'gone before the drop and again after it (a read meanwhile may copy the old value back)');
  });

  it('a failed cluster tier is left to repair itself, and a tier\'s own StorageError surfaces as it is', async () => {
    const down = new StorageError('redis', 'down');
    const h = harness((log) => [tier('lmdb', log), tier('redis', log, { scope: 'cluster', answer: fails(down) })]);
    await assert.rejects(h.coherence.store('k', '0::k', entry), (error: unknown) => error === down);
    assert.deepEqual(h.log, ['redis set 0::k {}', 'lmdb set 0::k {}', 'memory delete k', 'memory delete k']);
  });

  it('when no tier took the write nothing is dropped, and the widest tier\'s error is the cause', async () => {
    const far = new Error('far failed');
    const h = harness((log) => [tier('a', log, { answer: fails(new Error('near failed')) }), tier('b', log, { answer: fails(far) })]);
    await assert.rejects(h.coherence.store('k', '0::k', entry), (error: unknown) => error instanceof StorageError && error.cause === far);
    assert.deepEqual(h.log, ['b set 0::k {}', 'a set 0::k {}', 'memory delete k', 'memory delete k']);
  });

  it('a machine copy that cannot be dropped is reported, and the write still fails', async () => {
    const stuck = new Error('stuck');
    const h = harness((log) => [tier('lmdb', log, { answer: fails(stuck) }), cluster(log)]);
    await assert.rejects(h.coherence.store('k', '0::k', entry), StorageError);
    assert.deepEqual(h.reports, [{ tier: 'lmdb', report: { type: 'error', operation: 'drop-refused', error: stuck } }]);
  });

  it('a change of the key during the write keeps its memory copy out, and the end of the write is marked too', async () => {
    const gate = deferred<WriteOutcome>();
    const h = harness((log) => [tier('redis', log, { scope: 'cluster', answer: () => gate.promise })]);
    const before = h.coherence.beginRead();
    const storing = h.coherence.store('k', '0::k', entry);
    h.coherence.heard({ key: '0::k' }, 0);
    const during = h.coherence.beginRead();
    gate.resolve({ applied: true });
    assert.equal(await storing, true);
    assert.deepEqual([h.landed, h.log], [['0::k'], ['redis set 0::k {}', 'memory delete k', 'memory delete k']], 'the value landed, but memory keeps no copy, not even one a read made meanwhile');
    assert.equal(h.coherence.ledger.changedSince('0::k', during.local), true, 'a read that overlapped the write copies nothing');
    assert.equal(h.coherence.ledger.changedSince('0::k', before.local), true, 'nor one that began before it');
  });

  it('a compute that began before a set in flight, or while it was in flight, is superseded by it', async () => {
    const gate = deferred<WriteOutcome>();
    const h = harness((log) => [tier('redis', log, { scope: 'cluster', answer: (op) => (op.condition?.unchangedSince === undefined ? gate.promise : { applied: true }) })]);
    const before = h.coherence.open([7]);
    const setting = h.coherence.store('k', '0::k', entry);
    assert.equal(await h.coherence.store('k', '0::k', entry, before), false, 'the set had begun');
    const during = h.coherence.open([7]);
    gate.resolve({ applied: true });
    await setting;
    assert.equal(await h.coherence.store('k', '0::k', entry, during), false, 'the set ended after it began');
    assert.deepEqual([h.log, h.counters.superseded], [['redis set 0::k {}', memorySet], 2]);
  });
});
