// The exact fields, codes and messages of every error class, what a stats snapshot holds, and
// how the event emitter delivers to several listeners and to the diagnostics channel, and how the
// default clock reuses one reading.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { coarseClock } from '../../src/core/clock.js';
import {
  AbortedError,
  CacheClosedError,
  ColdCacheError,
  errors,
  HardTimeoutError,
  HerdcacheError,
  InvalidKeyError,
  InvalidOptionError,
  LeaseWaitTimeoutError,
  NotSerializableError,
  PolicyConflictError, PolicyContractError,
  StorageError,
} from '../../src/core/errors.js';
import { CacheEventEmitter, DIAGNOSTICS_CHANNEL } from '../../src/core/events.js';
import { StatsCounters, type Counter } from '../../src/core/stats.js';

describe('error codes and messages', () => {
  it('keep the documented stable codes, on the class and on each instance', () => {
    const expected: ReadonlyArray<readonly [HerdcacheError, { code: string }, string]> = [
      [new InvalidKeyError('m'), InvalidKeyError, 'E_INVALID_KEY'],
      [new InvalidOptionError('ttl', 'm'), InvalidOptionError, 'E_INVALID_OPTION'],
      [new PolicyConflictError('a', 'b', 'm'), PolicyConflictError, 'E_POLICY_CONFLICT'],
      [new PolicyContractError('p', 'm'), PolicyContractError, 'E_POLICY_CONTRACT'],
      [new NotSerializableError('', 'm'), NotSerializableError, 'E_NOT_SERIALIZABLE'],
      [new CacheClosedError(), CacheClosedError, 'E_CACHE_CLOSED'],
      [new ColdCacheError('k'), ColdCacheError, 'E_COLD_CACHE'],
      [new HardTimeoutError('k', 1), HardTimeoutError, 'E_HARD_TIMEOUT'],
      [new LeaseWaitTimeoutError('k', 1), LeaseWaitTimeoutError, 'E_LEASE_WAIT_TIMEOUT'],
      [new StorageError('lmdb', 'm'), StorageError, 'E_STORAGE'],
      [new AbortedError('k', 'm'), AbortedError, 'E_ABORTED'],
    ];
    for (const [err, cls, code] of expected) {
      assert.equal(cls.code, code);
      assert.equal(err.code, code);
      assert.equal(err.name, (cls as unknown as { name: string }).name);
      assert.ok(err instanceof HerdcacheError && err instanceof Error);
    }
  });

  it('are all exported together under their own names', () => {
    assert.deepEqual(Object.keys(errors), [
      'HerdcacheError', 'InvalidKeyError', 'InvalidOptionError', 'PolicyConflictError', 'PolicyContractError', 'NotSerializableError', 'CacheClosedError',
      'ColdCacheError', 'HardTimeoutError', 'LeaseWaitTimeoutError', 'StorageError', 'AbortedError',
    ]);
    for (const [name, cls] of Object.entries(errors)) assert.equal(cls.name, name);
  });

  it('HerdcacheError takes any code, a key and a cause, each optional', () => {
    const bare = new HerdcacheError('E_CUSTOM', 'custom');
    assert.equal(bare.code, 'E_CUSTOM');
    assert.equal(bare.message, 'custom');
    assert.equal(bare.name, 'HerdcacheError');
    assert.equal(bare.key, undefined);
    const cause = new Error('root');
    const full = new HerdcacheError('E_CUSTOM', 'custom', { key: 'k', cause });
    assert.equal(full.key, 'k');
    assert.equal(full.cause, cause);
    class Custom extends HerdcacheError {}
    assert.equal(new Custom('E_X', 'm').name, 'Custom', 'a subclass is named after itself');
  });

  it('InvalidOptionError puts the option path first and keeps it', () => {
    const err = new InvalidOptionError('serveStale.maxAge', 'must be longer');
    assert.equal(err.message, 'serveStale.maxAge: must be longer');
    assert.equal(err.option, 'serveStale.maxAge');
    assert.equal(err.key, undefined);
    assert.equal('cause' in err, false);
  });

  it('PolicyConflictError names both policies, in order', () => {
    const err = new PolicyConflictError('barrier', 'xfetch', 'put xfetch first');
    assert.equal(err.message, 'barrier + xfetch: put xfetch first');
    assert.deepEqual(err.policies, ['barrier', 'xfetch']);
  });

  it('NotSerializableError names the path and the key when given', () => {
    const err = new NotSerializableError('items[3]', 'a function', 'k');
    assert.equal(err.message, 'value at items[3]: a function');
    assert.equal(err.path, 'items[3]');
    assert.equal(err.key, 'k');
    assert.equal(new NotSerializableError('', 'x').message, 'value: x', 'no path, no "at"');
    assert.equal(new NotSerializableError('', 'x').path, '');
    assert.equal(new NotSerializableError('', 'x').key, undefined);
  });

  it('the errors about one key say what to do, word for word', () => {
    assert.equal(new CacheClosedError().message, 'the cache is closed: create a new one with createCache()');
    assert.equal(new CacheClosedError().key, undefined);
    const cold = new ColdCacheError('page');
    assert.equal(cold.message, 'no cached value for "page" yet and another caller is computing it: retry shortly');
    assert.equal(cold.key, 'page');
    const hard = new HardTimeoutError('page', 250);
    assert.equal(hard.message, 'compute of "page" took longer than the hard timeout of 250 ms and was aborted');
    assert.equal(hard.timeout, 250);
    const wait = new LeaseWaitTimeoutError('page', 900);
    assert.equal(wait.message, 'waited 900 ms for another caller to compute "page": raise maxWait or the lease');
    assert.equal(wait.key, 'page');
    assert.equal(new AbortedError('page', 'closed').key, 'page');
  });

  it('StorageError names its tier, and carries a key and cause only when given', () => {
    const plain = new StorageError('redis', 'server down');
    assert.equal(plain.message, 'redis: server down');
    assert.equal(plain.tier, 'redis');
    assert.equal(plain.key, undefined);
    assert.equal('cause' in plain, false);
    const cause = new Error('ENOSPC');
    const full = new StorageError('lmdb', 'commit failed', { key: 'k', cause });
    assert.equal(full.key, 'k');
    assert.equal(full.cause, cause);
  });
});

const COUNTERS: readonly Counter[] = [
  'misses', 'computes', 'computeErrors', 'sets', 'deletes', 'evictions', 'corrupt', 'corruptFiles', 'errors', 'invalidations',
  'staleServed', 'earlyRefreshes', 'staleRefreshes', 'backgroundErrors', 'leaseWaits', 'leaseTakeovers', 'coalesced', 'coldErrors',
  'softTimeouts', 'hardTimeouts', 'superseded', 'leasesDegraded',
];

describe('StatsCounters', () => {
  it('start every counter and every tier at zero', () => {
    const snapshot = new StatsCounters(['memory', 'lmdb']).snapshot();
    assert.deepEqual(snapshot, { hits: { memory: 0, lmdb: 0 }, ...Object.fromEntries(COUNTERS.map((c) => [c, 0])), policies: {} });
  });

  it('report each counter under its own name, and nothing of their internals', () => {
    const counters = new StatsCounters(['memory']);
    COUNTERS.forEach((name, i) => { counters[name] = i + 1; });
    const snapshot = counters.snapshot();
    assert.deepEqual(Object.keys(snapshot).sort(), ['hits', 'policies', ...COUNTERS].sort());
    COUNTERS.forEach((name, i) => assert.equal(snapshot[name], i + 1, name));
  });

  it("keep each policy's declared counters apart, from 0, and copy them into each snapshot", () => {
    const counters = new StatsCounters(['memory']);
    const own = counters.declare('mine', ['tried', 'gaveUp']);
    own['tried'] = 3;
    assert.equal(counters.declare('mine', ['tried', 'later']), own, 'policies of one name share one record');
    const snapshot = counters.snapshot();
    assert.deepEqual(snapshot.policies, { mine: { tried: 3, gaveUp: 0, later: 0 } });
    own['tried'] = 4;
    assert.equal(snapshot.policies['mine']?.['tried'], 3, 'a snapshot does not change with later counting');
  });

  it('add the hot-path hits to the first tier only', () => {
    const counters = new StatsCounters(['memory', 'lmdb', 'redis']);
    counters.processHits = 5;
    counters.tierHits[0] = 1;
    counters.tierHits[1] = 2;
    counters.tierHits[2] = 3;
    assert.deepEqual(counters.snapshot().hits, { memory: 6, lmdb: 2, redis: 3 });
    const sharedOnly = new StatsCounters(['lmdb']);
    sharedOnly.tierHits[0] = 4;
    assert.deepEqual(sharedOnly.snapshot().hits, { lmdb: 4 });
    assert.deepEqual(new StatsCounters([]).snapshot().hits, {});
  });

  it('give a snapshot that later counting does not change', () => {
    const counters = new StatsCounters(['memory']);
    counters.misses = 1;
    const before = counters.snapshot();
    counters.misses = 2;
    counters.processHits = 3;
    assert.equal(before.misses, 1);
    assert.deepEqual(before.hits, { memory: 0 });
    assert.equal(counters.snapshot().misses, 2);
  });
});

describe('CacheEventEmitter delivery', () => {
  it('calls every listener of an event, once each however often it was added, and only for that event', () => {
    const emitter = new CacheEventEmitter('ns');
    const seen: string[] = [];
    const first = (e: { key: string }): void => { seen.push(`first:${e.key}`); };
    const second = (e: { key: string }): void => { seen.push(`second:${e.key}`); };
    emitter.on('lease-takeover', first);
    emitter.on('lease-takeover', second);
    emitter.on('lease-takeover', first);
    emitter.on('corrupt-entry', (e) => { seen.push(`corrupt:${e.key}:${e.tier}`); });
    emitter.emit('lease-takeover', { key: 'a' });
    emitter.off('lease-takeover', first);
    emitter.emit('lease-takeover', { key: 'b' });
    emitter.emit('corrupt-entry', { key: 'c', tier: 'lmdb' });
    assert.deepEqual(seen, ['first:a', 'second:a', 'second:b', 'corrupt:c:lmdb']);
  });

  it('passes the event object itself to listeners', () => {
    const emitter = new CacheEventEmitter('');
    const event = { key: 'k', source: 'xfetch', duration: 3 };
    let received: unknown;
    emitter.on('refresh', (e) => { received = e; });
    emitter.emit('refresh', event);
    assert.equal(received, event);
  });

  it('publishes on the diagnostics channel whether or not anyone listens, with its type and namespace', () => {
    const emitter = new CacheEventEmitter('tenant');
    const published: unknown[] = [];
    const onMessage = (message: unknown): void => { published.push(message); };
    subscribe(DIAGNOSTICS_CHANNEL, onMessage);
    try {
      emitter.emit('evict', { key: 'k', tier: 'memory', cause: 'size' });
      emitter.on('evict', () => { throw new Error('faulty listener'); });
      emitter.emit('evict', { key: 'j', tier: 'lmdb', cause: 'expired' });
    } finally {
      unsubscribe(DIAGNOSTICS_CHANNEL, onMessage);
    }
    assert.deepEqual(published, [
      { type: 'evict', namespace: 'tenant', key: 'k', tier: 'memory', cause: 'size' },
      { type: 'evict', namespace: 'tenant', key: 'j', tier: 'lmdb', cause: 'expired' },
    ]);
  });
});

describe('coarseClock reading reuse', () => {
  const refTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  // Timers fire in order of expiry: once a later timer has fired, the 1 ms forget timer has run.
  const forgotten = (): Promise<void> => delay(5);

  it('reads Date.now once, reuses it until forgotten, and never keeps the process alive for that', async () => {
    const realNow = Date.now;
    let reads = 0;
    await forgotten();
    try {
      Date.now = () => { reads++; return 1_234; };
      const timersBefore = refTimers();
      assert.equal(coarseClock(), 1_234);
      assert.equal(refTimers(), timersBefore, 'the timer that forgets the reading is unref-ed');
      Date.now = () => { reads++; return 5_678; };
      assert.equal(coarseClock(), 1_234, 'the reading is reused');
      assert.equal(reads, 1);
    } finally {
      Date.now = realNow;
    }
    await forgotten();
    try {
      Date.now = () => { reads++; return 5_678; };
      assert.equal(coarseClock(), 5_678, 'a new reading once the old one was forgotten');
      assert.equal(reads, 2);
    } finally {
      Date.now = realNow;
    }
  });
});
