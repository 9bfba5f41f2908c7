// The exact rules and messages of key validation, memoize key derivation, namespace parsing and
// option validation: every boundary on both sides, every branch of every guard.
import assert from 'node:assert/strict';
import { describe as group, it } from 'node:test';
import { coarseClock } from '../../src/core/clock.js';
import { InvalidKeyError, InvalidOptionError } from '../../src/core/errors.js';
import { assertKey, canonicalArgs, namespaceOf, namespacePrefix } from '../../src/core/keys.js';
import { assertCallOptions, assertDuration, DEFAULT_TTL, describe, MAX_TIMER_MS, optionsObject, resolveEngineOptions } from '../../src/core/options.js';
import type { Tier } from '../../src/core/tier.js';
import { memoryTier } from '../../src/tiers/memory/tier.js';

/** Asserts `run` throws InvalidOptionError for `option` with exactly `message` after the option name. */
function refusedOption(run: () => unknown, option: string, message: string): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(err)}`);
    assert.equal(err.code, 'E_INVALID_OPTION');
    assert.equal(err.option, option);
    assert.equal(err.message, `${option}: ${message}`);
    return true;
  });
}

function refusedKey(run: () => unknown, message: string, key?: string): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof InvalidKeyError, `expected InvalidKeyError, got ${String(err)}`);
    assert.equal(err.code, 'E_INVALID_KEY');
    assert.equal(err.message, message);
    assert.equal(err.key, key);
    return true;
  });
}

/** A shared-scope object with every Tier method; `fields` overrides or removes parts of it. */
function fakeTier(fields: Record<string, unknown> = {}): Tier {
  const noop = (): void => {};
  return { name: 'fake', scope: 'machine', maxKeyBytes: 100, attach: noop, get: noop, set: noop, delete: noop, clear: noop, close: noop, ...fields } as unknown as Tier;
}

group('namespaceOf', () => {
  it('returns the whole prefix namespacePrefix made, colons inside the namespace included', () => {
    assert.equal(namespaceOf('5:users:42'), '5:users:');
    assert.equal(namespaceOf('0::k'), '0::');
    assert.equal(namespaceOf('3:a:b:c:d'), '3:a:b:');
    assert.equal(namespaceOf('1:a:'), '1:a:', 'a one-digit length and an empty key');
    for (const ns of ['', 'x', 'a:b', '\u00e9t\u00e9', 'n'.repeat(12)]) assert.equal(namespaceOf(`${namespacePrefix(ns)}key`), namespacePrefix(ns));
  });

  it('returns an empty string for a key that does not start with a length and its namespace', () => {
    assert.equal(namespaceOf('plain'), '', 'no colon');
    assert.equal(namespaceOf(':x:'), '', 'nothing before the first colon');
    assert.equal(namespaceOf('::x'), '', 'nothing before the first colon, even when a colon follows');
    assert.equal(namespaceOf('x:abc:'), '', 'not a number');
    assert.equal(namespaceOf('3:ab:c'), '', 'the length overshoots the namespace');
    assert.equal(namespaceOf('2:abc:'), '', 'the length stops short of the namespace');
    assert.equal(namespaceOf('5:abc'), '', 'the key ends inside the namespace');
  });

  it('reads only the decimal length namespacePrefix writes, never another spelling of a number', () => {
    for (const spelling of ['03', '+3', ' 3', '3 ', '0x3', '3e0', '3.0', '-3']) {
      assert.equal(namespaceOf(`${spelling}:abc:k`), '', spelling);
    }
    assert.equal(namespaceOf('3:abc:k'), '3:abc:');
  });
});

group('assertKey details', () => {
  it('keeps the offending key on the error: whole when short, its first 64 characters when too long', () => {
    refusedKey(() => assertKey('', 10), 'a key must not be empty', '');
    refusedKey(() => assertKey('a\ud800', 10), 'a key must be well-formed text: a lone UTF-16 surrogate would be stored as U+FFFD and meet other keys', 'a\ud800');
    refusedKey(() => assertKey(undefined, 10), 'a key must be a string, got undefined');
    const long = `${'a'.repeat(60)}${'b'.repeat(50)}`;
    refusedKey(() => assertKey(long, 100), 'the key is 110 bytes long, over the limit of 100 bytes for these tiers and namespace: hash long keys', long.slice(0, 64));
  });

  it('accepts a key of exactly the byte limit and refuses one byte more, whether its characters are wide or narrow', () => {
    assert.doesNotThrow(() => assertKey('\u00e9'.repeat(5), 10));
    assert.throws(() => assertKey(`${'\u00e9'.repeat(5)}x`, 10), /11 bytes long, over the limit of 10 bytes/);
    assert.doesNotThrow(() => assertKey('\u65e5'.repeat(4), 12), 'three-byte characters exactly at the limit');
    assert.throws(() => assertKey('\u65e5'.repeat(4), 11), /12 bytes long, over the limit of 11 bytes/);
  });
});

group('canonicalArgs details', () => {
  class Point {
    constructor(readonly x: number) {}
  }

  it('names the problem plainKind found and says what to do, without the storage advice', () => {
    refusedKey(() => canonicalArgs([new Point(1)]), 'memoize argument [0]: not plain data (an instance of Point would come back as a plain object), so it has no canonical form: pass plain data, or { key } to derive the key');
  });

  it('refers to the argument list as a whole when the list itself has no canonical form', () => {
    refusedKey(() => canonicalArgs(Object.assign([1], { extra: 1 })), 'memoize arguments: not plain data (its own property "extra" would be dropped), so it has no canonical form: pass plain data, or { key } to derive the key');
  });

  it('refuses functions, cycles and depth with their full advice', () => {
    refusedKey(() => canonicalArgs([1, () => 1]), 'memoize argument [1]: a function argument cannot be part of a memoize key: pass { key } to derive one');
    const loop: unknown[] = [];
    loop.push(loop);
    refusedKey(() => canonicalArgs([loop]), 'memoize argument [0][0]: a memoize argument contains a cycle');
  });

  it('counts the entries of a Map in the paths it names', () => {
    assert.throws(() => canonicalArgs([new Map<string, unknown>([['a', 1], ['b', new Point(2)]])]), (err: unknown) => err instanceof InvalidKeyError && err.message.startsWith('memoize argument [0]<value 1>: not plain data (an instance of Point'));
    assert.throws(() => canonicalArgs([new Map<unknown, unknown>([['a', 1], [new Point(2), 'b']])]), (err: unknown) => err instanceof InvalidKeyError && err.message.startsWith('memoize argument [0]<key 1>: '));
  });

  it('spells out numbers that print specially, and tells an object key order apart from nothing', () => {
    assert.equal(canonicalArgs([Number.NaN, Number.POSITIVE_INFINITY, -1.5, 0]), '[nNaN,nInfinity,n-1.5,n0]');
    assert.equal(canonicalArgs([{ b: 1, a: 2, c: 3, ab: 4 }]), '[{"a":n2,"ab":n4,"b":n1,"c":n3}]');
    assert.equal(canonicalArgs([]), '[]');
  });

  it('accepts a Date, RegExp or byte array one level past the depth limit, since they hold no nested values', () => {
    const wrap = (inner: unknown, levels: number): unknown => {
      let value = inner;
      for (let i = 0; i < levels; i++) value = { v: value };
      return value;
    };
    // The argument list is level 0, so the innermost of 500 wrappers sits at level 500.
    assert.doesNotThrow(() => canonicalArgs([wrap(new Date(1), 500)]));
    assert.doesNotThrow(() => canonicalArgs([wrap(new Uint8Array([1]), 500)]));
    assert.throws(() => canonicalArgs([wrap([], 500)]), /nested more than 500 levels deep/);
  });

  it('turns a builtin that throws while read into InvalidKeyError naming the argument, keeping the cause', () => {
    const getTime = Object.getOwnPropertyDescriptor(Date.prototype, 'getTime');
    assert.ok(getTime !== undefined);
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [new Error('clock broken'), 'reading it threw: clock broken'],
      ['plain text', 'reading it threw: plain text'],
      [new RangeError('Maximum call stack size exceeded'), 'it is nested too deeply'],
    ];
    for (const [thrown, reason] of cases) {
      Object.defineProperty(Date.prototype, 'getTime', { ...getTime, value: () => { throw thrown; } });
      try {
        assert.throws(() => canonicalArgs(['a', { when: new Date(0) }]), (err: unknown) => {
          assert.ok(err instanceof InvalidKeyError, String(err));
          assert.equal(err.message, `memoize argument [1].when: ${reason}: pass { key } to derive the key`);
          assert.equal(err.cause, thrown);
          return true;
        });
      } finally {
        Object.defineProperty(Date.prototype, 'getTime', getTime);
      }
    }
    assert.equal(canonicalArgs([new Date(3)]), '[d3]');
  });
});

group('assertDuration', () => {
  it('refuses anything but a positive finite number, describing what it got', () => {
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [0, '0'], [-0.5, '-0.5'], [Number.NaN, 'NaN'], [Number.POSITIVE_INFINITY, 'Infinity'], ['1000', '"1000"'], [null, 'null'], [undefined, 'undefined'], [10n, '10'],
    ];
    for (const [value, shown] of cases) refusedOption(() => assertDuration('ttl', value), 'ttl', `must be a positive finite number of milliseconds, got ${shown}`);
    assert.doesNotThrow(() => assertDuration('ttl', Number.MIN_VALUE));
    assert.doesNotThrow(() => assertDuration('ttl', 0.5));
  });

  it('without a timer accepts up to 2^52 ms, the most an entry record keeps exactly', () => {
    assert.doesNotThrow(() => assertDuration('ttl', 2 ** 52));
    assert.doesNotThrow(() => assertDuration('ttl', MAX_TIMER_MS + 1), 'no timer waits for a ttl');
    refusedOption(() => assertDuration('ttl', 2 ** 52 + 1), 'ttl', 'must be at most 2^52 ms, got 4503599627370497');
  });

  it('with a timer accepts up to 2^31 - 1 ms and says why one more is refused', () => {
    assert.equal(MAX_TIMER_MS, 2_147_483_647);
    assert.doesNotThrow(() => assertDuration('timeouts.hard', MAX_TIMER_MS, true));
    refusedOption(() => assertDuration('timeouts.hard', MAX_TIMER_MS + 1, true), 'timeouts.hard', 'is waited for by a timer, which cannot wait longer than 2147483647 ms (about 24.8 days), got 2147483648');
    refusedOption(() => assertDuration('timeouts.hard', 0, true), 'timeouts.hard', 'must be a positive finite number of milliseconds, got 0');
  });
});

group('optionsObject and assertCallOptions', () => {
  it('give an empty object for no options and the same object for plain ones, null-prototype included', () => {
    assert.deepEqual(optionsObject('barrier', undefined), {});
    const given = { lease: 5 };
    assert.equal(optionsObject('barrier', given), given);
    const bare = Object.assign(Object.create(null) as object, { lease: 5 });
    assert.equal(optionsObject('barrier', bare), bare);
    assert.doesNotThrow(() => assertCallOptions('set', undefined));
    assert.doesNotThrow(() => assertCallOptions('set', { ttl: 1 }));
  });

  it('refuse what is not an object, naming what it is', () => {
    const cases: ReadonlyArray<readonly [unknown, string]> = [[null, 'null'], [[], 'an array'], [5, '5'], ['x', '"x"'], [() => 1, 'a function'], [true, 'true']];
    for (const [value, shown] of cases) refusedOption(() => optionsObject('barrier', value as object), 'barrier', `options must be an object, got ${shown}`);
  });

  it('refuse Proxies, revoked ones included, without touching them', () => {
    refusedOption(() => optionsObject('xfetch', new Proxy({}, {})), 'xfetch', 'options must be a plain object, got a Proxy');
    const revocable = Proxy.revocable([], {});
    revocable.revoke();
    refusedOption(() => optionsObject('xfetch', revocable.proxy), 'xfetch', 'options must be a plain object, got a Proxy');
  });

  it('refuse instances of classes and objects with another prototype', () => {
    refusedOption(() => optionsObject('lmdbTier', new Date(0)), 'lmdbTier', 'options must be a plain object literal');
    refusedOption(() => optionsObject('lmdbTier', Object.create({ path: '/x' }) as object), 'lmdbTier', 'options must be a plain object literal');
  });

  it('refuse a getter or setter, hidden or not, naming the property', () => {
    refusedOption(() => optionsObject('barrier', { get lease() { return 5; } }), 'barrier.lease', 'must be a data property, not a getter or setter');
    refusedOption(() => optionsObject('barrier', Object.defineProperty({ maxWait: 1 }, 'lease', { set: () => {}, enumerable: false })), 'barrier.lease', 'must be a data property, not a getter or setter');
  });

  it('name a call option after its call', () => {
    refusedOption(() => assertCallOptions('compute', null), 'compute.options', 'options must be an object, got null');
    refusedOption(() => assertCallOptions('set', { get ttl() { return 1; } }), 'set.options.ttl', 'must be a data property, not a getter or setter');
    refusedOption(() => assertCallOptions('memoize', new Proxy({}, {})), 'memoize.options', 'options must be a plain object, got a Proxy');
  });
});

group('describe', () => {
  it('names a value briefly, cutting strings after 40 characters', () => {
    assert.equal(describe(new Proxy([], {})), 'a Proxy');
    assert.equal(describe(null), 'null');
    assert.equal(describe([1]), 'an array');
    assert.equal(describe('x'.repeat(40)), JSON.stringify('x'.repeat(40)));
    assert.equal(describe(`${'x'.repeat(40)}y`), JSON.stringify(`${'x'.repeat(40)}...`));
    assert.equal(describe('say "hi"'), '"say \\"hi\\""');
    assert.equal(describe(-2.5), '-2.5');
    assert.equal(describe(7n), '7');
    assert.equal(describe(false), 'false');
    assert.equal(describe(undefined), 'undefined');
    assert.equal(describe(Symbol('s')), 'a symbol');
    assert.equal(describe(() => 1), 'a function');
    assert.equal(describe({}), 'an object');
    assert.equal(describe(new Date(0)), 'an object');
  });
});

group('resolveEngineOptions', () => {
  it('fills in every default', () => {
    const memory = memoryTier();
    const resolved = resolveEngineOptions({ tiers: [memory] });
    assert.deepEqual(resolved, { tiers: [memory], ttl: DEFAULT_TTL, maxAge: DEFAULT_TTL, namespace: '', policies: [], clock: coarseClock, random: Math.random });
    assert.equal(DEFAULT_TTL, 60_000);
  });

  it('keeps what was given, and a maxAge equal to ttl', () => {
    const clock = (): number => 5;
    const random = (): number => 0.5;
    const tiers = [memoryTier(), fakeTier()];
    const resolved = resolveEngineOptions({ tiers, ttl: 100, maxAge: 100, namespace: 'ns', policies: [], clock, random });
    assert.deepEqual(resolved, { tiers, ttl: 100, maxAge: 100, namespace: 'ns', policies: [], clock, random });
    assert.equal(resolved.tiers, tiers);
    assert.equal(resolveEngineOptions({ tiers, ttl: 100 }).maxAge, 100, 'maxAge defaults to ttl');
    assert.equal(resolveEngineOptions({ tiers, ttl: 100, maxAge: 101 }).maxAge, 101);
  });

  it('refuses a grand timeout shorter than ttl, saying both', () => {
    refusedOption(() => resolveEngineOptions({ tiers: [fakeTier()], ttl: 1_000, maxAge: 999 }), 'maxAge', 'the grand timeout (999 ms) must not be shorter than ttl (1000 ms)');
    refusedOption(() => resolveEngineOptions({ tiers: [fakeTier()], ttl: 0 }), 'ttl', 'must be a positive finite number of milliseconds, got 0');
    refusedOption(() => resolveEngineOptions({ tiers: [fakeTier()], maxAge: -1 }), 'maxAge', 'must be a positive finite number of milliseconds, got -1');
  });

  it('refuses a missing, empty or repeated tier list', () => {
    const advice = 'give at least one tier, e.g. [memoryTier(), lmdbTier()]';
    refusedOption(() => resolveEngineOptions({ tiers: [] }), 'tiers', advice);
    refusedOption(() => resolveEngineOptions({ tiers: 'memory' as unknown as Tier[] }), 'tiers', advice);
    const shared = fakeTier();
    refusedOption(() => resolveEngineOptions({ tiers: [shared, shared] }), 'tiers', 'the same tier object appears twice');
    assert.doesNotThrow(() => resolveEngineOptions({ tiers: [fakeTier(), fakeTier()] }), 'two equal-looking tiers are two tiers');
  });

  it('wants the process tier first and only first', () => {
    assert.doesNotThrow(() => resolveEngineOptions({ tiers: [memoryTier(), fakeTier()] }));
    refusedOption(() => resolveEngineOptions({ tiers: [fakeTier(), memoryTier()] }), 'tiers[1]', 'the process tier "memory" must come first');
  });

  it('checks each tier against the contract, naming the tier and what is wrong', () => {
    for (const notTier of [null, 5, 'memory', () => 1]) refusedOption(() => resolveEngineOptions({ tiers: [fakeTier(), notTier as unknown as Tier] }), 'tiers[1]', 'is not a tier: build one with memoryTier(), lmdbTier() or redisTier()');
    const contract = 'does not implement the Tier contract (src/core/tier.ts): missing';
    refusedOption(() => resolveEngineOptions({ tiers: [fakeTier({ attach: undefined, close: 1 })] }), 'tiers[0]', `${contract} attach, close`);
    refusedOption(() => resolveEngineOptions({ tiers: [fakeTier({ scope: 'process' })] }), 'tiers[0]', `${contract} getSync`);
    refusedOption(() => resolveEngineOptions({ tiers: [fakeTier({ scope: 'process', get: undefined })] }), 'tiers[0]', `${contract} get, getSync`);
    assert.doesNotThrow(() => resolveEngineOptions({ tiers: [fakeTier({ scope: 'process', getSync: () => undefined })] }));
    for (const scope of ['machine', 'cluster']) assert.doesNotThrow(() => resolveEngineOptions({ tiers: [fakeTier({ scope })] }), `a ${scope} tier needs no getSync`);
    refusedOption(() => resolveEngineOptions({ tiers: [fakeTier({ scope: 'host' })] }), 'tiers[0].scope', `must be 'process', 'machine' or 'cluster', got "host"`);
    refusedOption(() => resolveEngineOptions({ tiers: [fakeTier({ scope: undefined })] }), 'tiers[0].scope', `must be 'process', 'machine' or 'cluster', got undefined`);
    for (const name of ['', 7]) refusedOption(() => resolveEngineOptions({ tiers: [fakeTier({ name })] }), 'tiers[0].name', 'must be a non-empty string');
    for (const maxKeyBytes of [0, -1, Number.NaN, '100']) refusedOption(() => resolveEngineOptions({ tiers: [fakeTier({ maxKeyBytes })] }), 'tiers[0].maxKeyBytes', 'must be a positive number (Infinity for no limit)');
    assert.doesNotThrow(() => resolveEngineOptions({ tiers: [fakeTier({ maxKeyBytes: Number.POSITIVE_INFINITY })] }));
    assert.doesNotThrow(() => resolveEngineOptions({ tiers: [fakeTier({ maxKeyBytes: 0.5 })] }));
  });

  it('refuses a namespace, clock or random source of the wrong kind', () => {
    const tiers = [fakeTier()];
    refusedOption(() => resolveEngineOptions({ tiers, namespace: 1 as unknown as string }), 'namespace', 'must be a string');
    refusedOption(() => resolveEngineOptions({ tiers, namespace: '\udc00x' }), 'namespace', 'must be well-formed text: a lone UTF-16 surrogate would meet another namespace on Redis (both become U+FFFD)');
    refusedOption(() => resolveEngineOptions({ tiers, clock: 0 as unknown as () => number }), 'clock', 'must be a function returning wall-clock milliseconds');
    refusedOption(() => resolveEngineOptions({ tiers, random: 0.5 as unknown as () => number }), 'random', 'must be a function returning a number in [0, 1)');
  });
});
