import { NotSerializableError } from './errors.js';

const TYPED_ARRAYS: ReadonlySet<unknown> = new Set([
  Uint8Array, Int8Array, Uint8ClampedArray, Uint16Array, Int16Array,
  Uint32Array, Int32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
]);

/**
 * Refuses, with a {@link NotSerializableError} naming the path, any value that msgpackr would
 * drop or alter on its way through a tier: functions, symbols, class instances, null-prototype
 * objects, cycles, sparse arrays, symbol keys, own `__proto__` keys (msgpackr renames them to
 * keep prototypes safe), strings with lone UTF-16 surrogates and `-0` (stored as `0`). Everything else round-trips unchanged.
 *
 * @example
 * ```ts
 * assertStorable({ when: new Date(), tags: new Set(['a']) }); // ok
 * assertStorable({ run() {} }); // throws NotSerializableError at 'run'
 * ```
 */
export function assertStorable(value: unknown, key?: string): void {
  try {
    walk(value, '', new Set(), key);
  } catch (err) {
    if (err instanceof RangeError) throw new NotSerializableError('', 'nested too deeply to store', key);
    throw err;
  }
}

function walk(value: unknown, path: string, ancestors: Set<object>, key: string | undefined): void {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw new NotSerializableError(path, 'a lone UTF-16 surrogate would come back as U+FFFD; store well-formed text, or bytes in a Buffer', key);
      return;
    case 'boolean': case 'bigint': case 'undefined':
      return;
    case 'number':
      if (Object.is(value, -0)) throw new NotSerializableError(path, '-0 would be stored as 0; store 0 instead', key);
      return;
    case 'function':
      throw new NotSerializableError(path, 'functions cannot be stored; store the data they produce', key);
    case 'symbol':
      throw new NotSerializableError(path, 'symbols cannot be stored; store a string instead', key);
  }
  if (value === null) return;
  const obj = value as object;
  if (obj instanceof Date || obj instanceof RegExp) return;
  if (ArrayBuffer.isView(obj)) {
    // Buffer is a Uint8Array subclass that msgpackr gives back as a Buffer.
    if (TYPED_ARRAYS.has(obj.constructor) || Buffer.isBuffer(obj)) return;
    throw new NotSerializableError(path, `${obj.constructor.name} cannot be stored; use a Uint8Array or Buffer`, key);
  }
  if (ancestors.has(obj)) throw new NotSerializableError(path, 'the value contains a cycle; store a tree and refer to shared parts by id', key);
  ancestors.add(obj);
  const proto: unknown = Object.getPrototypeOf(obj);
  if (Array.isArray(obj)) {
    if (proto !== Array.prototype) throw new NotSerializableError(path, 'array subclasses cannot be stored', key);
    for (let i = 0; i < obj.length; i++) {
      if (!(i in obj)) throw new NotSerializableError(`${path}[${i}]`, 'sparse arrays are stored with undefined in the holes; fill them explicitly', key);
      walk(obj[i], `${path}[${i}]`, ancestors, key);
    }
  } else if (obj instanceof Map) {
    if (proto !== Map.prototype) throw new NotSerializableError(path, 'Map subclasses cannot be stored', key);
    let i = 0;
    for (const [k, v] of obj) {
      walk(k, `${path}<key ${i}>`, ancestors, key);
      walk(v, `${path}<value ${i}>`, ancestors, key);
      i++;
    }
  } else if (obj instanceof Set) {
    if (proto !== Set.prototype) throw new NotSerializableError(path, 'Set subclasses cannot be stored', key);
    let i = 0;
    for (const v of obj) walk(v, `${path}<${i++}>`, ancestors, key);
  } else if (proto === Object.prototype) {
    if (Object.getOwnPropertySymbols(obj).length > 0) throw new NotSerializableError(path, 'symbol keys would be dropped; use string keys', key);
    for (const name of Object.keys(obj)) {
      const at = path === '' ? name : `${path}.${name}`;
      if (name === '__proto__') throw new NotSerializableError(at, 'an own "__proto__" key would be renamed; use another key', key);
      if (!name.isWellFormed()) throw new NotSerializableError(at, 'a key with a lone UTF-16 surrogate would be altered; use well-formed text', key);
      walk((obj as Record<string, unknown>)[name], at, ancestors, key);
    }
  } else {
    const kind = proto === null ? 'a null-prototype object' : `an instance of ${constructorName(obj)}`;
    throw new NotSerializableError(path, `${kind} would come back as a plain object; store plain data`, key);
  }
  ancestors.delete(obj);
}

function constructorName(obj: object): string {
  const ctor: unknown = (obj as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name !== '' ? ctor.name : 'a class';
}
