// Coherence on its own, over recording tiers: deletes and clears, a cache without a memory tier,
// read-through copies (promote) and what a change heard from elsewhere drops.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Coherence } from '../../src/core/coherence.js';
import { StorageError } from '../../src/core/errors.js';
import type { WriteOutcome } from '../../src/core/tier.js';
import { deferred, turns } from '../fixtures/policy-support.js';
import { cluster, entry, fails, harness, machineAndCluster, tier } from '../fixtures/coherence-tiers.js';

describe('Coherence.remove and clear', () => {
  it('a delete drops the memory copy before and after, runs widest first, and carries only a cluster version down', async () => {
    const h = harness((log) => [tier('near', log), cluster(log, 8), tier('far', log, { answer: () => ({ applied: true, version: 3 }) })]);
    await h.coherence.remove('k', '0::k');
    assert.deepEqual(h.log, ['memory delete k', 'far delete 0::k {}', 'redis delete 0::k {}', 'near delete 0::k {clusterVersion=8}', 'memory delete k']);
  });

  it('a clear empties memory before and after and clears the namespace widest first with the cluster version', async () => {
    const h = harness(machineAndCluster(8));
    await h.coherence.clear();
    assert.deepEqual(h.log, ['memory clear ', 'redis clear 0:: {}', 'lmdb clear 0:: {clusterVersion=8}', 'memory clear ']);
  });

  it('a cluster tier that answers with nothing is no failure, and one without a version does not erase a wider one\'s', async () => {
    const h = harness((log) => [tier('lmdb', log), tier('redis', log, { scope: 'cluster', answer: () => undefined })]);
    await h.coherence.remove('k', '0::k');
    await h.coherence.clear();
    assert.deepEqual(h.log.filter((line) => line.startsWith('lmdb')), ['lmdb delete 0::k {}', 'lmdb clear 0:: {}']);
    const two = harness((log) => [tier('lmdb', log), tier('near', log, { scope: 'cluster' }), tier('wide', log, { scope: 'cluster', answer: () => ({ applied: true, version: 8 }) })]);
    await two.coherence.remove('k', '0::k');
    assert.deepEqual(two.log.filter((line) => line.startsWith('lmdb')), ['lmdb delete 0::k {clusterVersion=8}']);
  });

  it('a delete or clear that fails somewhere still reaches every tier and the memory copy, and says which operation failed', async () => {
    const far = new Error('far failed');
    const h = harness((log) => [tier('near', log, { answer: fails(new Error('near failed')) }), tier('far', log, { answer: fails(far) })]);
    await assert.rejects(h.coherence.remove('k', '0::k'), (error: unknown) => {
      assert.ok(error instanceof StorageError);
      assert.deepEqual([error.message, error.key, error.cause], ['shared: delete failed', 'k', far]);
      return true;
    });
    assert.deepEqual(h.log, ['memory delete k', 'far delete 0::k {}', 'near delete 0::k {}', 'memory delete k']);
    h.log.length = 0;
    await assert.rejects(h.coherence.clear(), (error: unknown) => error instanceof StorageError && error.message === 'shared: clear failed' && error.key === undefined && error.cause === far);
    assert.deepEqual(h.log, ['memory clear ', 'far clear 0:: {}', 'near clear 0:: {}', 'memory clear ']);
    const own = new StorageError('lmdb', 'full');
    const passing = harness((log) => [tier('lmdb', log, { answer: fails(own) })]);
    await assert.rejects(passing.coherence.remove('k', '0::k'), (error: unknown) => error === own);
    await assert.rejects(passing.coherence.clear(), (error: unknown) => error === own);
  });

  for (const [name, write] of [['delete', (c: Coherence) => c.remove('k', '0::k')], ['clear', (c: Coherence) => c.clear()]] as const) {
    it(`a compute of the key that began before a ${name} or while it ran is not stored`, async () => {
      const gate = deferred<WriteOutcome>();
      const h = harness((log) => [tier('redis', log, { scope: 'cluster', answer: (op) => (op.op === 'set' ? { applied: true } : gate.promise) })]);
      const other = h.coherence.open([1]);
      const before = h.coherence.open([1]);
      const writing = write(h.coherence);
      assert.equal(await h.coherence.store('k', '0::k', entry, before), false, `the ${name} had begun`);
      const during = h.coherence.open([1]);
      gate.resolve({ applied: true });
      await writing;
      assert.equal(await h.coherence.store('k', '0::k', entry, during), false, `the ${name} ended after it began`);
      assert.equal(await h.coherence.store('x', '1::x', entry, other), true, 'another namespace is untouched');
      assert.equal(h.counters.superseded, 2);
    });
  }
});

describe('Coherence without a memory tier', () => {
  it('stores, fails, deletes, clears, copies and hears changes with the shared tiers alone', async () => {
    const h = harness((log) => [tier('lmdb', log, { answer: (op) => (op.key === 'bad' ? fails(new Error('refused'))() : { applied: true }) }), cluster(log)], false);
    assert.equal(await h.coherence.store('k', '0::k', entry), true);
    await assert.rejects(h.coherence.store('k', 'bad', entry), StorageError);
    await h.coherence.remove('k', '0::k');
    await h.coherence.clear();
    const read = h.coherence.beginRead();
    read.observed.push(1);
    h.coherence.promote('k', '0::k', entry, 1, read);
    h.coherence.heard({ key: '0::k' }, 1);
    h.coherence.heard({ prefix: '0::' }, 1);
    await Promise.all(h.adopted);
    assert.deepEqual(h.log.map((line) => line.split(' ').slice(0, 2).join(' ')), ['redis set', 'lmdb set', 'redis set', 'lmdb set', 'lmdb delete', 'redis delete', 'lmdb delete', 'redis clear', 'lmdb clear', 'lmdb set', 'lmdb delete', 'lmdb clear']);
  });
});

describe('Coherence.promote', () => {
  it('copies what a wider tier held into memory and into each nearer tier it observed, with the cluster version it was found at', () => {
    const h = harness((log) => [tier('a', log), tier('b', log), cluster(log), tier('d', log)]);
    const read = h.coherence.beginRead();
    read.observed.push(4, undefined, 11, 12);
    read.versions.push(undefined, undefined, 21, 22);
    h.coherence.promote('k', '0::k', entry, 2, read);
    assert.deepEqual(h.log, ['memory set k', 'a set 0::k {unchangedSince=4,clusterVersion=21}']);
  });

  it('found in a machine tier the copy carries no cluster version; found in the nearest, only memory gets a copy', () => {
    const h = harness((log) => [tier('a', log), tier('b', log)]);
    const read = h.coherence.beginRead();
    read.observed.push(4, 6);
    read.versions.push(undefined, 30);
    h.coherence.promote('k', '0::k', entry, 1, read);
    h.coherence.promote('k', '0::k', entry, 0, read);
    assert.deepEqual(h.log, ['memory set k', 'a set 0::k {unchangedSince=4}', 'memory set k']);
  });

  it('no memory copy from a read that overlapped a change, even one heard of; a copy a tier refuses is reported', async () => {
    const broken = new Error('copy failed');
    const h = harness((log) => [tier('a', log, { answer: fails(broken) }), tier('b', log, { answer: () => Promise.reject(broken) }), tier('c', log)]);
    const read = h.coherence.beginRead();
    read.observed.push(1, 2);
    h.coherence.heard({ key: '0::k' }, 0);
    h.log.length = 0;
    h.coherence.promote('k', '0::k', entry, 2, read);
    assert.deepEqual(h.log, ['a set 0::k {unchangedSince=1}', 'b set 0::k {unchangedSince=2}']);
    await turns();
    assert.deepEqual(h.reports, ['a', 'b'].map((name) => ({ tier: name, report: { type: 'error', operation: 'promote', error: broken } })));
  });
});

describe('Coherence.heard', () => {
  const siteHarness = (machineSite?: string) => harness((log) => [tier('lmdb', log, machineSite === undefined ? {} : { site: machineSite }), cluster(log)]);

  it('a change from a wider tier drops the memory copy, then the nearer copies older than its version, then memory again', async () => {
    const h = siteHarness('host-a');
    const read = h.coherence.beginRead();
    const basis = h.coherence.open([1, 1]);
    const change = { key: '0::k', version: 12, site: 'host-b' };
    h.coherence.heard(change, 1);
    assert.deepEqual(h.log, ['memory delete k', 'lmdb delete 0::k {clusterVersion=12}']);
    assert.deepEqual([h.counters.invalidations, h.heardOf, h.adopted.length], [1, [change], 1]);
    assert.equal(h.coherence.ledger.changedSince('0::k', read.local), true, 'a read that overlapped it copies nothing');
    assert.equal(h.coherence.ledger.changedSince('0::k', basis.local, true), false, 'not a write of this process');
    await h.adopted[0];
    assert.deepEqual(h.log.slice(2), ['memory delete k']);
  });

  it('the writer\'s own machine keeps its copy; a change without a site, or from another site, drops it', () => {
    const own = siteHarness('host-a');
    own.coherence.heard({ key: '0::k', site: 'host-a' }, 1);
    assert.deepEqual([own.log, own.adopted.length], [['memory delete k'], 0]);
    for (const [machineSite, change] of [['host-a', { key: '0::k' }], [undefined, { key: '0::k' }], ['host-a', { key: '0::k', site: 'host-b' }], [undefined, { key: '0::k', site: 'host-b' }]] as const) {
      const h = siteHarness(machineSite);
      h.coherence.heard(change, 1);
      assert.deepEqual(h.log, ['memory delete k', 'lmdb delete 0::k {}']);
    }
  });

  it('a change reported by the nearest shared tier goes no further, and another namespace\'s change is ignored', () => {
    const h = siteHarness();
    h.coherence.heard({ key: '0::k' }, 0);
    assert.deepEqual([h.log, h.adopted.length, h.counters.invalidations], [['memory delete k'], 0, 1]);
    h.coherence.heard({ key: '1::k' }, 1);
    h.coherence.heard({ prefix: '1::' }, 1);
    assert.deepEqual([h.log.length, h.heardOf.length, h.counters.invalidations], [1, 1, 1]);
  });

  it('a cleared namespace, or everything cleared, empties memory and the nearer tiers', async () => {
    const h = siteHarness();
    const read = h.coherence.beginRead();
    const basis = h.coherence.open([1, 1]);
    h.coherence.heard({ prefix: '0::', version: 3 }, 1);
    h.coherence.heard({ prefix: '' }, 1);
    assert.deepEqual(h.log, ['memory clear ', 'lmdb clear 0:: {clusterVersion=3}', 'memory clear ', 'lmdb clear  {}']);
    assert.equal(h.coherence.ledger.changedSince('0::any', read.local), true);
    assert.equal(h.coherence.ledger.changedSince('0::any', basis.local, true), false);
    await Promise.all(h.adopted);
    assert.deepEqual([h.log.slice(4), h.counters.invalidations], [['memory clear ', 'memory clear '], 2]);
  });

  it('a nearer tier that cannot drop its copy is reported, never thrown', async () => {
    const refused = new Error('cannot drop');
    const h = harness((log) => [tier('lmdb', log, { answer: fails(refused) }), cluster(log)]);
    h.coherence.heard({ key: '0::k' }, 1);
    await Promise.all(h.adopted);
    assert.deepEqual(h.reports, [{ tier: 'lmdb', report: { type: 'error', operation: 'invalidate', error: refused } }]);
  });
});
