// Every policy option is checked eagerly, and the error names the exact option and says what to
// do: a user reading the message must know which setting to change.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { barrier, coalesce, createCache, errors, memoryTier, serveStale, timeouts, ttl, xfetch, type Policy } from '../../src/index.js';

function refused(build: () => unknown, option: string, says: RegExp): void {
  assert.throws(build, (err: unknown) => {
    assert.ok(err instanceof errors.InvalidOptionError, `expected InvalidOptionError, got ${String(err)}`);
    assert.equal(err.code, 'E_INVALID_OPTION');
    assert.equal(err.option, option);
    assert.match(err.message, says);
    assert.ok(err.message.startsWith(`${option}: `), err.message);
    return true;
  });
}

function conflict(policies: readonly Policy[], first: string, second: string, says: RegExp): void {
  assert.throws(() => createCache({ tiers: [memoryTier()], policies }), (err: unknown) => {
    assert.ok(err instanceof errors.PolicyConflictError);
    assert.deepEqual(err.policies, [first, second]);
    assert.match(err.message, says);
    return true;
  });
}

describe('barrier poll option', () => {
  it('must be an object of durations', () => {
    refused(() => barrier({ poll: 5 as unknown as { first: number } }), 'barrier.poll', /must be an object \{ first\?, longest\? \}/);
    refused(() => barrier({ poll: null as unknown as { first: number } }), 'barrier.poll', /must be an object/);
    assert.doesNotThrow(() => barrier({ poll: { first: 1, longest: 1_000 } }));
  });
});

describe('policy options', () => {
  for (const [label, value] of [['zero', 0], ['negative', -1], ['NaN', Number.NaN], ['Infinity', Number.POSITIVE_INFINITY]] as const) {
    it(`${label} durations are refused, naming the option`, () => {
      refused(() => barrier({ lease: value }), 'barrier.lease', /positive finite number of milliseconds/);
      refused(() => barrier({ maxWait: value }), 'barrier.maxWait', /positive finite number of milliseconds/);
      refused(() => barrier({ poll: { first: value } }), 'barrier.poll.first', /positive finite number of milliseconds/);
      refused(() => barrier({ poll: { longest: value } }), 'barrier.poll.longest', /positive finite number of milliseconds/);
      refused(() => serveStale({ maxAge: value }), 'serveStale.maxAge', /positive finite/);
      refused(() => serveStale({ maxAge: 1_000, lease: value }), 'serveStale.lease', /positive finite/);
      refused(() => serveStale({ maxAge: 1_000, maxWait: value }), 'serveStale.maxWait', /positive finite/);
      refused(() => timeouts({ soft: value }), 'timeouts.soft', /positive finite/);
      refused(() => timeouts({ hard: value }), 'timeouts.hard', /positive finite/);
      refused(() => xfetch({ beta: value }), 'xfetch.beta', /positive finite number/);
    });
  }

  it('serveStale needs an options object and a known onCold', () => {
    refused(() => serveStale(undefined as never), 'serveStale', /maxAge/);
    refused(() => serveStale({ maxAge: 1_000, onCold: 'later' as 'wait' }), 'serveStale.onCold', /'wait' or 'throw', got later/);
    assert.equal(serveStale({ maxAge: 1_000, onCold: 'throw' }).name, 'serveStale');
    assert.equal(serveStale({ maxAge: 1_000 }).maxAge, 1_000);
  });

  it('serveStale maxAge shorter than ttl is refused when composed', () => {
    refused(() => createCache({ tiers: [memoryTier()], ttl: 5_000, policies: [serveStale({ maxAge: 4_999 })] }), 'serveStale.maxAge', /4999 ms\) must not be shorter than ttl \(5000 ms\)/);
    assert.doesNotThrow(() => createCache({ tiers: [memoryTier()], ttl: 5_000, policies: [serveStale({ maxAge: 5_000 })] }));
  });

  it('timeouts needs soft or hard, soft below hard, and stale values for soft', () => {
    refused(() => timeouts({}), 'timeouts', /soft and\/or hard/);
    refused(() => timeouts({ soft: 100, hard: 100 }), 'timeouts.soft', /soft timeout \(100 ms\) must be shorter than the hard one \(100 ms\)/);
    assert.doesNotThrow(() => timeouts({ soft: 99, hard: 100 }));
    assert.doesNotThrow(() => timeouts({ soft: 99 }));
    assert.doesNotThrow(() => timeouts({ hard: 99 }));
    refused(() => createCache({ tiers: [memoryTier()], ttl: 1_000, policies: [timeouts({ soft: 10 })] }), 'timeouts.soft', /stale values to fall back on/);
    assert.doesNotThrow(() => createCache({ tiers: [memoryTier()], ttl: 1_000, maxAge: 1_001, policies: [timeouts({ soft: 10 })] }));
    assert.doesNotThrow(() => createCache({ tiers: [memoryTier()], ttl: 1_000, policies: [timeouts({ hard: 10 })] }));
  });

  it('conflicting orders name both policies and say how to fix them', () => {
    conflict([barrier(), xfetch()], 'barrier', 'xfetch', /barrier answers fresh hits before xfetch can see them: put xfetch first/);
    conflict([coalesce(), xfetch()], 'coalesce', 'xfetch', /coalesce answers fresh hits/);
    conflict([barrier(), serveStale({ maxAge: 120_000 })], 'barrier', 'serveStale', /barrier would treat a stale value as a miss.*put serveStale first/);
    conflict([xfetch(), serveStale({ maxAge: 120_000 })], 'xfetch', 'serveStale', /xfetch would treat a stale value/);
    assert.doesNotThrow(() => createCache({ tiers: [memoryTier()], policies: [serveStale({ maxAge: 120_000 }), xfetch(), barrier()] }));
    assert.doesNotThrow(() => createCache({ tiers: [memoryTier()], policies: [xfetch(), coalesce(), barrier()] }));
  });

  it('ttl() passes every call on and computes on a miss', async () => {
    const cache = createCache({ tiers: [memoryTier()], policies: [ttl()] });
    try {
      assert.equal(await cache.compute('k', () => 'v'), 'v');
      assert.equal(await cache.compute('k', () => 'other'), 'v');
    } finally {
      await cache.close();
    }
  });
});
