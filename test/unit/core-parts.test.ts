// The small parts of the core on their own: leases (process-local and the fallback chain),
// per-key locks, the wakers of waiting callers, error fields, the event emitter and the default clock.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { coarseClock } from '../../src/core/clock.js';
import { AbortedError, ColdCacheError, HardTimeoutError, HerdcacheError, InvalidKeyError, LeaseWaitTimeoutError, NotSerializableError, StorageError } from '../../src/core/errors.js';
import { CacheEventEmitter, DIAGNOSTICS_CHANNEL } from '../../src/core/events.js';
import { KeyLocks } from '../../src/policies/kit/key-locks.js';
import { leaseChain } from '../../src/core/lease-chain.js';
import { localLeaseStore } from '../../src/core/local-leases.js';
import type { LeaseStore } from '../../src/core/tier.js';
import { KeyWakers } from '../../src/core/wakers.js';
import { manualClock } from '../helpers/clock.js';
import { Closers } from '../../src/core/closers.js';

describe('localLeaseStore', () => {
  it('grants one holder until expiry, exactly at expiresAt it is free, and only the token releases', async () => {
    const clock = manualClock(1_000);
    const store = localLeaseStore(clock);
    assert.equal(store.scope, 'process');
    const first = await store.acquire('k', 't1', 100);
    assert.deepEqual(first, { acquired: true, lease: { key: 'k', token: 't1', expiresAt: 1_100 }, tookOver: false });
    assert.deepEqual(await store.acquire('k', 't2', 100), { acquired: false, holder: { key: 'k', token: 't1', expiresAt: 1_100 } });
    assert.deepEqual(store.holder('k'), { key: 'k', token: 't1', expiresAt: 1_100 });
    assert.equal(await store.release('k', 't2'), false, 'a stranger cannot release');
    clock.set(1_099);
    assert.equal((await store.acquire('k', 't2', 100)).acquired, false);
    clock.set(1_100);
    assert.equal(store.holder('k'), undefined, 'expired at expiresAt');
    const takeover = await store.acquire('k', 't2', 100);
    assert.deepEqual(takeover, { acquired: true, lease: { key: 'k', token: 't2', expiresAt: 1_200 }, tookOver: true });
    assert.equal(await store.release('k', 't1'), false, 'the old owner cannot release its successor');
    assert.equal(await store.release('k', 't2'), true);
    assert.equal(await store.release('k', 't2'), false, 'released once');
    assert.equal(store.holder('k'), undefined);
    assert.equal((await store.acquire('k', 't3', 100)).acquired && (await store.acquire('j', 't4', 100)).acquired, true, 'keys are independent');
  });
});

function failing(scope: 'cluster' | 'machine'): LeaseStore {
  const fail = (): never => { throw new Error(`${scope} down`); };
  return { scope, acquire: async () => fail(), release: async () => fail(), holder: () => fail() };
}

describe('leaseChain', () => {
  it('is the fallback store itself when there is no shared store', () => {
    const only = localLeaseStore(Date.now);
    assert.equal(leaseChain([], only, () => {}, () => {}), only);
  });

  it('takes the machine lease first and the cluster lease on top; a cluster holder elsewhere refuses and the machine lease is let go', async () => {
    const clock = manualClock();
    const machine = localLeaseStore(clock);
    const cluster = localLeaseStore(clock);
    const chain = leaseChain([machine, cluster], localLeaseStore(clock), () => {}, () => assert.fail('nothing degraded'));
    const grant = await chain.acquire('k', 'a', 100);
    assert.equal(grant.acquired, true);
    assert.equal((await machine.holder("k"))?.token, "a");
    assert.equal((await cluster.holder("k"))?.token, "a");
    await cluster.acquire('j', 'other-machine', 100);
    const refused = await chain.acquire('j', 'b', 100);
    assert.deepEqual(refused.acquired ? 'granted' : refused.holder.token, 'other-machine');
    assert.equal(machine.holder('j'), undefined, 'the machine lease was given back');
    assert.equal(await chain.release('k', 'a'), true);
    assert.equal(machine.holder('k'), undefined);
    assert.equal(cluster.holder('k'), undefined);
  });

  it('a machine holder refuses before the cluster store is asked', async () => {
    const clock = manualClock();
    const machine = localLeaseStore(clock);
    let asked = 0;
    const cluster: LeaseStore = { ...localLeaseStore(clock), acquire: async () => { asked++; throw new Error('not to be asked'); } };
    await machine.acquire('k', 'neighbour', 100);
    const grant = await leaseChain([machine, cluster], localLeaseStore(clock), () => {}, () => {}).acquire('k', 'a', 100);
    assert.equal(grant.acquired, false);
    assert.equal(asked, 0);
  });

  it('when the cluster store fails the machine lease still stands: degraded, counted and reported', async () => {
    const clock = manualClock();
    const machine = localLeaseStore(clock);
    const reports: string[] = [];
    let degraded = 0;
    const chain = leaseChain([machine, failing('cluster')], localLeaseStore(clock), (store, operation, error) => reports.push(`${store.scope}:${operation}:${(error as Error).message}`), () => degraded++);
    assert.equal(chain.scope, 'cluster');
    assert.equal((await chain.acquire('k', 'a', 100)).acquired, true);
    assert.equal(degraded, 1);
    assert.deepEqual(reports, ['cluster:lease-acquire:cluster down']);
    const second = await chain.acquire('k', 'b', 100);
    assert.equal(second.acquired, false, 'a second process of the machine is still refused');
    assert.equal((await chain.holder('k'))?.token, 'a');
    assert.equal(await chain.release('k', 'a'), true);
    assert.equal(await chain.holder('k'), undefined);
  });

  it('when the machine store fails the process-local store stands in, counted as degraded', async () => {
    const clock = manualClock();
    let degraded = 0;
    const chain = leaseChain([failing('machine')], localLeaseStore(clock), () => {}, () => degraded++);
    assert.equal((await chain.acquire('k', 'a', 100)).acquired, true);
    assert.equal((await chain.acquire('k', 'b', 100)).acquired, false, 'this process still coordinates');
    assert.equal(degraded, 2);
    assert.equal((await chain.holder('k'))?.token, 'a');
  });
});

describe('KeyLocks', () => {
  it('lets one holder per key in, queues the others in order, and forgets idle keys', async () => {
    const locks = new KeyLocks();
    const order: string[] = [];
    let queued = 0;
    const first = await locks.acquire('k', 1_000, () => queued++);
    assert.ok(first !== undefined);
    assert.equal(queued, 0, 'nobody queued behind a free lock');
    const second = locks.acquire('k', 1_000, () => queued++).then((r) => { order.push('second'); return r; });
    const third = locks.acquire('k', 1_000, () => queued++).then((r) => { order.push('third'); return r; });
    const other = await locks.acquire('j', 1_000);
    assert.ok(other !== undefined, 'another key is not blocked');
    assert.equal(queued, 1, 'one round counts one wait');
    assert.equal(locks.firstWait('k'), false, 'already counted');
    assert.equal(locks.size, 2);
    first();
    const r2 = await second;
    assert.deepEqual(order, ['second']);
    r2?.();
    (await third)?.();
    other();
    assert.deepEqual(order, ['second', 'third']);
    assert.equal(locks.size, 0, 'idle keys are forgotten');
    assert.equal(locks.firstWait('gone'), true);
  });

  it('gives up after the timeout and resolves undefined', async () => {
    const locks = new KeyLocks();
    const held = await locks.acquire('k', 1_000);
    assert.equal(await locks.acquire('k', 20), undefined);
    assert.equal(locks.size, 1, 'the timed-out waiter left');
    held?.();
    assert.equal(locks.size, 0);
    const again = await locks.acquire('k', 20);
    assert.ok(again !== undefined, 'free again after release');
    again();
  });
});

describe('KeyWakers', () => {
  const never = new Closers();
  const closed = (): Error => new Error('closed');

  it('a nap ends when its key is woken, long before its pause, and leaves nothing behind', async () => {
    const wakers = new KeyWakers();
    let ended = false;
    const napping = wakers.nap('0::a', 600_000, never, closed).then(() => { ended = true; });
    const other = wakers.nap('0::b', 600_000, never, closed);
    assert.equal(wakers.size, 2);
    wakers.wake('0::b-not-quite');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ended, false, 'another key does not wake it');
    wakers.wake('0::a');
    await napping;
    assert.equal(wakers.size, 1);
    wakers.wakePrefix('0::');
    await other;
    assert.equal(wakers.size, 0);
  });

  it('a nap ends by itself after its pause, and several sleepers of one key all wake', async () => {
    const wakers = new KeyWakers();
    await wakers.nap('k', 5, never, closed);
    const all = [wakers.nap('k', 600_000, never, closed), wakers.nap('k', 600_000, never, closed)];
    assert.equal(wakers.size, 1);
    wakers.wakePrefix('');
    await Promise.all(all);
    assert.equal(wakers.size, 0);
  });

  it('rejects with the abort error when the cache closes, at once if it already has, and leaves no registration behind', async () => {
    const wakers = new KeyWakers();
    const closers = new Closers();
    const napping = wakers.nap('k', 600_000, closers, closed);
    const woken = wakers.nap('j', 600_000, closers, closed);
    wakers.wake('j');
    await woken;
    assert.equal(closers.size, 1, 'a nap that ended forgot its registration');
    closers.close();
    await assert.rejects(napping, /closed/);
    await assert.rejects(wakers.nap('k', 600_000, closers, closed), /closed/);
    assert.equal(wakers.size, 0);
    assert.equal(closers.size, 0);
  });
});

describe('errors', () => {
  it('carry code, key, cause and domain fields; messages name the key', () => {
    const cause = new Error('disk');
    const storage = new StorageError('lmdb', 'set could not be committed', { key: 'k', cause });
    assert.equal(storage.cause, cause);
    assert.equal(storage.key, 'k');
    assert.equal(storage.tier, 'lmdb');
    assert.equal(storage.message, 'lmdb: set could not be committed');
    assert.equal(new HerdcacheError('E_X', 'm').cause, undefined);
    assert.equal('cause' in new HerdcacheError('E_X', 'm'), false);
    assert.equal(new InvalidKeyError('bad').key, undefined);
    assert.equal(new InvalidKeyError('bad', 'k').key, 'k');
    const ns = new NotSerializableError('', 'functions cannot be stored', 'k');
    assert.equal(ns.message, 'value: functions cannot be stored');
    assert.equal(new NotSerializableError('a.b', 'x').message, 'value at a.b: x');
    assert.equal(ns.key, 'k');
    const cold = new ColdCacheError('page');
    assert.match(cold.message, /"page".*retry shortly/);
    assert.equal(cold.key, 'page');
    const hard = new HardTimeoutError('page', 500);
    assert.match(hard.message, /"page" took longer than the hard timeout of 500 ms/);
    assert.equal(hard.key, 'page');
    assert.equal(hard.timeout, 500);
    const wait = new LeaseWaitTimeoutError('page', 1234);
    assert.match(wait.message, /waited 1234 ms .*"page"/);
    assert.equal(wait.key, 'page');
    const aborted = new AbortedError('page', 'the cache was closed');
    assert.equal(aborted.message, '"page": the cache was closed');
    assert.equal(aborted.key, 'page');
    assert.equal(aborted.name, 'AbortedError');
  });
});

describe('CacheEventEmitter', () => {
  it('delivers to listeners until removed, isolates a throwing listener, publishes on the diagnostics channel', () => {
    const emitter = new CacheEventEmitter('ns');
    const seen: string[] = [];
    const listener = (e: { key: string }): void => { seen.push(e.key); };
    emitter.on('lease-takeover', () => { throw new Error('faulty listener'); });
    emitter.on('lease-takeover', listener);
    const published: unknown[] = [];
    const onMessage = (message: unknown): void => { published.push(message); };
    assert.equal(DIAGNOSTICS_CHANNEL, 'herdcache:events');
    emitter.emit('lease-takeover', { key: 'a' });
    subscribe(DIAGNOSTICS_CHANNEL, onMessage);
    try {
      emitter.emit('lease-takeover', { key: 'b' });
    } finally {
      unsubscribe(DIAGNOSTICS_CHANNEL, onMessage);
    }
    emitter.off('lease-takeover', listener);
    emitter.off('refresh', listener as never);
    emitter.emit('lease-takeover', { key: 'c' });
    emitter.emit('refresh', { key: 'd', source: 'x', duration: 1 });
    assert.deepEqual(seen, ['a', 'b']);
    assert.deepEqual(published, [{ type: 'lease-takeover', namespace: 'ns', key: 'b' }]);
  });
});

describe('coarseClock', () => {
  it('reads the wall clock and reuses the reading for about a millisecond', async () => {
    const before = Date.now();
    const a = coarseClock();
    assert.ok(a >= before && a <= Date.now());
    assert.equal(coarseClock(), a, 'the same reading within one synchronous block');
    await new Promise((resolve) => setTimeout(resolve, 15));
    const b = coarseClock();
    assert.ok(b > a, 'a new reading once the millisecond passed');
    assert.ok(b >= Date.now() - 2);
  });
});
