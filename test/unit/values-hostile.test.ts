// Values built to break the codec: Proxies, accessors, subclasses, properties the codec drops,
// nesting deeper than its stack. Each is refused with NotSerializableError (never a raw
// TypeError or RangeError, never stored changed), nothing is written, and what is accepted
// comes back unchanged from every tier, Buffers of any size included.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { encodeCopy } from '../../src/core/codec.js';
import { assertStorable, MAX_DEPTH } from '../../src/core/storable.js';
import { createCache, lmdbTier, memoryTier, NotSerializableError, redisTier, type Cache, type Tier } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';
import { redisSkip, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { tempDir } from '../helpers/tmp.js';

const CONFIGS = ['L1', 'L2', 'L1+L2'] as const;
type Config = (typeof CONFIGS)[number] | 'L2+redis';

function harness(t: TestContext, config: Config, redisUrl?: string): { cache: Cache; reopen: () => Cache } {
  const dir = tempDir('herdcache-hostile');
  const clock = manualClock();
  const opened: Cache[] = [];
  const open = (withMemory: boolean): Cache => {
    const tiers: Tier[] = [];
    if (withMemory && (config === 'L1' || config === 'L1+L2')) tiers.push(memoryTier());
    if (config !== 'L1') tiers.push(lmdbTier({ path: dir.path }));
    if (config === 'L2+redis') tiers.push(redisTier({ url: redisUrl ?? '', keyPrefix: `hostile-${process.pid}-${Date.now()}:` }));
    const cache = createCache({ tiers, clock, ttl: 60_000 });
    opened.push(cache);
    return cache;
  };
  const cache = open(true);
  t.after(async () => {
    for (const c of opened) await c.close();
    dir.cleanup();
  });
  // A second instance with no memory tier reads what the shared tiers hold.
  return { cache, reopen: () => (config === 'L1' ? cache : open(false)) };
}

/** A chain `levels` containers deep, each made by `wrap`, around the number 1. */
function nested(levels: number, wrap: (inner: unknown, level: number) => unknown): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = wrap(value, i);
  return value;
}

const WRAPS: Record<string, (inner: unknown, level: number) => unknown> = {
  objects: (v) => ({ v }),
  arrays: (v) => [v],
  'Map keys': (v) => new Map([[v, 0]]),
  'Map values': (v) => new Map([[0, v]]),
  Sets: (v) => new Set([v]),
  'a mix': (v, i) => [{ v }, [v], new Map([[v, 0]]), new Set([v])][i % 4],
};

class Stamp extends Date {}
class Pattern extends RegExp {}
class Bytes extends Uint8Array {}

interface Hostile {
  readonly name: string;
  /** Builds a fresh value, and says how often its code ran (getters, traps). */
  readonly make: (ran: () => void) => unknown;
  readonly path: string;
  readonly hint: RegExp;
}

function withProperty<T extends object>(target: T, name: string | symbol, enumerable: boolean): T {
  Object.defineProperty(target, name, { value: 'extra', enumerable, writable: true, configurable: true });
  return target;
}

/** Buffer subclasses cannot be constructed directly: Buffer's own factories give plain Buffers. */
function bufferSubclass(): Buffer {
  class Sub extends Buffer {}
  return Object.setPrototypeOf(Buffer.from([1, 2]), Sub.prototype) as Buffer;
}

const HOSTILE: readonly Hostile[] = [
  // These once failed with a raw TypeError, RangeError or Error.
  { name: 'a revoked Proxy', make: () => { const r = Proxy.revocable({}, {}); r.revoke(); return { p: r.proxy }; }, path: 'p', hint: /Proxy/ },
  { name: 'an invariant-breaking Proxy', make: (ran) => ({ p: new Proxy(Object.freeze({ a: 1 }), { get: () => { ran(); return 2; } }) }), path: 'p', hint: /Proxy/ },
  { name: 'a Proxy over a Map', make: () => new Proxy(new Map([[1, 2]]), {}), path: '', hint: /Proxy/ },
  { name: 'a Map whose key is 2,500 levels deep', make: () => new Map([[nested(2_500, (v) => ({ v })), 1]]), path: `<key 0>${'.v'.repeat(MAX_DEPTH - 1)}`, hint: /more than 500 levels/ },
  { name: 'Sets 800 levels deep (deeper than msgpackr can encode them)', make: () => nested(800, (v) => new Set([v])), path: '<0>'.repeat(MAX_DEPTH), hint: /more than 500 levels/ },
  { name: 'a getter that throws', make: (ran) => ({ a: { get b(): never { ran(); throw new Error('boom'); } } }), path: 'a.b', hint: /an accessor property would be read again when stored: store plain data/ },
  // These were once accepted, then came back changed (or failed in the encoder).
  { name: 'a Date subclass', make: () => ({ at: new Stamp(5) }), path: 'at', hint: /Date subclasses/ },
  { name: 'a RegExp subclass', make: () => ({ re: new Pattern('a', 'g') }), path: 're', hint: /RegExp subclasses/ },
  { name: 'an object that inherits from Date without being one', make: () => ({ at: Object.create(Date.prototype) as unknown }), path: 'at', hint: /inherits from Date/ },
  { name: 'an array with an extra property', make: () => ({ list: Object.assign([1, 2], { total: 2 }) }), path: 'list', hint: /"total" would be dropped/ },
  { name: 'an array with a hidden property', make: () => withProperty([1], 'hidden', false), path: '', hint: /"hidden" would be dropped/ },
  { name: 'a RegExp match (index, input, groups)', make: () => ({ m: /b/.exec('abc') }), path: 'm', hint: /"index" would be dropped/ },
  { name: 'a long array with a hidden property', make: () => withProperty(Array.from({ length: 1_000 }, (_, i) => i), 'hidden', false), path: '', hint: /own properties besides the elements/ },
  { name: 'an array with a symbol property', make: () => withProperty([1], Symbol('s'), true), path: '', hint: /Symbol\(s\) would be dropped/ },
  { name: 'a Map with an extra property', make: () => ({ m: Object.assign(new Map(), { x: 1 }) }), path: 'm', hint: /"x" would be dropped/ },
  { name: 'a Set with a hidden property', make: () => withProperty(new Set([1]), 'x', false), path: '', hint: /"x" would be dropped/ },
  { name: 'a Date with an extra property', make: () => Object.assign(new Date(5), { tz: 'UTC' }), path: '', hint: /"tz" would be dropped/ },
  { name: 'a RegExp with an extra property', make: () => Object.assign(/a/g, { note: 1 }), path: '', hint: /"note" would be dropped/ },
  { name: 'a RegExp with lastIndex 3', make: () => Object.assign(/a/g, { lastIndex: 3 }), path: '', hint: /lastIndex/ },
  { name: 'a typed array with an extra property', make: () => ({ t: Object.assign(new Uint8Array([1]), { unit: 'ms' }) }), path: 't', hint: /"unit" would be dropped/ },
  { name: 'a long Buffer with a hidden property', make: () => withProperty(Buffer.alloc(4_096), 'encoding', false), path: '', hint: /own properties besides the elements/ },
  { name: 'a long Float64Array with an extra property', make: () => Object.assign(new Float64Array(100), { unit: 'ms' }), path: '', hint: /own properties besides the elements/ },
  { name: 'a non-enumerable property of a plain object', make: () => withProperty({ a: 1 }, 'b', false), path: 'b', hint: /non-enumerable property would be dropped/ },
  { name: 'a getter that returns a function on its second read', make: (ran) => { let reads = 0; return { get x(): unknown { ran(); return reads++ === 0 ? 1 : () => 1; } }; }, path: 'x', hint: /accessor property/ },
  { name: 'a setter without a getter', make: (ran) => ({ set x(_: unknown) { ran(); } }), path: 'x', hint: /accessor property/ },
  { name: 'a getter on an array element', make: (ran) => Object.defineProperty([0, 1], 1, { get: () => { ran(); return 1; }, enumerable: true }), path: '[1]', hint: /accessor property/ },
  { name: 'a Buffer subclass', make: () => ({ b: bufferSubclass() }), path: 'b', hint: /subclasses of Buffer and typed arrays/ },
  { name: 'a typed array subclass', make: () => new Bytes([1]), path: '', hint: /subclasses of Buffer and typed arrays/ },
  { name: 'a Proxy of a plain object', make: (ran) => ({ deep: [new Proxy({ a: 1 }, { get: (target, key) => { ran(); return Reflect.get(target, key); } })] }), path: 'deep[0]', hint: /a Proxy is not plain data: its traps may answer differently each time it is read/ },
  { name: 'a Proxy of an array', make: () => new Proxy([1], {}), path: '', hint: /Proxy/ },
  { name: 'a Proxy of a function', make: () => ({ f: new Proxy(() => 1, {}) }), path: 'f', hint: /Proxy/ },
  { name: 'an object with own constructor and toJSON keys', make: () => ({ o: { constructor: 1, toJSON: 1 } }), path: 'o', hint: /"constructor" and "toJSON"/ },
];

describe('hostile values', () => {
  for (const config of CONFIGS) {
    it(`${config}: each is refused by set and compute with NotSerializableError naming the path, without running its code, and nothing is stored`, async (t) => {
      const { cache, reopen } = harness(t, config);
      await refusesAll(cache, reopen);
    });
  }

  describe('with Redis as well (encoded by its own Packr, no memory copy first)', { skip: redisSkip() }, () => {
    let server: RedisServer;
    before(async () => {
      server = await startRedisServer();
    });
    after(async () => {
      await server?.stop();
    });
    it('L2+redis: each is refused with NotSerializableError, and nothing is stored', async (t) => {
      const { cache, reopen } = harness(t, 'L2+redis', server.url);
      await refusesAll(cache, reopen);
    });
    it('L2+redis: the deepest value of each kind round-trips', async (t) => {
      const { cache, reopen } = harness(t, 'L2+redis', server.url);
      await deepestRoundTrip(cache, reopen);
    });
  });

  it('assertStorable refuses them with NotSerializableError only, whatever the key', () => {
    for (const { name, make, path, hint } of HOSTILE) {
      assert.throws(() => assertStorable(make(() => undefined), 'k'), (err: unknown) => {
        assert.ok(err instanceof NotSerializableError, `${name}: ${String(err)}`);
        assert.equal(err.code, 'E_NOT_SERIALIZABLE', name);
        assert.equal(err.path, path, name);
        assert.match(err.message, hint, name);
        return true;
      });
    }
  });

  it('says the depth limit, and accepts exactly that many levels', () => {
    assert.equal(MAX_DEPTH, 500);
    for (const [kind, wrap] of Object.entries(WRAPS)) {
      assert.doesNotThrow(() => assertStorable(nested(MAX_DEPTH, wrap)), kind);
      assert.throws(() => assertStorable(nested(MAX_DEPTH + 1, wrap)), /nested more than 500 levels deep/, kind);
    }
    // Leaves add no level: a Date, RegExp or Buffer at the bottom is fine.
    assert.doesNotThrow(() => assertStorable(nested(MAX_DEPTH, (v, i) => (i === 0 ? [new Date(0), /a/, Buffer.alloc(1)] : [v]))));
  });

  it('keeps what an unexpected failure while reading threw as the cause', () => {
    const iterate = Object.getOwnPropertyDescriptor(Map.prototype, Symbol.iterator)!;
    const boom = new TypeError('iteration patched to fail');
    Object.defineProperty(Map.prototype, Symbol.iterator, { ...iterate, value: () => { throw boom; } });
    try {
      assert.throws(() => assertStorable({ a: [new Map([[1, 2]])] }, 'k'), (err: unknown) => {
        assert.ok(err instanceof NotSerializableError, String(err));
        assert.equal(err.path, 'a[0]');
        assert.equal(err.key, 'k');
        assert.equal(err.cause, boom);
        assert.match(err.message, /iteration patched to fail/);
        return true;
      });
    } finally {
      Object.defineProperty(Map.prototype, Symbol.iterator, iterate);
    }
  });

  it('encodeCopy refuses what msgpackr cannot encode with NotSerializableError, its error as the cause', () => {
    assert.throws(() => encodeCopy({ constructor: 1, toJSON: 1 }), (err: unknown) => {
      assert.ok(err instanceof NotSerializableError, String(err));
      assert.ok(err.cause instanceof TypeError, String(err.cause));
      assert.match(err.message, /msgpackr could not encode it/);
      return true;
    });
  });

  for (const config of CONFIGS) {
    it(`${config}: what is accepted at the edges comes back unchanged (the deepest value of each kind, long arrays and typed arrays, RegExps, awkward keys)`, async (t) => {
      const { cache, reopen } = harness(t, config);
      await deepestRoundTrip(cache, reopen);
    });
  }
});

async function refusesAll(cache: Cache, reopen: () => Cache): Promise<void> {
  await cache.set('k', 'older');
  for (const { name, make, path, hint } of HOSTILE) {
    let ran = 0;
    const value = make(() => ran++);
    const check = (err: unknown): boolean => {
      assert.ok(err instanceof NotSerializableError, `${name}: ${String(err)}`);
      assert.equal(err.code, 'E_NOT_SERIALIZABLE', name);
      assert.equal(err.path, path, name);
      assert.match(err.message, hint, name);
      return true;
    };
    await assert.rejects(cache.set('k', value), check);
    await assert.rejects(cache.compute('c', () => value), check);
    assert.equal(ran, 0, `${name}: its code ran ${ran} times`);
    assert.equal(cache.getSync('k'), 'older', name);
    assert.equal(cache.getSync('c'), undefined, name);
  }
  const fresh = reopen();
  assert.equal(await fresh.get('k'), 'older');
  assert.equal(await fresh.get('c'), undefined);
}

async function deepestRoundTrip(cache: Cache, reopen: () => Cache): Promise<void> {
  const values: Record<string, unknown> = {
    ...Object.fromEntries(Object.entries(WRAPS).map(([kind, wrap]) => [`${MAX_DEPTH} levels of ${kind}`, nested(MAX_DEPTH, wrap)])),
    'an array of 64': Array.from({ length: 64 }, (_, i) => i),
    'an array of 65': Array.from({ length: 65 }, (_, i) => `${i}`),
    'a long Buffer from the pool': Buffer.from('x'.repeat(100)),
    'a long Float64Array over part of a buffer': new Float64Array(new ArrayBuffer(8 * 200), 8 * 10, 100).fill(1.5),
    'a RegExp used up to the end': (() => { const re = /a/g; while (re.test('aaa')); return re; })(),
    'awkward keys': { constructor: 1, hasOwnProperty: 2, toJSON: 0, valueOf: 'v', length: 3, 0: 'zero' },
    'a frozen object': Object.freeze({ a: Object.freeze([1, 2]) }),
  };
  for (const [name, value] of Object.entries(values)) await cache.set(name, value);
  const fresh = reopen();
  for (const [name, value] of Object.entries(values)) {
    assert.ok(isDeepStrictEqual(cache.getSync(name), value), `${name}: read back changed`);
    assert.ok(isDeepStrictEqual(await fresh.get(name), value), `${name}: read back changed through another instance`);
  }
}

describe('large values on LMDB', () => {
  it('a Buffer in a record of 16 MiB or more comes back as a Buffer, not a Uint8Array', async (t) => {
    const { cache, reopen } = harness(t, 'L2');
    // lmdb-js hands the decoder such records as a Uint8Array over its memory map: the size of
    // the whole record counts, not that of the Buffer.
    const cases: Array<[string, () => unknown, (v: unknown) => Buffer]> = [
      ['a 17 MB Buffer', () => Buffer.alloc(17_000_000, 7), (v) => v as Buffer],
      ['a 10 MB Buffer next to a 7 MB string', () => ({ bytes: Buffer.alloc(10_000_000, 3), text: 'x'.repeat(7_000_000) }), (v) => (v as { bytes: Buffer }).bytes],
    ];
    const reader = reopen();
    for (const [name, make, bufferOf] of cases) {
      await cache.set('big', make());
      for (const [how, got] of [['getSync', cache.getSync('big')], ['get from another instance', await reader.get('big')]] as const) {
        const bytes = bufferOf(got);
        assert.ok(Buffer.isBuffer(bytes), `${name} via ${how}: came back as a ${Object.getPrototypeOf(bytes)?.constructor?.name ?? typeof bytes}`);
        assert.ok(isDeepStrictEqual(got, make()), `${name} via ${how}: came back changed`);
      }
    }
    await cache.delete('big');
  });
});
