import { types } from 'node:util';
import { NotSerializableError } from './errors.js';
import { hasOwnKindsPrototype, propertyName, refuseNamedProperties, typedLength } from './storable-views.js';

/**
 * How many levels of arrays, objects, Maps and Sets a value may nest. msgpackr encodes and
 * decodes by recursion, and a nested Set costs it more stack than any other kind: 500 levels of
 * any mix round-trip with room to spare, where a deeper value could overflow the stack halfway
 * through a write.
 *
 * @example
 * ```ts
 * let deep: unknown = 1;
 * for (let i = 0; i < MAX_DEPTH + 1; i++) deep = [deep];
 * assertStorable(deep); // throws NotSerializableError: nested more than 500 levels deep
 * ```
 */
export const MAX_DEPTH = 500;

/**
 * What an object that is plain data is: the kinds that msgpackr (with `moreTypes`) gives back
 * as they went in.
 *
 * @example
 * ```ts
 * plainKind(new Map(), '', fail); // 'map'
 * ```
 */
export type PlainKind = 'array' | 'object' | 'map' | 'set' | 'date' | 'regexp' | 'bytes';

/**
 * Raises the caller's error for a part of a value that is not plain data, `path` naming where.
 *
 * @example
 * ```ts
 * const fail: Refuse = (path, reason) => { throw new NotSerializableError(path, reason); };
 * ```
 */
export type Refuse = (path: string, reason: string) => never;

/**
 * Stands for a hole of a sparse array in what {@link arrayElement} returns.
 *
 * @example
 * ```ts
 * arrayElement([, 1], 0, '', fail) === HOLE; // true
 * ```
 */
export const HOLE: unique symbol = Symbol('hole');

interface Branded { readonly kind: PlainKind; readonly name: string; readonly proto: object }
const MAP: Branded = { kind: 'map', name: 'Map', proto: Map.prototype };
const SET: Branded = { kind: 'set', name: 'Set', proto: Set.prototype };
const DATE: Branded = { kind: 'date', name: 'Date', proto: Date.prototype };
const REGEXP: Branded = { kind: 'regexp', name: 'RegExp', proto: RegExp.prototype };
// Typed arrays are matched against TYPED_ARRAY_PROTOTYPES instead, by their real kind.
const BYTES: Branded = { kind: 'bytes', name: 'typed array', proto: Uint8Array.prototype };
/** The builtins msgpackr tells apart by their prototype's constructor. */
const BRANDED: readonly Branded[] = [MAP, SET, DATE, REGEXP];

const ACCESSOR = 'an accessor property would be read again when stored: store plain data';
const PROXY = 'a Proxy is not plain data: its traps may answer differently each time it is read; store a plain copy';

/**
 * Refuses, with a {@link NotSerializableError} naming the path, any value that msgpackr would
 * drop, alter or fail on in a tier: functions, symbols, Proxies, class instances (boxed
 * primitives, Errors, Promises, subclasses of Array, Map, Set, Date, RegExp, Buffer and typed
 * arrays included), null-prototype objects, cycles, sparse arrays, values nested more than
 * {@link MAX_DEPTH} levels, symbol keys, non-enumerable or accessor (getter/setter)
 * properties, own properties of arrays, Maps, Sets, Dates, RegExps and typed arrays, a RegExp's
 * `lastIndex` other than 0, own `__proto__` keys (msgpackr renames them to keep prototypes safe),
 * an object with both own `constructor` and `toJSON` keys, strings with lone UTF-16 surrogates
 * and `-0` (stored as `0`). Everything else round-trips unchanged. No getter or Proxy trap of
 * the value runs, so what was checked is what gets encoded.
 *
 * @example
 * ```ts
 * assertStorable({ when: new Date(), tags: new Set(['a']) }); // ok
 * assertStorable({ run() {} }); // throws NotSerializableError at 'run'
 * ```
 */
export function assertStorable(value: unknown, key?: string): void {
  const refuse: Refuse = (path, reason) => {
    throw new NotSerializableError(path, reason, key);
  };
  const at = { path: '' };
  try {
    walk(value, '', 1, new Set(), refuse, at);
  } catch (err) {
    if (err instanceof NotSerializableError) throw err;
    // Kept for a stack already deep when the cache is called, and for globals patched to throw.
    const reason = err instanceof RangeError ? 'nested too deeply to store' : `reading it threw: ${err instanceof Error ? err.message : String(err)}`;
    throw withCause(new NotSerializableError(at.path, reason, key), err);
  }
}

function walk(value: unknown, path: string, depth: number, ancestors: Set<object>, refuse: Refuse, at: { path: string }): void {
  at.path = path;
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) refuse(path, 'a lone UTF-16 surrogate would come back as U+FFFD; store well-formed text, or bytes in a Buffer');
      return;
    case 'boolean': case 'bigint': case 'undefined':
      return;
    case 'number':
      if (Object.is(value, -0)) refuse(path, '-0 would be stored as 0; store 0 instead');
      return;
    case 'function':
      refuse(path, types.isProxy(value) ? PROXY : 'functions cannot be stored; store the data they produce');
    case 'symbol':
      refuse(path, 'symbols cannot be stored; store a string instead');
  }
  if (value === null) return;
  const obj = value as object;
  const kind = plainKind(obj, path, refuse);
  if (kind === 'date' || kind === 'regexp' || kind === 'bytes') return;
  if (depth > MAX_DEPTH) refuse(path, `nested more than ${MAX_DEPTH} levels deep; flatten it or store it as a string`);
  if (ancestors.has(obj)) refuse(path, 'the value contains a cycle; store a tree and refer to shared parts by id');
  ancestors.add(obj);
  if (kind === 'array') {
    const array = obj as readonly unknown[];
    for (let i = 0; i < array.length; i++) {
      const item = arrayElement(array, i, path, refuse);
      if (item === HOLE) refuse(`${path}[${i}]`, 'sparse arrays are stored with undefined in the holes; fill them explicitly');
      walk(item, `${path}[${i}]`, depth + 1, ancestors, refuse, at);
    }
  } else if (kind === 'map') {
    let i = 0;
    for (const [k, v] of obj as Map<unknown, unknown>) {
      walk(k, `${path}<key ${i}>`, depth + 1, ancestors, refuse, at);
      walk(v, `${path}<value ${i}>`, depth + 1, ancestors, refuse, at);
      i++;
    }
  } else if (kind === 'set') {
    let i = 0;
    for (const v of obj as Set<unknown>) walk(v, `${path}<${i++}>`, depth + 1, ancestors, refuse, at);
  } else {
    const entries = plainEntries(obj, path, refuse);
    let hasConstructor = false;
    let hasToJSON = false;
    for (const [name, v] of entries) {
      const here = path === '' ? name : `${path}.${name}`;
      if (name === '__proto__') refuse(here, 'an own "__proto__" key would be renamed; use another key');
      if (!name.isWellFormed()) refuse(here, 'a key with a lone UTF-16 surrogate would be altered; use well-formed text');
      // msgpackr trusts an own `constructor`, then calls `toJSON` if it is truthy.
      hasConstructor ||= name === 'constructor';
      hasToJSON ||= name === 'toJSON' && Boolean(v);
      walk(v, here, depth + 1, ancestors, refuse, at);
    }
    if (hasConstructor && hasToJSON) refuse(path, 'an object with both own "constructor" and "toJSON" keys would be encoded by calling toJSON; rename one of them');
  }
  ancestors.delete(obj);
}

/**
 * Classifies an object as one of the {@link PlainKind}s or refuses it, without running any of
 * its code: a Proxy is refused before anything else touches it, builtins must be the real thing
 * (brand and prototype: no subclasses, no look-alikes), and arrays, Maps, Sets, Dates, RegExps
 * and typed arrays must have no own properties that msgpackr would drop. What is inside an
 * array, Map, Set or plain object is left to the caller (see {@link arrayElement} and
 * {@link plainEntries}).
 *
 * @example
 * ```ts
 * plainKind([1, 2], '', fail);             // 'array'
 * plainKind(new (class extends Date {})(), 'at', fail); // fail('at', 'Date subclasses ... would come back as a plain Date ...')
 * ```
 */
export function plainKind(obj: object, path: string, refuse: Refuse): PlainKind {
  if (types.isProxy(obj)) refuse(path, PROXY);
  const proto: unknown = Object.getPrototypeOf(obj);
  if (Array.isArray(obj)) {
    if (proto !== Array.prototype) refuse(path, 'array subclasses (and arrays with another prototype) would come back as a plain array; store a plain array');
    refuseNamedProperties(obj, obj.length, path, refuse);
    return 'array';
  }
  if (ArrayBuffer.isView(obj) && !types.isTypedArray(obj)) refuse(path, 'a DataView cannot be stored; use a Uint8Array or Buffer');
  const builtin = brandOf(obj);
  if (builtin === undefined) {
    if (proto === Object.prototype) {
      if (hasOtherInternals(obj)) refuse(path, 'a builtin object given a plain prototype would come back as a plain object; store plain data');
      return 'object';
    }
    const lookalike = BRANDED.find((b) => inherits(proto, b.proto));
    if (lookalike !== undefined) refuse(path, `an object that inherits from ${lookalike.name} without being one cannot be stored; store plain data`);
    const kind = proto === null ? 'a null-prototype object' : `an instance of ${constructorName(proto)}`;
    return refuse(path, `${kind} would come back as a plain object; store plain data`);
  }
  if (builtin.kind === 'bytes') {
    if (!hasOwnKindsPrototype(obj, proto)) {
      refuse(path, 'subclasses of Buffer and typed arrays (and ones with another prototype) cannot be stored; use a Uint8Array or Buffer');
    }
    refuseNamedProperties(obj, typedLength(obj), path, refuse);
    return 'bytes';
  }
  if (proto !== builtin.proto) refuse(path, `${builtin.name} subclasses (and ${builtin.name}s with another prototype) would come back as a plain ${builtin.name}; store a plain ${builtin.name}`);
  const extra = Reflect.ownKeys(obj).find((k) => !(builtin.kind === 'regexp' && k === 'lastIndex'));
  if (extra !== undefined) refuse(path, `its own property ${propertyName(extra)} would be dropped: a ${builtin.name} keeps only its contents; store the extra data next to it`);
  if (builtin.kind === 'regexp' && (Object.getOwnPropertyDescriptor(obj, 'lastIndex')?.value as unknown) !== 0) {
    refuse(path, 'a RegExp comes back with lastIndex 0; reset lastIndex before storing it');
  }
  return builtin.kind;
}

function brandOf(obj: object): Branded | undefined {
  if (types.isTypedArray(obj)) return BYTES;
  if (types.isMap(obj)) return MAP;
  if (types.isSet(obj)) return SET;
  if (types.isDate(obj)) return DATE;
  if (types.isRegExp(obj)) return REGEXP;
  return undefined;
}

/** Builtins msgpackr does not keep: with a plain prototype they would pass for plain objects. */
function hasOtherInternals(obj: object): boolean {
  return types.isBoxedPrimitive(obj) || types.isNativeError(obj) || types.isPromise(obj) || types.isWeakMap(obj) || types.isWeakSet(obj) || types.isAnyArrayBuffer(obj);
}

/**
 * Element `i` of an array that {@link plainKind} accepted, read from its descriptor so that no
 * getter runs; {@link HOLE} where the array has none, and a refusal for an accessor.
 *
 * @example
 * ```ts
 * arrayElement(['a'], 0, 'tags', fail); // 'a'
 * ```
 */
export function arrayElement(array: readonly unknown[], i: number, path: string, refuse: Refuse): unknown {
  const desc = Object.getOwnPropertyDescriptor(array, i);
  if (desc === undefined) return HOLE;
  if (!('value' in desc)) refuse(`${path}[${i}]`, ACCESSOR);
  return desc.value;
}

/**
 * The own properties of a plain object as [name, value] pairs, read from their descriptors so
 * that no getter runs. Refuses what msgpackr would drop or read again: symbol keys,
 * non-enumerable properties and accessors (getters/setters).
 *
 * @example
 * ```ts
 * plainEntries({ a: 1 }, '', fail); // [['a', 1]]
 * ```
 */
export function plainEntries(obj: object, path: string, refuse: Refuse): Array<[string, unknown]> {
  if (Object.getOwnPropertySymbols(obj).length > 0) refuse(path, 'symbol keys would be dropped; use string keys');
  const entries: Array<[string, unknown]> = [];
  for (const name of Object.getOwnPropertyNames(obj)) {
    const desc = Object.getOwnPropertyDescriptor(obj, name);
    const here = path === '' ? name : `${path}.${name}`;
    if (desc === undefined) continue;
    if (!('value' in desc)) refuse(here, ACCESSOR);
    if (desc.enumerable !== true) refuse(here, 'a non-enumerable property would be dropped; make it enumerable or leave it out');
    entries.push([name, desc.value]);
  }
  return entries;
}

/** Whether `proto` or a prototype it inherits from is `target`, stopping at a Proxy so that no trap runs. */
function inherits(proto: unknown, target: object): boolean {
  for (let p = proto; typeof p === 'object' && p !== null && !types.isProxy(p); p = Object.getPrototypeOf(p)) {
    if (p === target) return true;
  }
  return false;
}


/** The name of the constructor a prototype declares as a data property, so that no getter runs. */
function constructorName(proto: unknown): string {
  for (let p = proto; typeof p === 'object' && p !== null && !types.isProxy(p); p = Object.getPrototypeOf(p)) {
    const desc = Object.getOwnPropertyDescriptor(p, 'constructor');
    if (desc === undefined) continue;
    const ctor: unknown = desc.value;
    if (typeof ctor !== 'function' || types.isProxy(ctor)) break;
    const name = Object.getOwnPropertyDescriptor(ctor, 'name')?.value as unknown;
    return typeof name === 'string' && name !== '' ? name : 'a class';
  }
  return 'a class';
}

/**
 * Keeps the error that made a value unreadable as `cause`, as `new Error(msg, { cause })` would.
 *
 * @example
 * ```ts
 * throw withCause(new NotSerializableError('a', 'reading it threw'), err);
 * ```
 */
export function withCause<E extends Error>(error: E, cause: unknown): E {
  Object.defineProperty(error, 'cause', { value: cause, writable: true, configurable: true, enumerable: false });
  return error;
}
