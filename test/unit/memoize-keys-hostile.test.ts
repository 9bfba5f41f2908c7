// Memoize arguments with no canonical form: distinct ones would share a key (every Error, every
// Promise, every class instance once looked like `{}`), so they are refused with
// InvalidKeyError naming the argument path, before the function runs. Plain data keeps the
// same text it always had.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { canonicalArgs, memoizeKey } from '../../src/core/keys.js';
import { MAX_DEPTH } from '../../src/core/storable.js';
import { createCache, InvalidKeyError, memoryTier } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';

class Point {
  constructor(readonly x: number) {}
}

function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = { v: value };
  return value;
}

function isKeyError(path: string, hint: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof InvalidKeyError, `expected InvalidKeyError, got ${String(err)}`);
    assert.equal(err.code, 'E_INVALID_KEY');
    assert.ok(err.message.startsWith(`memoize argument ${path}: `), err.message);
    assert.match(err.message, hint);
    return true;
  };
}

/** Pairs of distinct arguments that once got one canonical text, and where the refusal points. */
const LOOK_ALIKES: ReadonlyArray<readonly [string, unknown, unknown, string, RegExp]> = [
  ['two Errors', new Error('a'), new TypeError('b'), '[0]', /instance of (Type)?Error/],
  ['two Promises', Promise.resolve(1), Promise.resolve(2), '[0]', /instance of Promise/],
  ['boxed numbers', Object(1) as unknown, Object(2) as unknown, '[0]', /instance of Number/],
  ['boxed strings', Object('a') as unknown, Object('b') as unknown, '[0]', /instance of String/],
  ['boxed booleans', Object(true) as unknown, Object(false) as unknown, '[0]', /instance of Boolean/],
  ['class instances', new Point(1), new Point(2), '[0]', /instance of Point/],
  ['WeakMaps', new WeakMap([[{}, 1]]), new WeakMap(), '[0]', /instance of WeakMap/],
  ['WeakSets', new WeakSet([{}]), new WeakSet(), '[0]', /instance of WeakSet/],
  ['a null-prototype object and a plain one', Object.assign(Object.create(null) as object, { a: 1 }), { a: 1 }, '[0]', /null-prototype/],
  ['arrays differing in an extra property', Object.assign([1], { page: 1 }), Object.assign([1], { page: 2 }), '[0]', /"page"/],
  ['objects differing in a hidden property', Object.defineProperty({}, 'id', { value: 1 }), Object.defineProperty({}, 'id', { value: 2 }), '[0].id', /non-enumerable/],
  ['objects differing in a symbol key', { [Symbol('a')]: 1 }, { [Symbol('a')]: 2 }, '[0]', /symbol keys/],
  ['a Date subclass and a Date', new (class Stamp extends Date {})(5), new Date(5), '[0]', /Date subclasses/],
  ['Maps differing in an extra property', Object.assign(new Map(), { v: 1 }), Object.assign(new Map(), { v: 2 }), '[0]', /"v"/],
  ['Buffers differing in an extra property', Object.assign(Buffer.from([1]), { tag: 1 }), Object.assign(Buffer.from([1]), { tag: 2 }), '[0]', /"tag"/],
  ['RegExps differing in lastIndex', Object.assign(/a/g, { lastIndex: 1 }), Object.assign(/a/g, { lastIndex: 2 }), '[0]', /lastIndex/],
];

describe('memoize keys of arguments that are not plain data', () => {
  it('refuse each argument that once shared its text with a distinct one, naming its path', () => {
    for (const [name, a, b, path, hint] of LOOK_ALIKES) {
      assert.throws(() => canonicalArgs([a]), isKeyError(path, hint), name);
      // b is plain data in some pairs: then it keeps its text, and a cannot take it.
      let text: string | undefined;
      try {
        text = canonicalArgs([b]);
      } catch (err) {
        assert.ok(err instanceof InvalidKeyError, `${name}: ${String(err)}`);
      }
      if (text !== undefined) assert.ok(name.endsWith('a plain one') || name.endsWith('and a Date'), `${name}: b was keyed as ${text}`);
      assert.throws(() => memoizeKey('f', ['ok', { nested: [a] }]), isKeyError(`[1].nested[0]${path.slice(3)}`, hint), name);
    }
  });

  it('name paths inside Maps and Sets', () => {
    assert.throws(() => canonicalArgs([new Map([['k', new Point(1)]])]), isKeyError('[0]<value 0>', /Point/));
    assert.throws(() => canonicalArgs([new Map([[new Point(1), 'v']])]), isKeyError('[0]<key 0>', /Point/));
    assert.throws(() => canonicalArgs([1, new Set([1, new Error('e')])]), isKeyError('[1]<1>', /Error/));
  });

  it('refuse Proxies and accessors without running their code', () => {
    let ran = 0;
    const trapped = new Proxy({ a: 1 }, { ownKeys: (t) => { ran++; return Reflect.ownKeys(t); }, get: (t, k) => { ran++; return Reflect.get(t, k); } });
    assert.throws(() => canonicalArgs([trapped]), isKeyError('[0]', /Proxy/));
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    assert.throws(() => canonicalArgs([{ p: revocable.proxy }]), isKeyError('[0].p', /Proxy/));
    assert.throws(() => canonicalArgs([new Proxy(new Map(), {})]), isKeyError('[0]', /Proxy/));
    let reads = 0;
    assert.throws(() => canonicalArgs([{ get page() { ran++; return ++reads; } }]), isKeyError('[0].page', /accessor/));
    assert.equal(ran, 0);
  });

  it('refuse functions, symbols and cycles with InvalidKeyError, the code of every memoize key problem', () => {
    assert.throws(() => canonicalArgs([{ a: { b: () => 1 } }]), isKeyError('[0].a.b', /a function argument cannot be part of a memoize key: pass \{ key \}/));
    assert.throws(() => canonicalArgs([[Symbol('s')]]), isKeyError('[0][0]', /a symbol argument/));
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    assert.throws(() => canonicalArgs([cyclic]), isKeyError('[0].self', /cycle/));
  });

  it('refuse an argument nested deeper than the limit with InvalidKeyError saying the limit, and accept the limit itself', () => {
    assert.throws(() => canonicalArgs([nested(3_000)]), isKeyError(`[0]${'.v'.repeat(MAX_DEPTH)}`, /more than 500 levels deep/));
    assert.throws(() => canonicalArgs([nested(MAX_DEPTH + 1)]), InvalidKeyError);
    assert.match(canonicalArgs([nested(MAX_DEPTH)]), /^\[\{"v":\{"v":/);
  });

  it('keep the text of plain data, whatever way it was built', () => {
    const frozen = Object.freeze({ b: Object.freeze([1, 2]), a: new Map([[1, new Set(['x'])]]) });
    assert.equal(canonicalArgs([frozen]), '[{"a":M{n1=>S{"x"}},"b":[n1,n2]}]');
    const long = Array.from({ length: 100 }, (_, i) => i);
    assert.equal(canonicalArgs([long]), `[[${long.map((i) => `n${i}`).join(',')}]]`);
    assert.equal(canonicalArgs([Buffer.from('hi'), new Float64Array(100).subarray(99)]), '[xBuffer:aGk=,xFloat64Array:AAAAAAAAAAA=]');
    assert.equal(canonicalArgs([JSON.parse('{"__proto__":1,"constructor":2}')]), '[{"__proto__":n1,"constructor":n2}]');
  });

  it('reject a memoized call with E_INVALID_KEY before the function runs', async (t: TestContext) => {
    const cache = createCache({ tiers: [memoryTier()], clock: manualClock() });
    t.after(() => cache.close());
    let calls = 0;
    const find = cache.memoize((_q: unknown) => ++calls, { name: 'find' });
    await assert.rejects(find(new Error('a')), isKeyError('[0]', /Error/));
    await assert.rejects(find(() => 1), { code: 'E_INVALID_KEY' });
    assert.equal(calls, 0);
    assert.equal(await find({ q: 'plain' }), 1);
  });
});
