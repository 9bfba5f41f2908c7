// What assertStorable and its parts accept and refuse, detail by detail: the exact path and reason
// of each refusal, both sides of each boundary, and the code of a value that never runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { NotSerializableError } from '../../src/core/errors.js';
import { arrayElement, assertStorable, HOLE, MAX_DEPTH, plainEntries, plainKind, type Refuse } from '../../src/core/storable.js';

const fail: Refuse = (path, reason) => {
  throw new NotSerializableError(path, reason);
};

/** Asserts the refusal of `value` at `path` for exactly `reason`, raised by the check itself. */
function refused(value: unknown, path: string, reason: string): void {
  assert.throws(() => assertStorable(value, 'k'), (err: unknown) => {
    assert.ok(err instanceof NotSerializableError, String(err));
    assert.equal(err.code, 'E_NOT_SERIALIZABLE');
    assert.equal(err.path, path);
    assert.equal(err.key, 'k');
    assert.equal(err.message, `value${path === '' ? '' : ` at ${path}`}: ${reason}`);
    assert.equal(err.cause, undefined, 'a refusal of the check is not wrapped');
    return true;
  });
}

const accepted = (value: unknown): void => assert.doesNotThrow(() => assertStorable(value), inspect(value, { depth: 1 }));
const withProto = <T extends object>(value: T, proto: object | null): T => Object.setPrototypeOf(value, proto) as T;
const extra = (name: string): string => `its own property "${name}" would be dropped; store the extra data next to it`;
const NEG_ZERO = '-0 would be stored as 0; store 0 instead';
const WHOLE = 'its own properties besides the elements would be dropped; store the extra data next to it';
const PROXY = 'a Proxy is not plain data: its traps may answer differently each time it is read; store a plain copy';
const CYCLE = 'the value contains a cycle; store a tree and refer to shared parts by id';
const PLAIN = 'would come back as a plain object; store plain data';
const BYTES_SUBCLASS = 'subclasses of Buffer and typed arrays (and ones with another prototype) cannot be stored; use a Uint8Array or Buffer';

describe('assertStorable: scalars', () => {
  it('accepts booleans, bigints, undefined, null, every number but -0, and well-formed strings', () => {
    for (const v of [true, false, 10n, -(2n ** 100n), undefined, null, 0, 1.5, NaN, Infinity, -Infinity, '', 'caf\u00e9 \u{1F600}']) accepted(v);
  });

  it('refuses -0, a lone surrogate, a function, a Proxy of a function and a symbol, each with its own reason', () => {
    refused({ n: -0 }, 'n', NEG_ZERO);
    refused({ s: 'a\uD800' }, 's', 'a lone UTF-16 surrogate would come back as U+FFFD; store well-formed text, or bytes in a Buffer');
    refused({ f: () => 1 }, 'f', 'functions cannot be stored; store the data they produce');
    refused([new Proxy(() => 1, {})], '[0]', PROXY);
    refused(Symbol('s'), '', 'symbols cannot be stored; store a string instead');
  });

  it('names the key in the error only when one is given', () => {
    assert.throws(() => assertStorable(-0), (err: unknown) => err instanceof NotSerializableError && err.key === undefined && err.message === `value: ${NEG_ZERO}`);
  });
});

describe('assertStorable: paths inside containers', () => {
  it('names array indices, Map keys and values, Set members and object keys, counting past the first', () => {
    refused([1, [2, -0]], '[1][1]', NEG_ZERO);
    refused({ m: new Map<unknown, unknown>([[1, 1], [() => 1, 1]]) }, 'm<key 1>', 'functions cannot be stored; store the data they produce');
    refused({ m: new Map([[1, 1], [2, -0]]) }, 'm<value 1>', NEG_ZERO);
    // (a Set, like a Map's keys, turns -0 into 0 itself)
    refused({ s: new Set<unknown>([1, Symbol('s')]) }, 's<1>', 'symbols cannot be stored; store a string instead');
    refused({ a: { b: -0 } }, 'a.b', NEG_ZERO);
    refused(new Set([{ b: -0 }]), '<0>.b', NEG_ZERO);
  });

  it('refuses a hole of a sparse array at its index, and accepts an explicit undefined', () => {
    refused({ a: [1, , 3] }, 'a[1]', 'sparse arrays are stored with undefined in the holes; fill them explicitly');
    accepted([1, undefined, 3]);
  });

  it('refuses a cycle where it closes, through arrays, Maps and objects alike', () => {
    const o: Record<string, unknown> = { a: {} };
    (o['a'] as Record<string, unknown>)['back'] = o;
    refused(o, 'a.back', CYCLE);
    const list: unknown[] = [];
    refused(list.push(list) && list, '[0]', CYCLE);
    const m = new Map<string, unknown>();
    refused(m.set('me', m), '<value 0>', CYCLE);
  });

  it('counts a level for each container, whatever its kind, and none for a Date, RegExp or typed array', () => {
    const tooDeep = `nested more than ${MAX_DEPTH} levels deep; flatten it or store it as a string`;
    const kinds: Array<[(v: unknown) => unknown, string]> = [[(v) => [v], '[0]'], [(v) => ({ v }), '.v'], [(v) => new Map([[v, 0]]), '<key 0>'], [(v) => new Map([[0, v]]), '<value 0>'], [(v) => new Set([v]), '<0>']];
    for (const [wrap, step] of kinds) {
      let deep: unknown = wrap([new Date(0), /a/, Buffer.alloc(1), new Uint16Array(2)]);
      for (let i = 2; i < MAX_DEPTH; i++) deep = wrap(deep);
      accepted(deep);
      refused(wrap(deep), step.repeat(MAX_DEPTH).replace(/^\./, ''), tooDeep);
    }
  });

  it('accepts a part shared by several branches, which is no cycle', () => {
    const shared = { n: 1 };
    accepted({ x: shared, y: [shared, shared], z: new Map([[shared, shared]]), s: new Set([shared]) });
  });
});

describe('assertStorable: object keys', () => {
  it('refuses an own __proto__ key and a key with a lone surrogate, at the key', () => {
    refused({ o: JSON.parse('{"__proto__": 1}') as unknown }, 'o.__proto__', 'an own "__proto__" key would be renamed; use another key');
    refused(JSON.parse('{"__proto__": 1}'), '__proto__', 'an own "__proto__" key would be renamed; use another key');
    refused({ o: { 'a\uDFFF': 1 } }, 'o.a\uDFFF', 'a key with a lone UTF-16 surrogate would be altered; use well-formed text');
  });

  it('refuses own constructor and toJSON keys together only when toJSON is truthy, naming the object', () => {
    const both = 'an object with both own "constructor" and "toJSON" keys would be encoded by calling toJSON; rename one of them';
    refused({ o: { constructor: 1, toJSON: 1 } }, 'o', both);
    refused({ toJSON: 'x', a: 1, constructor: 0 }, '', both);
    accepted({ constructor: 1, toJSON: 0 });
    accepted({ constructor: 1, toJSON: '' });
    accepted({ constructor: 1, a: 1 });
    accepted({ toJSON: 1, a: 1 });
  });

  it('refuses symbol keys at the object, and accessors and hidden properties at the property', () => {
    refused({ o: { [Symbol('s')]: 1 } }, 'o', 'symbol keys would be dropped; use string keys');
    refused({ o: { get g(): number { return 1; } } }, 'o.g', 'an accessor property would be read again when stored: store plain data');
    refused(Object.defineProperty({}, 'h', { value: 1, enumerable: false }), 'h', 'a non-enumerable property would be dropped; make it enumerable or leave it out');
  });
});

describe('assertStorable: unexpected failures while reading', () => {
  function withSetIteration(thrown: unknown, check: () => void): void {
    const iterate = Object.getOwnPropertyDescriptor(Set.prototype, Symbol.iterator)!;
    Object.defineProperty(Set.prototype, Symbol.iterator, { ...iterate, value: () => { throw thrown; } });
    try { check(); } finally { Object.defineProperty(Set.prototype, Symbol.iterator, iterate); }
  }
  const wrapped = (path: string, message: string, cause: unknown) => (err: unknown): boolean => {
    assert.ok(err instanceof NotSerializableError, String(err));
    assert.equal(err.path, path);
    assert.equal(err.key, 'k');
    assert.equal(err.message, message);
    assert.equal(err.cause, cause);
    return true;
  };

  it('reports a RangeError (the stack running out) as nested too deeply, keeping it as the cause', () => {
    const overflow = new RangeError('Maximum call stack size exceeded');
    withSetIteration(overflow, () => assert.throws(() => assertStorable({ a: new Set([1]) }, 'k'), wrapped('a', 'value at a: nested too deeply to store', overflow)));
  });

  it('reports any other throw with its message, or the thrown value itself when it is no Error', () => {
    const boom = new TypeError('patched');
    withSetIteration(boom, () => assert.throws(() => assertStorable([new Set([1])], 'k'), wrapped('[0]', 'value at [0]: reading it threw: patched', boom)));
    withSetIteration('nope', () => assert.throws(() => assertStorable(new Set([1]), 'k'), wrapped('', 'value: reading it threw: nope', 'nope')));
  });
});

describe('plainKind', () => {
  it('classifies the kinds of plain data', () => {
    const kinds: Array<[unknown, string]> = [[[1], 'array'], [{}, 'object'], [new Map(), 'map'], [new Set(), 'set'], [new Date(0), 'date'], [/a/g, 'regexp'], [Buffer.alloc(1), 'bytes'], [new Float32Array(1), 'bytes']];
    for (const [value, kind] of kinds) assert.equal(plainKind(value as object, '', fail), kind);
  });

  it('accepts every kind of typed array and Buffer, short or long, whole or over part of a buffer', () => {
    const ctors = [Uint8Array, Int8Array, Uint8ClampedArray, Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array];
    for (const ctor of ctors) {
      for (const length of [0, 1, 64, 65, 300]) accepted(new ctor(new ArrayBuffer(8 * (length + 2)), 8, length));
    }
    for (const length of [0, 64, 65, 300]) accepted(Buffer.alloc(length + 20).subarray(10, 10 + length));
  });

  it('refuses builtins with another prototype, and look-alikes that only inherit from one', () => {
    refused(withProto([1], null), '', 'array subclasses (and arrays with another prototype) would come back as a plain array; store a plain array');
    refused(new (class Registry extends Map {})(), '', 'Map subclasses (and Maps with another prototype) would come back as a plain Map; store a plain Map');
    refused(withProto(new Set(), null), '', 'Set subclasses (and Sets with another prototype) would come back as a plain Set; store a plain Set');
    refused(withProto(new Date(0), Object.prototype), '', 'Date subclasses (and Dates with another prototype) would come back as a plain Date; store a plain Date');
    for (const [name, proto] of [['Map', Map.prototype], ['Set', Set.prototype], ['Date', Date.prototype], ['RegExp', RegExp.prototype]] as const) {
      const reason = `an object that inherits from ${name} without being one cannot be stored; store plain data`;
      refused({ x: Object.create(proto) as unknown }, 'x', reason);
      refused(Object.create(Object.create(proto) as object) as unknown, '', reason);
    }
    refused(new DataView(new ArrayBuffer(2)), '', 'a DataView cannot be stored; use a Uint8Array or Buffer');
    refused(withProto(new Uint8Array(1), Object.prototype), '', BYTES_SUBCLASS);
    refused(withProto(Buffer.from([1]), null), '', BYTES_SUBCLASS);
  });

  it('refuses each builtin msgpackr would not keep even when given a plain prototype', () => {
    const internals: unknown[] = [new Number(1), new String('s'), new Boolean(true), Object(1n), new Error('e'), Promise.resolve(1), new WeakMap(), new WeakSet(), new ArrayBuffer(1), new SharedArrayBuffer(1)];
    for (const value of internals) refused({ v: withProto(value as object, Object.prototype) }, 'v', 'a builtin object given a plain prototype would come back as a plain object; store plain data');
    accepted(Object.create(Object.prototype));
  });

  it('names the class of an instance from a constructor declared as data, falling back to "a class"', () => {
    class Point {}
    refused(new Point(), '', `an instance of Point ${PLAIN}`);
    refused(new TypeError('t'), '', `an instance of TypeError ${PLAIN}`);
    refused(Object.create(Object.create(Point.prototype) as object), '', `an instance of Point ${PLAIN}`);
    refused(Object.create(null), '', `a null-prototype object ${PLAIN}`);
    const Anonymous = (() => class {})();
    refused(new Anonymous(), '', `an instance of a class ${PLAIN}`);
    class Numbered {}
    Object.defineProperty(Numbered, 'name', { value: 42 });
    refused(new Numbered(), '', `an instance of a class ${PLAIN}`);
    refused(Object.create({ constructor: { name: 'Fake' } }), '', `an instance of a class ${PLAIN}`);
    refused(Object.create(Object.create(null) as object), '', `an instance of a class ${PLAIN}`);
    class Nameless {}
    Reflect.deleteProperty(Nameless, 'name');
    refused(new Nameless(), '', `an instance of a class ${PLAIN}`);
  });

  it('refuses a Proxy, and runs no trap of one met as the value, a prototype or a constructor', () => {
    let trapped = 0;
    const counting = <T extends object>(target: T): T => new Proxy(target, {
      getPrototypeOf: (t) => { trapped++; return Reflect.getPrototypeOf(t); },
      getOwnPropertyDescriptor: (t, k) => { trapped++; return Reflect.getOwnPropertyDescriptor(t, k); },
      ownKeys: (t) => { trapped++; return Reflect.ownKeys(t); },
      get: (t, k) => { trapped++; return Reflect.get(t, k) as unknown; },
    });
    for (const target of [{ a: 1 }, [1], new Map()]) refused({ p: counting(target) }, 'p', PROXY);
    refused(Object.create(counting(Object.create(Date.prototype) as object)), '', `an instance of a class ${PLAIN}`);
    refused(Object.create({ constructor: counting(function Named(): void {}) }), '', `an instance of a class ${PLAIN}`);
    assert.equal(trapped, 0);
  });
});

describe('plainKind: own properties of builtins', () => {
  it('refuses any own property of a Map, Set or RegExp, a symbol one by its description, even lastIndex on a Map', () => {
    refused(Object.assign(new Map(), { lastIndex: 0 }), '', 'its own property "lastIndex" would be dropped: a Map keeps only its contents; store the extra data next to it');
    refused(Object.assign(new Set(), { [Symbol('tag')]: 1 }), '', 'its own property Symbol(tag) would be dropped: a Set keeps only its contents; store the extra data next to it');
    refused(Object.assign(/a/, { note: 1 }), '', 'its own property "note" would be dropped: a RegExp keeps only its contents; store the extra data next to it');
  });

  it('accepts a RegExp only with lastIndex 0', () => {
    accepted(/a/g);
    const re = /a/g;
    re.lastIndex = 1;
    refused({ re }, 're', 'a RegExp comes back with lastIndex 0; reset lastIndex before storing it');
  });

  it('names an extra property of an array or typed array up to 64 elements, and refuses it as a whole past that', () => {
    for (const length of [0, 1, 64]) {
      refused(Object.assign(new Array<number>(length).fill(1), { x: 1 }), '', extra('x'));
      refused(Object.assign(new Uint8Array(length), { x: 1 }), '', extra('x'));
      refused(Object.assign(Buffer.alloc(length), { [Symbol('s')]: 1 }), '', 'its own property Symbol(s) would be dropped; store the extra data next to it');
    }
    for (const length of [65, 1_000]) {
      refused(Object.assign(new Array<number>(length).fill(1), { x: 1 }), '', WHOLE);
      refused(Object.assign(new Uint16Array(length), { x: 1 }), '', WHOLE);
    }
    for (const length of [0, 1, 64, 65, 1_000]) accepted(Array.from({ length }, (_, i) => i));
  });

  it('refuses a hidden property of a long array or typed array', () => {
    for (const long of [new Array<number>(100).fill(0), new Int32Array(100), Buffer.alloc(100)]) refused(Object.defineProperty(long, 'h', { value: 1, enumerable: false }), '', WHOLE);
  });

  it('compares a long Buffer with its twin without any deprecated Buffer constructor', async () => {
    const warnings: Error[] = [];
    const listen = (warning: Error): void => { warnings.push(warning); };
    process.on('warning', listen);
    try {
      accepted(Buffer.alloc(300).subarray(10, 210));
      // Warnings are emitted on the next tick: a macrotask later every one is in.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listen);
    }
    assert.deepEqual(warnings.map((w) => w.message), []);
  });

  it('refuses a long array with an accessor property without running it', () => {
    let ran = 0;
    const list = Object.defineProperty(Array.from({ length: 100 }, (_, i) => i), 'g', { get: () => ++ran, enumerable: true });
    refused(list, '', WHOLE);
    assert.equal(ran, 0);
  });

  it('sees the extra properties of a long array even when arrays inspect themselves differently', () => {
    const custom = Object.getOwnPropertyDescriptor(Array.prototype, inspect.custom);
    Object.defineProperty(Array.prototype, inspect.custom, { value: () => 'an array', configurable: true, writable: true });
    try {
      refused(Object.assign(new Array<number>(100).fill(0), { x: 1 }), '', WHOLE);
    } finally {
      if (custom === undefined) delete (Array.prototype as unknown as Record<symbol, unknown>)[inspect.custom];
      else Object.defineProperty(Array.prototype, inspect.custom, custom);
    }
  });

  // msgpackr encodes a typed array by its prototype's constructor: a Uint8Array holding 200 given
  // Int8Array's prototype would come back as an Int8Array holding -56.
  it('refuses a typed array given the prototype of another kind of typed array', () => {
    refused(withProto(new Uint8Array([200]), Int8Array.prototype), '', BYTES_SUBCLASS);
    refused(withProto(new Float64Array([1.5]), Uint8Array.prototype), '', BYTES_SUBCLASS);
  });
});

describe('arrayElement and plainEntries', () => {
  it('arrayElement gives the element, HOLE for a hole, and refuses an accessor at its index', () => {
    const list = [undefined, 'b', , 'd'];
    assert.equal(arrayElement(list, 0, 'tags', fail), undefined);
    assert.equal(arrayElement(list, 1, 'tags', fail), 'b');
    assert.equal(arrayElement(list, 2, 'tags', fail), HOLE);
    assert.equal(arrayElement(list, 4, 'tags', fail), HOLE);
    const getter = Object.defineProperty([0], 0, { get: () => 1 });
    assert.throws(() => arrayElement(getter, 0, 'tags', fail), (err: unknown) => err instanceof NotSerializableError && err.path === 'tags[0]' && /accessor property/.test(err.message));
  });

  it('plainEntries gives own properties in order as [name, value] and names a property under its path', () => {
    const nested = { n: 1 };
    assert.deepEqual(plainEntries({ b: 1, a: nested, 0: 'z' }, 'o', fail), [['0', 'z'], ['b', 1], ['a', nested]]);
    assert.deepEqual(plainEntries({}, '', fail), []);
    assert.throws(() => plainEntries({ get g(): number { return 1; } }, 'o', fail), (err: unknown) => err instanceof NotSerializableError && err.path === 'o.g');
    assert.throws(() => plainEntries(Object.defineProperty({}, 'h', { value: 1 }), '', fail), (err: unknown) => err instanceof NotSerializableError && err.path === 'h');
    assert.throws(() => plainEntries({ [Symbol('s')]: 1 }, 'o', fail), (err: unknown) => err instanceof NotSerializableError && err.path === 'o' && /symbol keys/.test(err.message));
  });
});
