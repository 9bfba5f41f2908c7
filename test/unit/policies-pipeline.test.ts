// Composition: nonsense combinations refused at construction, per-call pipelines composed once,
// stage order, next() at most once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  barrier,
  coalesce,
  createCache,
  errors,
  serveStale,
  timeouts,
  ttl,
  xfetch,
  type Policy,
} from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';
import { deferred, spyPolicy } from '../fixtures/policy-support.js';

function refused(policies: readonly Policy[], pair: readonly [string, string]): void {
  assert.throws(
    () => createCache({ ttl: 1_000, lmdb: false, policies }),
    (err: unknown) => {
      assert.ok(err instanceof errors.PolicyConflictError, `expected PolicyConflictError, got ${String(err)}`);
      assert.equal(err.code, 'E_POLICY_CONFLICT');
      assert.deepEqual(err.policies, pair);
      for (const name of pair) assert.match(err.message, new RegExp(name));
      return true;
    },
  );
}

describe('pipeline composition', () => {
  it('refuses nonsense combinations at construction, naming both parts', () => {
    refused([barrier(), xfetch()], ['barrier', 'xfetch']);
    refused([coalesce(), xfetch()], ['coalesce', 'xfetch']);
    refused([barrier(), serveStale({ maxAge: 5_000 })], ['barrier', 'serveStale']);
    refused([xfetch(), serveStale({ maxAge: 5_000 })], ['xfetch', 'serveStale']);
    refused([barrier(), barrier()], ['barrier', 'barrier']);
    const same = coalesce();
    refused([same, same], ['coalesce', 'coalesce']);
    refused([ttl(), ttl()], ['ttl', 'ttl']);
  });

  it('accepts the sensible orders', () => {
    for (const policies of [
      [serveStale({ maxAge: 5_000 }), xfetch(), barrier()],
      [serveStale({ maxAge: 5_000 }), xfetch(), coalesce(), barrier()],
      [xfetch(), barrier()],
      [coalesce(), barrier()],
      [timeouts({ soft: 10, hard: 100 }), serveStale({ maxAge: 5_000 }), barrier()],
    ]) {
      void createCache({ ttl: 1_000, lmdb: false, policies }).close();
    }
  });

  it('refuses serveStale maxAge < ttl, and things that are not policies', () => {
    assert.throws(() => createCache({ ttl: 1_000, lmdb: false, policies: [serveStale({ maxAge: 500 })] }), errors.InvalidOptionError);
    assert.throws(() => createCache({ ttl: 1_000, lmdb: false, policies: [{} as Policy] }), errors.InvalidOptionError);
    assert.throws(() => createCache({ ttl: 1_000, lmdb: false, policies: barrier() as unknown as Policy[] }), errors.InvalidOptionError);
  });

  it('a per-call pipeline is refused on its first use with the same typed errors', async () => {
    const cache = createCache({ ttl: 1_000, lmdb: false });
    try {
      await assert.rejects(cache.compute('k', () => 1, { policies: [barrier(), xfetch()] }), errors.PolicyConflictError);
      assert.throws(() => cache.memoize(function f() { return 1; }, { policies: [barrier(), barrier()] }), errors.PolicyConflictError);
    } finally {
      await cache.close();
    }
  });

  it('runs stages outermost first, each around the next', async () => {
    const order: string[] = [];
    const tracer = (name: string): Policy => ({
      name,
      create: () => ({
        async handle(_call, next) {
          order.push(`${name} in`);
          try {
            return await next();
          } finally {
            order.push(`${name} out`);
          }
        },
      }),
    });
    const cache = createCache({ ttl: 1_000, lmdb: false, policies: [tracer('outer'), tracer('middle'), tracer('inner')] });
    try {
      assert.equal(await cache.compute('k', () => { order.push('compute'); return 1; }), 1);
      assert.deepEqual(order, ['outer in', 'middle in', 'inner in', 'compute', 'inner out', 'middle out', 'outer out']);
    } finally {
      await cache.close();
    }
  });

  it('next() called twice rejects, and the first call still works', async () => {
    let second: Promise<unknown> | undefined;
    const greedy: Policy = {
      name: 'greedy',
      create: () => ({
        async handle(_call, next) {
          const value = await next();
          second = next();
          await assert.rejects(second, /greedy.*next\(\) twice/);
          return value;
        },
      }),
    };
    let runs = 0;
    const cache = createCache({ ttl: 1_000, lmdb: false, policies: [greedy] });
    try {
      assert.equal(await cache.compute('k', () => ++runs), 1);
      assert.equal(runs, 1, 'the second next() did not compute');
      assert.ok(second !== undefined);
    } finally {
      await cache.close();
    }
  });

  it('a per-call `policies` override is used, and the same array is composed and created once', async () => {
    const spy = spyPolicy('counting');
    let checks = 0;
    const counted: Policy = { ...spy.policy, check: () => { checks++; } };
    const perCall = [counted, coalesce()] as const;
    const clock = manualClock();
    const cache = createCache({ ttl: 1_000, clock, lmdb: false });
    try {
      for (let i = 0; i < 50; i++) {
        clock.advance(1_000);
        await cache.compute('k', () => i, { policies: perCall });
      }
      assert.equal(spy.calls.length, 50, 'every call went through the override');
      assert.equal(checks, 1, 'composed once for 50 calls');
      assert.equal(spy.creates(), 1, 'the stage was created once');

      // The override coalesces; the cache's own pipeline (traditional TTL) does not.
      clock.advance(1_000);
      const gate = deferred();
      let runs = 0;
      const slow = async (): Promise<number> => { runs++; await gate.promise; return runs; };
      const shared = Promise.all([1, 2, 3].map(() => cache.compute('c', slow, { policies: perCall })));
      const plain = Promise.all([1, 2, 3].map(() => cache.compute('p', slow)));
      gate.resolve();
      await Promise.all([shared, plain]);
      assert.equal(runs, 4, 'one run for the coalesced key, three for the plain one');

      // A new array holding the same policy object is composed again but keeps its one stage.
      await cache.compute('other', () => 0, { policies: [counted] });
      assert.equal(checks, 2);
      assert.equal(spy.creates(), 1);
    } finally {
      await cache.close();
    }
  });

  it('memoize takes a per-call pipeline too, composed once when memoize is called', async () => {
    const spy = spyPolicy('memo-spy');
    let checks = 0;
    const counted: Policy = { ...spy.policy, check: () => { checks++; } };
    const cache = createCache({ ttl: 1_000, lmdb: false });
    try {
      const gate = deferred();
      let runs = 0;
      const load = cache.memoize(async (id: number) => { runs++; await gate.promise; return id * 2; }, { name: 'load', policies: [counted, coalesce()] });
      assert.equal(checks, 1);
      const answers = Promise.all([load(1), load(1), load(1), load(2)]);
      gate.resolve();
      assert.deepEqual(await answers, [2, 2, 2, 4]);
      assert.equal(runs, 2);
      assert.equal(checks, 1);
      assert.equal(spy.calls.length, 4);
    } finally {
      await cache.close();
    }
  });

  it('an empty pipeline behaves as traditional TTL (concurrent misses each compute)', async () => {
    const cache = createCache({ ttl: 1_000, lmdb: false, policies: [] });
    try {
      const gate = deferred();
      let runs = 0;
      const answers = Promise.all([1, 2, 3].map(() => cache.compute('k', async () => { runs++; await gate.promise; return runs; })));
      gate.resolve();
      await answers;
      assert.equal(runs, 3);
    } finally {
      await cache.close();
    }
  });
});
