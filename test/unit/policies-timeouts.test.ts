// timeouts({ soft, hard }): a soft timeout falls back on the stale value while the compute
// finishes in the background; a hard timeout rejects and aborts the compute's signal.
// The timeouts themselves are real (tens of ms); nothing here asserts how fast anything is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { barrier, createCache, errors, serveStale, timeouts, type Cache, type Policy } from '../../src/index.js';
import { manualClock, type ManualClock } from '../helpers/clock.js';
import { deferred, turns, until, within } from '../fixtures/policy-support.js';

function build(clock: ManualClock, policies: readonly Policy[], maxAge = 10_000): Cache {
  return createCache({ ttl: 1_000, maxAge, clock, lmdb: false, policies });
}

describe('timeouts({ soft })', () => {
  it('returns the stale value when the compute is slower, and the compute still finishes and stores', async () => {
    const clock = manualClock();
    const cache = build(clock, [timeouts({ soft: 20 })]);
    try {
      await cache.compute('k', () => 'v1');
      clock.advance(1_500);
      const slow = deferred<string>();
      let runs = 0;
      const answer = await within(cache.compute('k', () => { runs++; return slow.promise; }), 5_000, 'soft timeout');
      assert.equal(answer, 'v1');
      assert.equal(runs, 1);
      let stats = cache.stats();
      assert.equal(stats.softTimeouts, 1);
      assert.equal(stats.staleServed, 1);
      assert.equal(await cache.get('k'), undefined, 'not yet refreshed');
      slow.resolve('v2');
      await until(() => cache.stats().computes === 2, 'the abandoned compute finished');
      assert.equal(await cache.get('k'), 'v2', 'and stored its value');
      stats = cache.stats();
      assert.equal(stats.backgroundErrors, 0);
    } finally {
      await cache.close();
    }
  });

  it('a compute faster than the soft timeout answers with its own value', async () => {
    const clock = manualClock();
    const cache = build(clock, [timeouts({ soft: 5_000 })]);
    try {
      await cache.compute('k', () => 'v1');
      clock.advance(1_500);
      assert.equal(await cache.compute('k', async () => 'v2'), 'v2');
      assert.equal(cache.stats().softTimeouts, 0);
    } finally {
      await cache.close();
    }
  });

  it('with no stale value to fall back on, the caller gets the computed value however slow', async () => {
    const cache = build(manualClock(), [timeouts({ soft: 5 })]);
    try {
      const answer = cache.compute('k', async () => { await new Promise((resolve) => setTimeout(resolve, 30)); return 'cold'; });
      assert.equal(await within(answer, 5_000, 'cold compute'), 'cold');
      assert.equal(cache.stats().softTimeouts, 0);
    } finally {
      await cache.close();
    }
  });

  it('a compute abandoned by the soft timeout that then fails is counted as a background error', async () => {
    const clock = manualClock();
    const cache = build(clock, [timeouts({ soft: 10 })]);
    try {
      await cache.compute('k', () => 'v1');
      clock.advance(1_500);
      const slow = deferred<string>();
      const reported = new Promise<{ source: string; error: unknown }>((resolve) => cache.on('background-error', resolve));
      assert.equal(await cache.compute('k', () => slow.promise), 'v1');
      const boom = new Error('late failure');
      slow.reject(boom);
      const event = await within(reported, 5_000, 'background-error');
      assert.deepEqual([event.source, event.error], ['soft-timeout', boom]);
      assert.equal(cache.stats().backgroundErrors, 1);
    } finally {
      await cache.close();
    }
  });
});

describe('timeouts({ hard })', () => {
  it('rejects with HardTimeoutError and aborts the compute signal; nothing is stored', async () => {
    const cache = build(manualClock(), [timeouts({ hard: 20 })]);
    try {
      let signal: AbortSignal | undefined;
      const answer = cache.compute('k', ({ signal: s }) => {
        signal = s;
        return new Promise<string>((_resolve, reject) => s.addEventListener('abort', () => reject(s.reason as Error)));
      });
      await assert.rejects(within(answer, 5_000, 'hard timeout'), (err: unknown) => {
        assert.ok(err instanceof errors.HardTimeoutError);
        assert.equal(err.code, 'E_HARD_TIMEOUT');
        assert.equal(err.timeout, 20);
        assert.equal(signal?.aborted, true, 'the compute signal was aborted');
        assert.equal(signal?.reason, err, 'with the same error as reason');
        return true;
      });
      await turns();
      assert.equal(cache.stats().hardTimeouts, 1);
      assert.equal(await cache.get('k'), undefined);
    } finally {
      await cache.close();
    }
  });

  it('a compute that ignores the signal and resolves late does not store its late value', async () => {
    const cache = build(manualClock(), [timeouts({ hard: 10 })]);
    try {
      const late = deferred<string>();
      await assert.rejects(within(cache.compute('k', () => late.promise), 5_000, 'hard timeout'), errors.HardTimeoutError);
      late.resolve('late');
      await turns();
      assert.equal(await cache.get('k'), undefined);
      assert.equal(cache.stats().computes, 0);
    } finally {
      await cache.close();
    }
  });

  it('soft and hard together, in front of barrier(): stale at the soft timeout, the compute still bounded by the hard one', async () => {
    const clock = manualClock();
    const cache = build(clock, [timeouts({ soft: 10, hard: 40 }), barrier()]);
    try {
      await cache.compute('k', () => 'v1');
      clock.advance(1_500);
      let signal: AbortSignal | undefined;
      const answer = cache.compute('k', ({ signal: s }) => {
        signal = s;
        return new Promise<string>((_resolve, reject) => s.addEventListener('abort', () => reject(s.reason as Error)));
      });
      assert.equal(await within(answer, 5_000, 'soft'), 'v1');
      await until(() => signal?.aborted === true, 'the hard timeout aborted the background compute');
      await until(() => cache.stats().backgroundErrors > 0, 'the aborted compute was reported');
      await turns();
      const stats = cache.stats();
      assert.equal(stats.backgroundErrors, 1, 'one failure, counted once');
      assert.equal(stats.softTimeouts, 1);
      assert.equal(stats.hardTimeouts, 1);
    } finally {
      await cache.close();
    }
  });
});

describe('timeouts() options', () => {
  it('refuses no bound, soft >= hard, and a soft timeout with nothing stale to serve', () => {
    assert.throws(() => timeouts({}), errors.InvalidOptionError);
    assert.throws(() => timeouts({ soft: 0 }), errors.InvalidOptionError);
    assert.throws(() => timeouts({ soft: 100, hard: 100 }), errors.InvalidOptionError);
    assert.throws(() => createCache({ ttl: 1_000, lmdb: false, policies: [timeouts({ soft: 10 })] }), (err: unknown) => err instanceof errors.InvalidOptionError && err.option === 'timeouts.soft');
    assert.doesNotThrow(() => createCache({ ttl: 1_000, lmdb: false, policies: [timeouts({ soft: 10 }), serveStale({ maxAge: 5_000 })] }).close());
    assert.doesNotThrow(() => createCache({ ttl: 1_000, lmdb: false, policies: [timeouts({ hard: 10 })] }).close());
  });
});
