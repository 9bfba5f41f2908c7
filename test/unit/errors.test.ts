// Misuse gets a typed error with a stable code and a message that says what to do; values
// either round-trip unchanged through every tier configuration or are refused.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Packr } from 'msgpackr';
import {
  createCache,
  errors,
  HerdcacheError,
  InvalidKeyError,
  InvalidOptionError,
  lmdbTier,
  memoryTier,
  NotSerializableError,
  type Cache,
  type Tier,
} from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';
import { tempDir } from '../helpers/tmp.js';
import { keySeal, seal } from '../../src/tiers/lmdb/seal.js';
import { writeRaw } from '../helpers/lmdb-raw.js';

const CONFIGS = ['L1', 'L2', 'L1+L2'] as const;
type Config = (typeof CONFIGS)[number];

function harness(t: TestContext, config: Config, namespace?: string): { cache: Cache; path: string; memory: Tier | undefined } {
  const dir = tempDir('herdcache-errors');
  const memory = config === 'L2' ? undefined : memoryTier();
  const tiers: Tier[] = [];
  if (memory !== undefined) tiers.push(memory);
  if (config !== 'L1') tiers.push(lmdbTier({ path: dir.path }));
  const cache = createCache({ tiers, clock: manualClock(), ...(namespace === undefined ? {} : { namespace }) });
  t.after(async () => {
    await cache.close();
    dir.cleanup();
  });
  return { cache, path: dir.path, memory };
}

function isCode(code: string, pattern?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof HerdcacheError, `expected a HerdcacheError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (pattern !== undefined) assert.match(err.message, pattern);
    return true;
  };
}

describe('error classes', () => {
  it('each has a stable, unique code, on the class and on instances, and its own name', () => {
    const codes = new Set<string>();
    for (const [name, cls] of Object.entries(errors)) {
      if (cls === HerdcacheError) continue;
      const code = (cls as unknown as { code: string }).code;
      assert.match(code, /^E_[A-Z_]+$/, name);
      assert.ok(!codes.has(code), `duplicate code ${code}`);
      codes.add(code);
    }
    const samples: HerdcacheError[] = [
      new errors.InvalidKeyError('m'),
      new errors.InvalidOptionError('ttl', 'm'),
      new errors.PolicyConflictError('a', 'b', 'm'),
      new errors.PolicyContractError('p', 'm'),
      new errors.NotSerializableError('p', 'm'),
      new errors.CacheClosedError(),
      new errors.ColdCacheError('k'),
      new errors.HardTimeoutError('k', 1),
      new errors.LeaseWaitTimeoutError('k', 1),
      new errors.StorageError('lmdb', 'm', { cause: new Error('x') }),
      new errors.AbortedError('k', 'm'),
    ];
    for (const err of samples) {
      assert.ok(err instanceof Error);
      assert.ok(err instanceof HerdcacheError);
      const cls = (errors as Record<string, unknown>)[err.name] as { code: string } | undefined;
      assert.equal(err.code, cls?.code, err.name);
    }
    assert.equal(samples.length, codes.size);
    assert.equal(samples.find((e) => e instanceof errors.StorageError)?.cause instanceof Error, true);
  });
});

describe('invalid keys', () => {
  const notStrings: unknown[] = [42, null, undefined, {}, ['k'], Symbol('k'), 1n, true];

  for (const config of CONFIGS) {
    it(`${config}: a key that is not a string: getSync throws, the async methods reject`, async (t) => {
      const { cache } = harness(t, config);
      for (const key of notStrings) {
        const k = key as string;
        assert.throws(() => cache.getSync(k), isCode('E_INVALID_KEY', /must be a string/));
        for (const call of [() => cache.get(k), () => cache.has(k), () => cache.set(k, 1), () => cache.delete(k), () => cache.compute(k, () => 1)]) {
          let pending: Promise<unknown> | undefined;
          assert.doesNotThrow(() => { pending = call(); });
          await assert.rejects(pending!, isCode('E_INVALID_KEY'));
        }
      }
    });

    it(`${config}: an empty key`, async (t) => {
      const { cache } = harness(t, config);
      assert.throws(() => cache.getSync(''), isCode('E_INVALID_KEY', /must not be empty/));
      await assert.rejects(cache.set('', 1), InvalidKeyError);
      await assert.rejects(cache.compute('', () => 1), InvalidKeyError);
    });
  }

  for (const namespace of ['', 'ns', '\u00e9t\u00e9']) {
    it(`L2 with namespace ${JSON.stringify(namespace)}: keys up to the LMDB limit less the prefix work, one byte more is refused`, async (t) => {
      const tierLimit = lmdbTier({ path: '/nonexistent-never-opened' }).maxKeyBytes;
      assert.ok(tierLimit <= 1978 && tierLimit > 1900, `LMDB tier limit ${tierLimit}`);
      for (const config of ['L2', 'L1+L2'] as const) {
        const { cache } = harness(t, config, namespace);
        const prefixBytes = Buffer.byteLength(`${namespace.length}:${namespace}:`);
        const limit = tierLimit - prefixBytes;
        const longest = 'k'.repeat(limit);
        await cache.set(longest, 'fits');
        assert.equal(cache.getSync(longest), 'fits');
        // Multi-byte characters count in bytes: half as many two-byte characters reach the limit.
        const longestMulti = '\u00e9'.repeat(Math.floor(limit / 2)) + 'k'.repeat(limit % 2);
        await cache.set(longestMulti, 'fits too');
        assert.equal(await cache.get(longestMulti), 'fits too');
        const overAscii = 'k'.repeat(limit + 1);
        const overMulti = '\u00e9'.repeat(Math.floor(limit / 2) + 1);
        assert.ok(overMulti.length < limit, 'fewer characters than the limit, more bytes');
        for (const over of [overAscii, overMulti]) {
          const bytes = Buffer.byteLength(over);
          assert.throws(() => cache.getSync(over), isCode('E_INVALID_KEY', new RegExp(`${bytes} bytes.*limit of ${limit} bytes.*hash long keys`)));
          await assert.rejects(cache.set(over, 1), InvalidKeyError);
          await assert.rejects(cache.get(over), InvalidKeyError);
          await assert.rejects(cache.delete(over), InvalidKeyError);
          await assert.rejects(cache.compute(over, () => 1), InvalidKeyError);
        }
      }
    });
  }

  it('L1 only: long keys are fine (no storage limit)', async (t) => {
    const { cache } = harness(t, 'L1');
    const key = '\u00e9'.repeat(5_000);
    await cache.set(key, 1);
    assert.equal(cache.getSync(key), 1);
  });
});

describe('invalid options', () => {
  const bad: Array<[string, () => unknown, string]> = [
    ['ttl 0', () => createCache({ tiers: [memoryTier()], ttl: 0 }), 'ttl'],
    ['ttl < 0', () => createCache({ tiers: [memoryTier()], ttl: -5 }), 'ttl'],
    ['ttl NaN', () => createCache({ tiers: [memoryTier()], ttl: Number.NaN }), 'ttl'],
    ['ttl Infinity', () => createCache({ tiers: [memoryTier()], ttl: Number.POSITIVE_INFINITY }), 'ttl'],
    ['ttl as a string', () => createCache({ tiers: [memoryTier()], ttl: '1000' as unknown as number }), 'ttl'],
    ['maxAge < ttl', () => createCache({ tiers: [memoryTier()], ttl: 1_000, maxAge: 500 }), 'maxAge'],
    ['maxAge NaN', () => createCache({ tiers: [memoryTier()], maxAge: Number.NaN }), 'maxAge'],
    ['tiers and lmdb together', () => createCache({ tiers: [memoryTier()], lmdb: { path: '/tmp/x' } }), 'tiers'],
    ['tiers and memory together', () => createCache({ tiers: [memoryTier()], memory: { maxEntries: 5 } }), 'tiers'],
    ['process tier not first', () => createCache({ tiers: [lmdbTier({ path: '/tmp/never-opened' }), memoryTier()] }), 'tiers[1]'],
    ['no tier', () => createCache({ tiers: [] }), 'tiers'],
    ['the same tier twice', () => { const l = lmdbTier({ path: '/tmp/never-opened' }); return createCache({ tiers: [l, l] }); }, 'tiers'],
    ['not a tier', () => createCache({ tiers: [{} as Tier] }), 'tiers[0]'],
    ['namespace not a string', () => createCache({ tiers: [memoryTier()], namespace: 5 as unknown as string }), 'namespace'],
    ['clock not a function', () => createCache({ tiers: [memoryTier()], clock: 5 as unknown as () => number }), 'clock'],
    ['memoryTier maxEntries 0', () => memoryTier({ maxEntries: 0 }), 'memoryTier.maxEntries'],
    ['memoryTier maxEntries 1.5', () => memoryTier({ maxEntries: 1.5 }), 'memoryTier.maxEntries'],
    ['memoryTier maxBytes -1', () => memoryTier({ maxBytes: -1 }), 'memoryTier.maxBytes'],
    ['lmdbTier maxBytes 0', () => lmdbTier({ path: '/tmp/never-opened', maxBytes: 0 }), 'lmdbTier.maxBytes'],
    ['lmdbTier syncInterval NaN', () => lmdbTier({ path: '/tmp/never-opened', syncInterval: Number.NaN }), 'lmdbTier.syncInterval'],
    ['lmdbTier path empty', () => lmdbTier({ path: '' }), 'lmdbTier.path'],
  ];
  for (const [name, build, option] of bad) {
    it(`refuses ${name} at construction, naming the option`, () => {
      assert.throws(build, (err: unknown) => {
        assert.ok(err instanceof InvalidOptionError, String(err));
        assert.equal(err.code, 'E_INVALID_OPTION');
        assert.equal(err.option, option);
        assert.ok(err.message.startsWith(`${option}: `), err.message);
        assert.ok(err.message.length > option.length + 12, 'the message explains the problem');
        return true;
      });
    });
  }

  it('refuses bad per-call durations with a rejection, storing nothing', async (t) => {
    const { cache } = harness(t, 'L1+L2');
    for (const options of [{ ttl: 0 }, { ttl: -1 }, { ttl: Number.NaN }, { ttl: Number.POSITIVE_INFINITY }, { ttl: 100, maxAge: 50 }, { maxAge: Number.NaN }]) {
      await assert.rejects(cache.set('k', 1, options), isCode('E_INVALID_OPTION', /(ttl|maxAge): /));
      await assert.rejects(cache.compute('k', () => 1, options), InvalidOptionError);
      assert.throws(() => cache.memoize(function f() { return 1; }, options), InvalidOptionError);
    }
    assert.equal(cache.getSync('k'), undefined);
  });

  it('refuses a compute without a function', async (t) => {
    const { cache } = harness(t, 'L1');
    await assert.rejects(cache.compute('k', 'value' as never), isCode('E_INVALID_OPTION', /must be a function/));
  });
});

describe('values', () => {
  class Point {
    constructor(readonly x: number) {}
  }
  const cyclic: Record<string, unknown> = { name: 'loop' };
  cyclic['self'] = cyclic;
  const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
  const nullProto = Object.assign(Object.create(null) as object, { a: 1 });
  const refused: Array<[string, unknown, string, RegExp]> = [
    ['a function', { render: () => 'x' }, 'render', /store the data they produce/],
    ['a symbol', { tag: Symbol('t') }, 'tag', /store a string/],
    ['a class instance', { at: new Point(1) }, 'at', /Point.*store plain data/],
    ['a cycle', cyclic, 'self', /cycle.*refer to shared parts by id/],
    ['-0', { n: [1, -0] }, 'n[1]', /-0.*store 0 instead/],
    ['a sparse array', { list: sparse }, 'list[1]', /fill them explicitly/],
    ['an own __proto__ key', JSON.parse('{"a":{"__proto__":{"polluted":true}}}'), 'a.__proto__', /use another key/],
    ['a null-prototype object', { data: nullProto }, 'data', /null-prototype.*store plain data/],
    ['symbol keys', { [Symbol('s')]: 1 }, '', /symbol keys/],
    ['a WeakMap', { w: new WeakMap() }, 'w', /store plain data/],
    ['a DataView', { v: new DataView(new ArrayBuffer(2)) }, 'v', /use a Uint8Array/],
    ['a Map subclass', new (class Registry extends Map {})(), '', /Map subclasses/],
    ['a promise', Promise.resolve(1), '', /Promise/],
  ];

  for (const config of CONFIGS) {
    it(`${config}: refuses values that would not survive storage, naming the path and what to do`, async (t) => {
      const { cache, memory } = harness(t, config);
      for (const [name, value, path, hint] of refused) {
        await assert.rejects(cache.set('k', value), (err: unknown) => {
          assert.ok(err instanceof NotSerializableError, `${name}: ${String(err)}`);
          assert.equal(err.code, 'E_NOT_SERIALIZABLE');
          assert.equal(err.path, path, name);
          assert.equal(err.key, 'k');
          assert.match(err.message, hint, name);
          return true;
        });
        // (a compute's promise is awaited, so a promise is only refused by set)
        if (!(value instanceof Promise)) await assert.rejects(cache.compute('c', () => value), NotSerializableError, name);
      }
      assert.equal(cache.getSync('k'), undefined);
      assert.equal(cache.getSync('c'), undefined);
      assert.equal(memory?.size?.() ?? 0, 0);
      assert.equal(cache.stats().sets, 0);
    });
  }

  const roundTrip: Record<string, unknown> = {
    string: 'plain',
    unicode: 'caf\u00e9 \u65e5\u672c \u{1F600}',
    empty: '',
    integer: 42,
    float: -3.75,
    nan: Number.NaN,
    infinity: Number.POSITIVE_INFINITY,
    negInfinity: Number.NEGATIVE_INFINITY,
    maxSafe: Number.MAX_SAFE_INTEGER,
    zero: 0,
    true: true,
    null: null,
    smallBigint: 7n,
    negBigint: -(2n ** 63n),
    hugeBigint: 2n ** 200n + 12345n,
    date: new Date(1_700_000_000_123),
    map: new Map<unknown, unknown>([['a', 1], [2, 'two'], ['nested', new Map([['x', new Set([1])]])]]),
    set: new Set<unknown>(['a', 1, 2n]),
    buffer: Buffer.from('hello buffer'),
    uint8: new Uint8Array([0, 1, 254, 255]),
    int16: new Int16Array([-2, 3]),
    uint32: new Uint32Array([4_000_000_000]),
    float32: new Float32Array([1.5, -0.25]),
    float64: new Float64Array([Math.PI]),
    bigint64: new BigInt64Array([-5n, 2n ** 62n]),
    regexp: /^h(e)llo\s+\d*$/gimu,
    nested: { a: { b: { c: [1, { d: 'deep', e: [new Date(0), new Map([['k', 'v']])] }] } } },
    withUndefined: { a: undefined, b: 1, c: [undefined, 2] },
    dangerousNames: { constructor: { prototype: { polluted: true } }, prototype: 1, toString: 'not a function' },
    array: [1, 'two', null, [3, [4]]],
    emptyObject: {},
    emptyArray: [],
  };

  for (const config of CONFIGS) {
    it(`${config}: values round-trip unchanged`, async (t) => {
      const { cache, memory } = harness(t, config);
      for (const [name, value] of Object.entries(roundTrip)) await cache.set(name, value);
      for (const [name, value] of Object.entries(roundTrip)) {
        assert.deepStrictEqual(cache.getSync(name), value, `${name} via getSync`);
        assert.deepStrictEqual(await cache.get(name), value, `${name} via get`);
      }
      if (config === 'L1+L2') {
        // The same values read back from L2 alone, then promoted into L1.
        for (const name of Object.keys(roundTrip)) memory!.delete(name);
        for (const [name, value] of Object.entries(roundTrip)) assert.deepStrictEqual(cache.getSync(name), value, `${name} from L2`);
        assert.equal(cache.stats().hits['lmdb'], Object.keys(roundTrip).length);
      }
      assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    });
  }

  it('a value is copied on set: mutating the original afterwards does not change the cache', async (t) => {
    const { cache } = harness(t, 'L1');
    const value = { list: [1, 2] };
    await cache.set('k', value);
    value.list.push(3);
    assert.deepEqual(cache.getSync('k'), { list: [1, 2] });
  });

  it('no prototype pollution from a __proto__ key written straight into the file', async (t) => {
    const { cache, path } = harness(t, 'L2');
    // Encoded by a msgpackr of the same settings but outside the cache, so storable.ts never saw
    // it, and sealed as the tier seals its records, so that it is read.
    const foreign = new Packr({ moreTypes: true });
    const record = JSON.parse(`{"value":{"__proto__":{"polluted":true},"ok":1},"storedAt":0,"freshUntil":1e300,"staleUntil":1e300,"delta":0,"kh":${keySeal('0::evil')}}`) as unknown;
    await writeRaw(path, '0::evil', seal(foreign.pack(record)));
    const read = await cache.get<Record<string, unknown>>('evil');
    assert.ok(read !== undefined);
    assert.equal(read['ok'], 1);
    assert.equal(Object.getPrototypeOf(read), Object.prototype);
    assert.equal(read['polluted'], undefined);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
  });
});
