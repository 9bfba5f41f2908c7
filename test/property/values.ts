import fc from 'fast-check';

/** Strings with a lone surrogate: UTF-8 cannot carry them, so a tier must refuse or keep them. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Object keys that are special somewhere in JavaScript. */
export const awkwardKey = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
  { weight: 2, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '', '0', 'length') },
);

/** Scalars and binary leaves, with the edge cases a codec gets wrong. */
export const leaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('\uD800', 'a\uDFFFb', '\uDBFF\uDFFF', '𝄞'),
  fc.double(),
  fc.integer(),
  fc.constantFrom(-0, 0, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53, -(2 ** 53)),
  fc.bigInt({ min: -(1n << 200n), max: 1n << 200n }),
  fc.constantFrom(1n << 64n, -(1n << 64n) - 1n, 1n << 63n, -(1n << 63n) - 1n, 0n),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date({ noInvalidDate: true }),
  fc.uint8Array({ maxLength: 12 }).map((bytes) => Buffer.from(bytes)),
  fc.uint8Array({ maxLength: 12 }),
  fc.int32Array({ maxLength: 4 }),
  fc.float64Array({ maxLength: 4 }),
);

/** An object that owns a real "__proto__" key, as JSON.parse builds it. */
export function withOwnProto(inner: unknown): Record<string, unknown> {
  const parsed = JSON.parse('{"__proto__": {"polluted": "yes"}, "ok": 1}') as Record<string, unknown>;
  Object.defineProperty(parsed, '__proto__', { value: inner, enumerable: true, writable: true, configurable: true });
  return parsed;
}

const tree = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown>; map: Map<unknown, unknown>; set: Set<unknown>; proto: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object'), tie('map'), tie('set'), tie('proto')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(awkwardKey, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  map: fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((pairs) => new Map(pairs)),
  set: fc.array(tie('value'), { maxLength: 3 }).map((items) => new Set(items)),
  proto: fc.oneof(
    tie('value').map(withOwnProto),
    fc.constant(JSON.parse('{"__proto__": {"isAdmin": true}}') as unknown),
    fc.constant(JSON.parse('{"a": {"__proto__": {"polluted": 1}}}') as unknown),
  ),
}));

/**
 * Values of every kind a cache user stores: scalars incl. -0, NaN and bigints over 64 bits,
 * Date, Map, Set, Buffer and typed arrays, nested objects with awkward and `__proto__` keys.
 */
export const storableCandidate: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: tree.value },
  {
    weight: 1,
    arbitrary: fc.object({
      key: awkwardKey,
      values: [leaf],
      maxDepth: 3,
      maxKeys: 4,
      withNullPrototype: false,
      withMap: true,
      withSet: true,
      withBigInt: true,
      withTypedArray: true,
    }),
  },
);

/**
 * True when a value holds something no codec keeps exactly: `-0`, a string or key with a lone
 * surrogate, an own `__proto__` key, a null-prototype object. Such a value may be refused; any
 * other generated value must come back unchanged.
 */
export function mayBeRefused(value: unknown, seen = new Set<object>()): boolean {
  if (typeof value === 'number') return Object.is(value, -0);
  if (typeof value === 'string') return LONE_SURROGATE.test(value);
  if (typeof value !== 'object' || value === null) return false;
  if (seen.has(value)) return true;
  if (value instanceof Date || ArrayBuffer.isView(value)) return false;
  seen.add(value);
  let result: boolean;
  if (Array.isArray(value)) result = value.some((v) => mayBeRefused(v, seen));
  else if (value instanceof Map) result = [...value].some(([k, v]) => mayBeRefused(k, seen) || mayBeRefused(v, seen));
  else if (value instanceof Set) result = [...value].some((v) => mayBeRefused(v, seen));
  else if (Object.getPrototypeOf(value) !== Object.prototype) result = true;
  else {
    result = Object.keys(value).some((k) => k === '__proto__' || LONE_SURROGATE.test(k) || mayBeRefused((value as Record<string, unknown>)[k], seen));
  }
  seen.delete(value);
  return result;
}

/** A snapshot of Object.prototype, to prove no stored or read value polluted it. */
export function prototypeSnapshot(): string {
  const names = Object.getOwnPropertyNames(Object.prototype).sort();
  return JSON.stringify(names) + String(({} as Record<string, unknown>)['polluted']) + String(({} as Record<string, unknown>)['isAdmin']);
}

/** Where a part can sit inside a plain value. */
export type Slot = 'array' | 'object' | 'map key' | 'map value' | 'set';

/**
 * `part` placed inside containers, outermost first, each holding a plain sibling before it; and
 * the path of what inside it is refused (without its leading dot when `bare`).
 */
export function embedded(part: unknown, inside: string, slots: readonly Slot[], siblings: readonly unknown[], bare = false): [unknown, string] {
  let value = part;
  let path = inside === '' ? '' : `.${inside}`;
  for (let i = slots.length - 1; i >= 0; i--) {
    const other = siblings[i % Math.max(1, siblings.length)] ?? 0;
    switch (slots[i]!) {
      case 'array': value = [other, value]; path = `[1]${path}`; break;
      case 'object': value = { a: other, x: value }; path = `.x${path}`; break;
      case 'map key': value = new Map([[other, 0], [value, 1]]); path = `<key 1>${path}`; break;
      case 'map value': value = new Map([['s', other], ['k', value]]); path = `<value 1>${path}`; break;
      case 'set': value = new Set([other, value]); path = `<1>${path}`; break;
    }
  }
  return [value, bare && path.startsWith('.') ? path.slice(1) : path];
}
