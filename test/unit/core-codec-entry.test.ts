// The codec's copies, sizes and refusals, the decoder that gives Buffers back as Buffers, the
// entry record's timing boundaries and shape check, and how a cause is attached to an error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { encodeCopy, encodedSize, MSGPACK_OPTIONS } from '../../src/core/codec.js';
import { isEntryRecord, isFresh, isServable, makeEntry, type CacheEntry } from '../../src/core/entry.js';
import { NotSerializableError } from '../../src/core/errors.js';
import { withCause } from '../../src/core/storable.js';

describe('encodeCopy and encodedSize', () => {
  it('give a deep copy equal to the value, and its encoded size', () => {
    const value = { a: [1, 2], m: new Map([['k', { n: 1 }]]) };
    const copy = encodeCopy(value);
    assert.deepEqual(copy.value, value);
    assert.notEqual(copy.value, value);
    assert.notEqual(copy.value.a, value.a);
    assert.notEqual(copy.value.m.get('k'), value.m.get('k'));
    assert.equal(copy.bytes, encodedSize(value));
    assert.equal(encodeCopy('hello').bytes, 6);
    assert.equal(encodedSize('hello'), 6);
    assert.equal(encodedSize(null), 1);
    assert.equal(encodedSize('x'.repeat(100)), 102);
  });

  it('keep Sets, RegExps, typed arrays, Buffers and large bigints as they were', () => {
    const values: unknown[] = [new Set([1, 'a']), /a+b/giu, new Uint16Array([1, 65_535]), new Float64Array([1.5]), Buffer.from([1, 2, 3]), 2n ** 70n, -(2n ** 100n), new Date(5)];
    for (const value of values) {
      const back = encodeCopy(value).value;
      assert.deepStrictEqual(back, value);
      assert.equal(Object.getPrototypeOf(back), Object.getPrototypeOf(value));
    }
  });

  it('refuse what msgpackr cannot encode with NotSerializableError at the whole value, keeping what it threw', () => {
    const boom = new Error('toJSON failed');
    const thrower = { constructor: 1, toJSON(): never { throw boom; } };
    assert.throws(() => encodeCopy(thrower), (err: unknown) => {
      assert.ok(err instanceof NotSerializableError, String(err));
      assert.equal(err.code, 'E_NOT_SERIALIZABLE');
      assert.equal(err.path, '');
      assert.equal(err.key, undefined);
      assert.equal(err.message, 'value: msgpackr could not encode it: toJSON failed');
      assert.equal(err.cause, boom);
      return true;
    });
    const odd = { constructor: 1, toJSON(): never { throw 'not an error'; } };
    assert.throws(() => encodedSize(odd), (err: unknown) => {
      assert.ok(err instanceof NotSerializableError, String(err));
      assert.equal(err.message, 'value: msgpackr could not encode it: not an error');
      assert.equal(err.cause, 'not an error');
      return true;
    });
  });
});

describe('MSGPACK_OPTIONS', () => {
  const packr = new Packr({ ...MSGPACK_OPTIONS });

  it('decode a Buffer as a Buffer from a plain Uint8Array too, even one over part of a larger buffer', () => {
    const encoded = packr.pack({ b: Buffer.from([7, 8, 9]) });
    const backing = new Uint8Array(encoded.length + 10);
    backing.set(encoded, 4);
    for (const source of [new Uint8Array(encoded), backing.subarray(4, 4 + encoded.length), encoded]) {
      const { b } = packr.unpack(source) as { b: unknown };
      assert.ok(Buffer.isBuffer(b), `${Object.prototype.toString.call(source)}: came back as ${Object.prototype.toString.call(b)}`);
      assert.deepEqual([...b], [7, 8, 9]);
    }
  });

  it('keep a Set a Set through any Packr made from them', () => {
    const back = packr.unpack(packr.pack(new Set([1]))) as unknown;
    assert.ok(back instanceof Set);
    assert.equal(MSGPACK_OPTIONS.moreTypes, true);
  });
});

describe('the entry record', () => {
  const entry: CacheEntry<string> = { value: 'v', storedAt: 0, freshUntil: 10, staleUntil: 50, delta: 3 };

  it('is fresh strictly before freshUntil, and servable strictly before staleUntil', () => {
    assert.equal(isFresh(entry, 9), true);
    assert.equal(isFresh(entry, 10), false);
    assert.equal(isFresh(entry, 11), false);
    assert.equal(isServable(entry, 49), true);
    assert.equal(isServable(entry, 50), false);
    assert.equal(isServable(entry, 51), false);
    assert.equal(isServable(entry, 10), true);
  });

  it('makeEntry adds ttl and maxAge to now, keeping staleUntil no earlier than freshUntil', () => {
    assert.deepStrictEqual(makeEntry('v', 1_000, 100, 500, 12), { value: 'v', storedAt: 1_000, freshUntil: 1_100, staleUntil: 1_500, delta: 12 });
    assert.deepStrictEqual(makeEntry(null, 1_000, 100, 40, 0), { value: null, storedAt: 1_000, freshUntil: 1_100, staleUntil: 1_100, delta: 0 });
    assert.deepStrictEqual(makeEntry(1, 0, 100, 100, 0), { value: 1, storedAt: 0, freshUntil: 100, staleUntil: 100, delta: 0 });
  });

  it('isEntryRecord accepts the full shape, an undefined value and freshUntil equal to staleUntil', () => {
    assert.equal(isEntryRecord(entry), true);
    assert.equal(isEntryRecord({ ...entry, value: undefined }), true);
    assert.equal(isEntryRecord({ ...entry, staleUntil: 10 }), true);
    assert.equal(isEntryRecord(makeEntry({ a: 1 }, 5, 1, 2, 0)), true);
  });

  it('isEntryRecord refuses anything else: no object, no value, a time that is no number, or staleUntil before freshUntil', () => {
    for (const record of [null, undefined, 'entry', 5, true]) assert.equal(isEntryRecord(record), false, String(record));
    const { value: _value, ...withoutValue } = entry;
    assert.equal(isEntryRecord(withoutValue), false, 'without value');
    for (const field of ['storedAt', 'freshUntil', 'staleUntil', 'delta'] as const) {
      assert.equal(isEntryRecord({ ...entry, [field]: String(entry[field]) }), false, `${field} as a string`);
      const { [field]: _dropped, ...rest } = entry;
      assert.equal(isEntryRecord(rest), false, `without ${field}`);
    }
    assert.equal(isEntryRecord({ ...entry, staleUntil: 9 }), false);
    assert.equal(isEntryRecord([]), false);
  });
});

describe('withCause', () => {
  it('attaches the cause as Error does: a hidden, writable, configurable property of the same error', () => {
    const error = new NotSerializableError('a', 'reading it threw');
    const cause = new RangeError('deep');
    assert.equal(withCause(error, cause), error);
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(error, 'cause'), { value: cause, writable: true, enumerable: false, configurable: true });
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(error, 'cause'), Object.getOwnPropertyDescriptor(new Error('m', { cause }), 'cause'));
    assert.equal(Object.keys(error).includes('cause'), false);
  });
});
