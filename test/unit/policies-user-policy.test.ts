// User-written policies plugged in through the public contract only (everything imported from
// the package entry): negative caching of failures, and a circuit breaker, composed with built-ins.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  barrier,
  createCache,
  HerdcacheError,
  serveStale,
  type ComputeCall,
  type Next,
  type Policy,
  type PolicyHost,
  type Stage,
} from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';
import { tempDir } from '../helpers/tmp.js';
import { deferred, until } from '../fixtures/policy-support.js';

const dirs: Array<{ cleanup: () => void }> = [];
after(() => dirs.forEach((d) => d.cleanup()));

/** Remembers a key's failure for `ms` and answers with it again, without computing. */
function negativeCache(ms: number): Policy {
  return {
    name: 'negative-cache',
    counters: ['failuresServed'],
    events: ['failure-served'],
    check({ policies, index }) {
      if (policies.slice(0, index).some((p) => p.name === 'serveStale')) {
        throw new HerdcacheError('E_USER_POLICY', 'negative-cache must wrap serveStale, not sit inside it');
      }
    },
    create(host: PolicyHost): Stage {
      const failures = new Map<string, { at: number; error: unknown }>();
      return {
        async handle(call: ComputeCall, next: Next) {
          const failed = failures.get(call.storageKey);
          if (failed !== undefined && host.now() - failed.at < ms) {
            host.count('failuresServed');
            host.emit('failure-served', { key: call.key });
            throw failed.error;
          }
          try {
            const value = await next();
            failures.delete(call.storageKey);
            return value;
          } catch (error) {
            failures.set(call.storageKey, { at: host.now(), error });
            throw error;
          }
        },
      };
    },
  };
}

class CircuitOpenError extends HerdcacheError {
  constructor(key: string) {
    super('E_CIRCUIT_OPEN', `the circuit for computes is open; not computing "${key}"`, { key });
  }
}

/**
 * After `threshold` consecutive failures (any key), refuses to compute for `coolDown` ms: serves
 * a stale value when the call has one, else fails fast. One trial call closes it again.
 */
function circuitBreaker(threshold: number, coolDown: number): Policy {
  return {
    name: 'circuit-breaker',
    create(host) {
      let failures = 0;
      let openedAt: number | undefined;
      return {
        async handle(call, next) {
          if (openedAt !== undefined && host.now() - openedAt < coolDown) {
            if (call.entry !== undefined && call.entry.staleUntil > host.now()) {
              host.count('staleServed');
              return call.entry.value;
            }
            throw new CircuitOpenError(call.key);
          }
          try {
            const value = await next();
            failures = 0;
            openedAt = undefined;
            return value;
          } catch (error) {
            if (++failures >= threshold) openedAt = host.now();
            throw error;
          }
        },
      };
    },
  };
}

describe('a user-written policy through the public contract', () => {
  it('negative caching: a failure is answered again for a short time without computing, then retried', async () => {
    const clock = manualClock();
    const dir = tempDir('policies-user');
    dirs.push(dir);
    const cache = createCache({ ttl: 1_000, clock, lmdb: { path: dir.path }, policies: [negativeCache(500), barrier()] });
    const served: unknown[] = [];
    cache.on('policy', (event) => served.push(event));
    try {
      assert.deepEqual(cache.stats().policies, { 'negative-cache': { failuresServed: 0 } }, 'declared counters start at 0');
      let runs = 0;
      const boom = new Error('backend down');
      const failing = (): never => { runs++; throw boom; };
      await assert.rejects(cache.compute('k', failing), (err) => err === boom);
      clock.advance(499);
      await assert.rejects(cache.compute('k', failing), (err) => err === boom);
      await assert.rejects(cache.compute('k', () => 'ok'), (err) => err === boom, 'even a working compute is not tried yet');
      assert.equal(runs, 1);
      assert.deepEqual(cache.stats().policies, { 'negative-cache': { failuresServed: 2 } });
      assert.deepEqual(served, [{ policy: 'negative-cache', name: 'failure-served', key: 'k' }, { policy: 'negative-cache', name: 'failure-served', key: 'k' }]);
      clock.advance(1);
      assert.equal(await cache.compute('k', () => { runs++; return 'ok'; }), 'ok');
      assert.equal(runs, 2);
      // Other keys are unaffected.
      assert.equal(await cache.compute('other', () => 'fine'), 'fine');
    } finally {
      await cache.close();
    }
  });

  it('negative caching composed with barrier: a failure computed under the lease is remembered, and the next caller gets it without computing', async () => {
    const clock = manualClock();
    const dir = tempDir('policies-user');
    dirs.push(dir);
    const cache = createCache({ ttl: 1_000, clock, lmdb: { path: dir.path }, policies: [negativeCache(500), barrier()] });
    try {
      const gate = deferred();
      let runs = 0;
      const boom = new Error('slow failure');
      const first = cache.compute('k', async () => { runs++; await gate.promise; throw boom; });
      await until(() => runs === 1, 'first compute');
      gate.resolve();
      await assert.rejects(first, (err) => err === boom);
      await assert.rejects(cache.compute('k', () => { runs++; return 'x'; }), (err) => err === boom);
      assert.equal(runs, 1);
    } finally {
      await cache.close();
    }
  });

  it('its own check() refuses a combination it cannot work in', () => {
    assert.throws(
      () => createCache({ ttl: 1_000, lmdb: false, policies: [serveStale({ maxAge: 5_000 }), negativeCache(10)] }),
      (err: unknown) => err instanceof HerdcacheError && err.code === 'E_USER_POLICY',
    );
    void createCache({ ttl: 1_000, lmdb: false, policies: [negativeCache(10), serveStale({ maxAge: 5_000 })] }).close();
  });

  it('a circuit breaker: opens after repeated failures, serves stale or fails fast, closes after the cool-down', async () => {
    const clock = manualClock();
    const cache = createCache({ ttl: 1_000, maxAge: 60_000, clock, lmdb: false, policies: [circuitBreaker(3, 5_000)] });
    try {
      await cache.compute('a', () => 'a0');
      clock.advance(2_000); // 'a' is stale now, still kept
      let runs = 0;
      const fail = (): never => { runs++; throw new Error('down'); };
      for (const key of ['x', 'y', 'z']) await assert.rejects(cache.compute(key, fail), /down/);
      assert.equal(runs, 3);
      await assert.rejects(cache.compute('w', fail), (err: unknown) => err instanceof CircuitOpenError && err.code === 'E_CIRCUIT_OPEN');
      assert.equal(await cache.compute('a', fail), 'a0', 'stale value while open');
      assert.equal(runs, 3, 'nothing computed while open');
      assert.equal(cache.stats().staleServed, 1);
      clock.advance(5_000);
      assert.equal(await cache.compute('a', () => { runs++; return 'a1'; }), 'a1');
      assert.equal(await cache.compute('x', () => { runs++; return 'x1'; }), 'x1', 'closed again');
      assert.equal(runs, 5);
    } finally {
      await cache.close();
    }
  });
});
