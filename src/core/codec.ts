import { Packr } from 'msgpackr';

/**
 * msgpackr settings every tier uses: `moreTypes` so that Set, RegExp, typed arrays and large
 * bigints survive the trip (objects travel as records, so a Map stays a Map).
 *
 * @example
 * ```ts
 * open({ path, encoder: { ...MSGPACK_OPTIONS } });
 * ```
 */
export const MSGPACK_OPTIONS = { moreTypes: true } as const;

const packr = new Packr({ ...MSGPACK_OPTIONS });

/**
 * A deep copy made by encoding and decoding, so that the memory tier returns exactly what a
 * shared tier would, and a caller mutating its object after `set` cannot change the cache.
 *
 * @example
 * ```ts
 * const copy = encodeCopy({ a: [1, 2] }); // { value: { a: [1, 2] }, bytes: 7 }
 * ```
 */
export function encodeCopy<T>(value: T): { value: T; bytes: number } {
  const buf = packr.pack(value);
  return { value: packr.unpack(buf) as T, bytes: buf.length };
}

/**
 * The encoded size of a value in bytes, for byte-bounded tiers.
 *
 * @example
 * ```ts
 * encodedSize('hello'); // 6
 * ```
 */
export function encodedSize(value: unknown): number {
  return packr.pack(value).length;
}
