// What compute and memoize refuse, and when: at the call (compute), at memoize time (what would
// break every later call) or at each memoized call (a key function's result, a closed cache).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheClosedError, InvalidKeyError, InvalidOptionError, NotSerializableError } from '../../src/core/errors.js';
import { Cache, createCache, memoryTier, type ComputeCall, type Policy } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';

/** Records the call each compute brings into the pipeline. */
function recorder(): { policy: Policy; calls: ComputeCall[] } {
  const calls: ComputeCall[] = [];
  return { calls, policy: { name: 'recorder', create: () => ({ handle(call, next) { calls.push(call); return next(); } }) } };
}

describe('compute and memoize refusals', () => {
  it('compute without a function rejects (never throws) and says what to pass', async () => {
    const cache = createCache({ tiers: [memoryTier()] });
    try {
      const result = cache.compute('k', 'value' as never);
      await assert.rejects(result, { code: InvalidOptionError.code, message: 'compute: the second argument must be a function that produces the value' });
    } finally {
      await cache.close();
    }
  });

  it('a compute that returns a Proxy is refused, and nothing is stored', async () => {
    const cache = createCache({ tiers: [memoryTier()] });
    try {
      await assert.rejects(cache.compute('k', () => new Proxy({}, {})), (error: unknown) => {
        assert.ok(error instanceof NotSerializableError);
        assert.match(error.message, /the compute returned a Proxy/);
        return true;
      });
      assert.equal(await cache.has('k'), false);
    } finally {
      await cache.close();
    }
  });

  it('memoize refuses, at the time it is called, what would break every later call', async () => {
    const cache = createCache({ tiers: [memoryTier()] });
    try {
      const refused = (run: () => unknown, message: string) => assert.throws(run, (error: unknown) => error instanceof InvalidOptionError && error.message === message);
      refused(() => cache.memoize(42 as never), 'memoize: the first argument must be a function');
      const anonymous = [() => 1][0]!;
      refused(() => cache.memoize(anonymous), 'memoize.name: the function is anonymous: pass { name } so every process derives the same keys');
      refused(() => cache.memoize(function named() { return 1; }, { name: '' }), 'memoize.name: the function is anonymous: pass { name } so every process derives the same keys');
      refused(() => cache.memoize(function named() { return 1; }, { key: 'id' as never }), 'memoize.key: must be a function of the arguments returning a string');
      assert.throws(() => cache.memoize(function named() { return 1; }, { ttl: -5 }), InvalidOptionError);
      assert.doesNotThrow(() => cache.memoize(anonymous, { name: 'given' }));
    } finally {
      await cache.close();
    }
  });

  it("memoize's key function must return a non-empty string, and its result names the key", async () => {
    const cache = createCache({ tiers: [memoryTier()] });
    try {
      const byId = cache.memoize((id: unknown) => `user ${String(id)}`, { name: 'user', key: (id) => id as string });
      assert.equal(await byId('7'), 'user 7');
      assert.equal(await cache.get('memo:user:7'), 'user 7');
      for (const [bad, got] of [[5, 'number'], [null, 'null'], ['', 'string'], [undefined, 'undefined']] as const) {
        await assert.rejects(byId(bad), (error: unknown) => {
          assert.ok(error instanceof InvalidKeyError);
          assert.equal(error.message, `memoize's key function must return a non-empty string, got ${got}: every call would otherwise share one key`);
          return true;
        });
      }
    } finally {
      await cache.close();
    }
  });

  it('a memoized function passes its ttl and policies to every compute, and rejects once the cache closed', async () => {
    const memory = memoryTier();
    const spy = recorder();
    const cache = new Cache({ clock: manualClock(0), tiers: [memory], ttl: 1_000 });
    const load = cache.memoize(async (n: number) => n * 2, { name: 'double', ttl: 300, policies: [spy.policy], key: (n) => String(n) });
    assert.equal(await load(2), 4);
    assert.equal(memory.getSync?.('memo:double:2')?.freshUntil, 300);
    assert.equal(spy.calls.length, 1);
    await cache.close();
    await assert.rejects(load(2), CacheClosedError);
    assert.throws(() => cache.memoize(function late() { return 1; }), CacheClosedError);
  });
});

