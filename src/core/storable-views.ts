// The parts of the storable check that look at arrays and typed arrays as views: their named
// properties besides the elements, their real kind, and their length, all read without running a
// getter the value may shadow them with (see storable.ts).
import { inspect } from 'node:util';
import type { Refuse } from './storable.js';

/** Below this length listing an indexed object's own keys is cheaper than inspecting it. */
const LIST_KEYS_UP_TO = 64;

/**
 * Refuses own properties of an array or typed array other than its elements (and an array's
 * `length`). Own string keys list indices first, then the others in the order they were made,
 * and an array's `length` is made with it: anything after it, or past a typed array's
 * elements, is extra. Listing them costs a string per index, and fails outright past some
 * millions, so a long one is compared with a twin without properties instead: util.inspect is
 * the one public API that lists an indexed object's named properties, hidden ones included,
 * without its elements.
 *
 * @example
 * ```ts
 * refuseNamedProperties(Object.assign([1], { extra: 2 }), 1, 'tags', fail); // refuses "extra"
 * ```
 */
export function refuseNamedProperties(obj: object, length: number, path: string, refuse: Refuse): void {
  const symbols = Object.getOwnPropertySymbols(obj);
  if (symbols[0] !== undefined) refuse(path, `its own property ${propertyName(symbols[0])} would be dropped; store the extra data next to it`);
  if (length <= LIST_KEYS_UP_TO) {
    const names = Object.getOwnPropertyNames(obj);
    const extra = Array.isArray(obj) ? names.slice(names.indexOf('length') + 1) : names.slice(length);
    if (extra[0] !== undefined) refuse(path, `its own property ${propertyName(extra[0])} would be dropped; store the extra data next to it`);
    return;
  }
  const twin: object = Array.isArray(obj) ? new Array(length) : twinView(obj);
  if (inspect(obj, BARE) !== inspect(twin, BARE)) refuse(path, 'its own properties besides the elements would be dropped; store the extra data next to it');
}

const BARE = { showHidden: true, maxArrayLength: 0, depth: 0, getters: false, customInspect: false, showProxy: false } as const;

/**
 * The prototypes a typed array may have, by its real kind: its own, and Buffer's for a Uint8Array.
 * msgpackr encodes a typed array by its prototype's constructor, so a Uint8Array holding 200 that
 * was given Int8Array's prototype would come back as an Int8Array holding -56.
 */
const TYPED_ARRAY_PROTOTYPES: ReadonlyMap<string, readonly object[]> = new Map(
  [
    Uint8Array, Int8Array, Uint8ClampedArray, Uint16Array, Int16Array,
    Uint32Array, Int32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
  ].map((ctor): [string, readonly object[]] => [ctor.name, ctor === Uint8Array ? [ctor.prototype, Buffer.prototype] : [ctor.prototype]]),
);

// The builtin getters, since a typed array may shadow them with its own properties.
const TYPED_ARRAY_PROTO = Object.getPrototypeOf(Uint8Array.prototype) as object;
function intrinsic(name: string | symbol): (this: object) => unknown {
  const get = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTO, name)?.get;
  if (get === undefined) throw new Error(`TypedArray.prototype.${String(name)} is missing`);
  return get as (this: object) => unknown;
}
/** A typed array's real kind ('Uint8Array', ...), whatever prototype it was given. */
const TYPED_ARRAY_NAME = intrinsic(Symbol.toStringTag);

/**
 * Whether a typed array has the prototype of its own kind (or Buffer's, for a Uint8Array): the
 * only ones that round-trip.
 *
 * @example
 * ```ts
 * const bytes = new Uint8Array([200]);
 * hasOwnKindsPrototype(bytes, Int8Array.prototype); // false: it would come back as -56
 * ```
 */
export function hasOwnKindsPrototype(view: object, proto: unknown): boolean {
  return TYPED_ARRAY_PROTOTYPES.get(TYPED_ARRAY_NAME.call(view) as string)?.includes(proto as object) === true;
}
const LENGTH = intrinsic('length');
const BUFFER = intrinsic('buffer');
const BYTE_OFFSET = intrinsic('byteOffset');

/**
 * A typed array's length, read with the builtin getter (the array may shadow `length`).
 *
 * @example
 * ```ts
 * typedLength(Object.defineProperty(new Uint8Array(3), 'length', { value: 9 })); // 3
 * ```
 */
export function typedLength(view: object): number {
  return LENGTH.call(view) as number;
}

function twinView(view: object): object {
  const buffer = BUFFER.call(view) as ArrayBuffer;
  const offset = BYTE_OFFSET.call(view) as number;
  const length = typedLength(view);
  const proto = Object.getPrototypeOf(view) as object;
  if (proto === Buffer.prototype) return Buffer.from(buffer, offset, length);
  const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as new (buffer: ArrayBuffer, offset: number, length: number) => object;
  return new ctor(buffer, offset, length);
}

/**
 * A property key as an error message names it.
 *
 * @example
 * ```ts
 * propertyName('a b'); // '"a b"'
 * ```
 */
export function propertyName(key: string | symbol): string {
  return typeof key === 'symbol' ? String(key) : JSON.stringify(key);
}
