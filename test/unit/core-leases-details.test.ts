// The process ledger's moments, boundaries and pruning; the lease chain's expiry, takeover, release and
// holder answers; and the edges of the per-key locks, the wakers and the closers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Closers } from '../../src/core/closers.js';
import { KeyLocks } from '../../src/policies/kit/key-locks.js';
import { leaseChain } from '../../src/core/lease-chain.js';
import { LocalLedger } from '../../src/core/local-ledger.js';
import { localLeaseStore } from '../../src/core/local-leases.js';
import type { Lease, LeaseStore } from '../../src/core/tier.js';
import { KeyWakers } from '../../src/core/wakers.js';
import { turns } from '../fixtures/policy-support.js';
import { manualClock } from '../helpers/clock.js';

describe('LocalLedger', () => {
  it('every change moves the moment on, but with nothing open nothing is remembered', () => {
    const ledger = new LocalLedger();
    assert.equal(ledger.observe(), 0);
    ledger.release(0);
    assert.deepEqual([ledger.change('a', true), ledger.changePrefix('p', true), ledger.change('b', false)], [1, 2, 3]);
    assert.equal(ledger.size, 0);
    const at = ledger.observe();
    assert.equal(at, 3);
    assert.equal(ledger.changedSince('a', 0), false, 'forgotten: nobody could ask');
    ledger.release(at);
  });

  it('a change is later than the moments before it, never than its own', () => {
    const ledger = new LocalLedger();
    const before = ledger.observe();
    ledger.change('k', true);
    const after = ledger.observe();
    assert.equal(ledger.changedSince('k', before), true);
    assert.equal(ledger.changedSince('k', after), false);
    assert.equal(ledger.changedSince('j', before), false, 'another key');
  });

  it('a change heard of counts for a read, not for a compute asking about its own process\'s writes', () => {
    const ledger = new LocalLedger();
    const at = ledger.observe();
    ledger.change('heard', false);
    assert.deepEqual([ledger.changedSince('heard', at), ledger.changedSince('heard', at, true)], [true, false]);
    ledger.change('mine', true);
    const between = ledger.observe();
    ledger.change('mine', false);
    assert.deepEqual([ledger.changedSince('mine', at, true), ledger.changedSince('mine', between, true), ledger.changedSince('mine', between)], [true, false, true]);
  });

  it('a prefix change covers the keys starting with it, after its moment, own or heard', () => {
    const ledger = new LocalLedger();
    const at = ledger.observe();
    ledger.changePrefix('0::', false);
    assert.deepEqual(['0::k', 'a0::', '1::0::k'].map((key) => ledger.changedSince(key, at)), [true, false, false]);
    assert.equal(ledger.changedSince('0::k', at, true), false, 'heard, not own');
    const after = ledger.observe();
    assert.equal(ledger.changedSince('0::k', after), false);
    ledger.changePrefix('', true);
    assert.deepEqual([ledger.changedSince('any', after), ledger.changedSince('any', after, true)], [true, true]);
    ledger.change('x', true);
    ledger.change('x', false);
    assert.equal(ledger.size, 3, 'two prefixes and one key');
  });

  it('counts observations of one moment, forgets when the last is released, and ignores a moment never observed', () => {
    const ledger = new LocalLedger();
    const first = ledger.observe();
    const second = ledger.observe();
    assert.equal(first, second);
    ledger.change('k', true);
    ledger.changePrefix('p', true);
    ledger.release(99);
    ledger.release(first);
    assert.equal(ledger.size, 2, 'one observation is still open');
    assert.equal(ledger.changedSince('k', first, true), true);
    ledger.release(second);
    assert.equal(ledger.size, 0);
    assert.deepEqual([ledger.changedSince('k', first), ledger.changedSince('k', first, true), ledger.changedSince('p1', first)], [false, false, false]);
  });

  // Builds a ledger whose oldest open observation sits exactly at the moment of the last old change.
  function withOldChanges(keyLast: boolean): { ledger: LocalLedger; first: number; second: number } {
    const ledger = new LocalLedger();
    const first = ledger.observe();
    if (keyLast) ledger.changePrefix('old:', true);
    ledger.change('old', true);
    if (!keyLast) ledger.changePrefix('old:', true);
    const second = ledger.observe();
    ledger.release(first);
    return { ledger, first, second };
  }

  for (const keyLast of [true, false]) {
    it(`at 1024 keys it forgets the changes at or before the oldest open observation (${keyLast ? 'a key' : 'a prefix'} at that very moment)`, () => {
      const { ledger, first, second } = withOldChanges(keyLast);
      for (let i = 0; i < 1_022; i++) ledger.change(`k${i}`, true);
      assert.equal(ledger.size, 1_024, 'one short of the threshold: all kept');
      assert.equal(ledger.changedSince('old', first, true), true);
      ledger.change('k1022', true);
      assert.equal(ledger.size, 1_023);
      assert.deepEqual([ledger.changedSince('old', first), ledger.changedSince('old', first, true), ledger.changedSince('old:x', first)], [false, false, false]);
      assert.equal(ledger.changedSince('k0', second, true), true, 'what came after it stays');
      // The threshold is now twice what is kept: nothing is pruned at the next change.
      const third = ledger.observe();
      ledger.release(second);
      ledger.change('later', true);
      assert.equal(ledger.size, 1_024);
      ledger.release(third);
    });
  }
});

function recording(scope: 'machine' | 'cluster', clock: () => number, calls: string[], name: string = scope): LeaseStore {
  const inner = localLeaseStore(clock);
  return {
    scope,
    acquire: (key, token, ttl) => { calls.push(`${name}:acquire`); return inner.acquire(key, token, ttl); },
    release: (key, token) => { calls.push(`${name}:release`); return inner.release(key, token); },
    holder: (key) => { calls.push(`${name}:holder`); return inner.holder(key); },
  };
}

const broken = (error: Error): LeaseStore => ({ scope: 'machine', acquire: () => Promise.reject(error), release: () => Promise.reject(error), holder: () => { throw error; } });

describe('leaseChain: details', () => {
  it('covers the widest store\'s scope: the machine\'s alone, the cluster\'s on top', () => {
    const clock = manualClock();
    assert.equal(leaseChain([recording('machine', clock, [])], localLeaseStore(clock), () => {}, () => {}).scope, 'machine');
    assert.equal(leaseChain([recording('machine', clock, []), recording('cluster', clock, [])], localLeaseStore(clock), () => {}, () => {}).scope, 'cluster');
  });

  it('a machine store that fails is reported as a failed acquire of that store', async () => {
    const failure = new Error('disk full');
    const machine = broken(failure);
    const seen: Array<[LeaseStore, string, unknown]> = [];
    const chain = leaseChain([machine], localLeaseStore(manualClock()), (store, operation, error) => seen.push([store, operation, error]), () => {});
    assert.equal((await chain.acquire('k', 'a', 100)).acquired, true);
    assert.deepEqual(seen, [[machine, 'lease-acquire', failure]]);
  });

  it('a lease held on both stores ends at the earlier of their expiries', async () => {
    for (const [machineAt, clusterAt] of [[1_000, 500], [500, 1_000]] as const) {
      const chain = leaseChain([localLeaseStore(manualClock(machineAt)), { ...localLeaseStore(manualClock(clusterAt)), scope: 'cluster' }], localLeaseStore(manualClock()), () => {}, () => {});
      assert.deepEqual(await chain.acquire('k', 'a', 100), { acquired: true, lease: { key: 'k', token: 'a', expiresAt: 600 }, tookOver: false });
    }
  });

  it('taking over an expired lease on either store is a takeover', async () => {
    for (const expired of ['machine', 'cluster'] as const) {
      const clock = manualClock(1_000);
      const machine = localLeaseStore(clock);
      const cluster: LeaseStore = { ...localLeaseStore(clock), scope: 'cluster' };
      await (expired === 'machine' ? machine : cluster).acquire('k', 'dead', 10);
      clock.advance(10);
      const grant = await leaseChain([machine, cluster], localLeaseStore(clock), () => {}, () => {}).acquire('k', 'a', 100);
      assert.ok(grant.acquired && grant.tookOver, `expired on the ${expired} store`);
    }
  });

  it('release asks the process store and then every store, reports those that fail, and says whether any let go', async () => {
    const clock = manualClock();
    const calls: string[] = [];
    const failure = new Error('release lost');
    const failing = broken(failure);
    const seen: Array<[LeaseStore, string, unknown]> = [];
    const cluster = recording('cluster', clock, calls);
    const chain = leaseChain([failing, cluster], recording('machine', clock, calls, 'process'), (store, operation, error) => seen.push([store, operation, error]), () => {});
    await cluster.acquire('k', 'a', 100);
    calls.length = 0;
    assert.equal(await chain.release('k', 'a'), true, 'the cluster store let go');
    assert.deepEqual(calls, ['process:release', 'cluster:release']);
    assert.deepEqual(seen, [[failing, 'lease-release', failure]]);
    assert.equal(await chain.release('k', 'a'), false, 'nobody held it any more');
  });

  it('the holder is asked nearest first: the first answer with a holder wins, failures are reported and skipped', async () => {
    const clock = manualClock();
    const calls: string[] = [];
    const failure = new Error('cannot ask');
    const seen: string[] = [];
    const near = recording('machine', clock, calls, 'process');
    const far = recording('cluster', clock, calls);
    const chain = leaseChain([broken(failure), far], near, (_store, operation) => seen.push(operation), () => {});
    await far.acquire('k', 'far', 100);
    await near.acquire('j', 'near', 100);
    calls.length = 0;
    assert.equal((await chain.holder('k'))?.token, 'far');
    assert.deepEqual([calls, seen], [['process:holder', 'cluster:holder'], ['lease-holder']]);
    calls.length = 0;
    assert.equal((await chain.holder('j'))?.token, 'near');
    assert.deepEqual(calls, ['process:holder'], 'the nearest holder answers alone');
    assert.equal(await chain.holder('free'), undefined, 'the stores that answered hold nothing');
  });

  it('when no store can answer who holds a key, the last failure is thrown', async () => {
    const last = new Error('last');
    const chain = leaseChain([broken(new Error('first'))], broken(new Error('fallback')), () => {}, () => {});
    await assert.rejects(Promise.resolve(chain.holder('k')), (error: unknown) => error instanceof Error && error.message === 'first');
    const three = leaseChain([broken(new Error('first')), broken(last)], broken(new Error('fallback')), () => {}, () => {});
    await assert.rejects(Promise.resolve(three.holder('k')), (error: unknown) => error === last);
  });
});

describe('localLeaseStore: details', () => {
  it('a key let go is taken afresh, not taken over; an unknown key has no holder and cannot be released', async () => {
    const clock = manualClock(0);
    const store = localLeaseStore(clock);
    assert.equal(store.holder('k'), undefined);
    assert.equal(await store.release('k', 'a'), false);
    await store.acquire('k', 'a', 50);
    clock.set(49);
    assert.deepEqual(store.holder('k'), { key: 'k', token: 'a', expiresAt: 50 } satisfies Lease);
    assert.equal(await store.release('k', 'stranger'), false);
    clock.set(50);
    assert.equal(store.holder('k'), undefined, 'expired at expiresAt');
    clock.set(49);
    await store.release('k', 'a');
    assert.deepEqual(await store.acquire('k', 'b', 50), { acquired: true, lease: { key: 'k', token: 'b', expiresAt: 99 }, tookOver: false });
  });
});

describe('KeyLocks: details', () => {
  it('each round of waiting on a key counts once, and a new round after the key went idle counts again', async () => {
    const locks = new KeyLocks();
    let rounds = 0;
    for (let round = 1; round <= 2; round++) {
      const held = await locks.acquire('k', 1_000, () => rounds++);
      const queued = locks.acquire('k', 1_000, () => rounds++);
      assert.equal(rounds, round);
      held?.();
      (await queued)?.();
      assert.equal(locks.size, 0);
    }
  });

  it('a wait already counted by firstWait is not counted again by a queued caller; an idle key is always a first wait', async () => {
    const locks = new KeyLocks();
    assert.deepEqual([locks.firstWait('idle'), locks.firstWait('idle'), locks.size], [true, true, 0]);
    const held = await locks.acquire('k', 1_000);
    assert.deepEqual([locks.firstWait('k'), locks.firstWait('k')], [true, false]);
    let counted = 0;
    const queued = locks.acquire('k', 1_000, () => counted++);
    held?.();
    (await queued)?.();
    assert.equal(counted, 0);
  });
});

describe('KeyWakers: details', () => {
  const closers = new Closers();
  const aborted = (): Error => new Error('closed');

  it('one sleeper of a key ending leaves the others of that key asleep', async () => {
    const wakers = new KeyWakers();
    let ended = false;
    const long = wakers.nap('k', 600_000, closers, aborted).then(() => { ended = true; });
    await wakers.nap('k', 1, closers, aborted);
    await turns();
    assert.deepEqual([ended, wakers.size], [false, 1]);
    wakers.wake('k');
    await long;
    assert.equal(wakers.size, 0);
  });

  it('a prefix wakes only the keys that start with it', async () => {
    const wakers = new KeyWakers();
    let ended = false;
    const outside = wakers.nap('a0::k', 600_000, closers, aborted).then(() => { ended = true; });
    const inside = wakers.nap('0::k', 600_000, closers, aborted);
    wakers.wakePrefix('0::');
    await inside;
    await turns();
    assert.deepEqual([ended, wakers.size], [false, 1]);
    wakers.wake('a0::k');
    await outside;
  });

  it('a nap rejects with the abort error itself when the cache closes, or at once if it had; an ended nap forgets its closer', async () => {
    const wakers = new KeyWakers();
    const shutting = new Closers();
    const error = new Error('closed');
    let made = 0;
    const abort = (): Error => { made++; return error; };
    await wakers.nap('k', 1, shutting, abort);
    const napping = wakers.nap('k', 600_000, shutting, abort);
    assert.equal(shutting.size, 1, 'only the nap still running is registered');
    shutting.close();
    await assert.rejects(napping, (thrown: unknown) => thrown === error);
    await assert.rejects(wakers.nap('k', 600_000, shutting, abort), (thrown: unknown) => thrown === error);
    assert.deepEqual([made, wakers.size, shutting.size], [2, 0, 0]);
  });
});

describe('Closers: details', () => {
  it('is open until closed; runs each registration once, never a forgotten one, and one added after at once', () => {
    const closers = new Closers();
    assert.equal(closers.closed, false);
    const ran: string[] = [];
    closers.add(() => ran.push('a'));
    const forget = closers.add(() => ran.push('forgotten'));
    closers.add(() => closers.add(() => ran.push('added while closing')));
    forget();
    assert.equal(closers.size, 2);
    closers.close();
    assert.deepEqual([closers.closed, closers.size, ran], [true, 0, ['a', 'added while closing']]);
    closers.close();
    const late = closers.add(() => ran.push('late'));
    late();
    assert.deepEqual([ran, closers.size], [['a', 'added while closing', 'late'], 0]);
  });

});
