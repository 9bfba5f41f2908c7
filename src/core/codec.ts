import { Packr, Unpackr, type UnpackOptions } from 'msgpackr';
import { NotSerializableError } from './errors.js';
import { withCause } from './storable.js';

/**
 * Decodes as msgpackr does, from a Buffer view of the same bytes. msgpackr gives binaries back
 * as slices of what it decodes from, so they are Buffers only when that is a Buffer; lmdb-js
 * hands it a plain Uint8Array over its memory map for a record of 16 MiB or more, and a Buffer
 * stored in one would come back as a Uint8Array. Set as an instance property through the
 * options, which msgpackr copies onto every Packr made from them, lmdb-js's included.
 */
function unpackFromBuffer(this: Unpackr, source: Buffer | Uint8Array, options?: UnpackOptions): unknown {
  const bytes = Buffer.isBuffer(source) || !(source instanceof Uint8Array) ? source : Buffer.from(source.buffer, source.byteOffset, source.length);
  return Unpackr.prototype.unpack.call(this, bytes, options) as unknown;
}

/**
 * msgpackr settings every tier uses: `moreTypes` so that Set, RegExp, typed arrays and large
 * bigints survive the trip (objects travel as records, so a Map stays a Map), and a decoder that
 * gives a Buffer back as a Buffer whatever the size of the record around it.
 *
 * @example
 * ```ts
 * open({ path, encoder: { ...MSGPACK_OPTIONS } });
 * ```
 */
export const MSGPACK_OPTIONS = { moreTypes: true, unpack: unpackFromBuffer } as const;

const packr = new Packr({ ...MSGPACK_OPTIONS });

/**
 * A deep copy made by encoding and decoding, so that the memory tier returns exactly what a
 * shared tier would, and a caller mutating its object after `set` cannot change the cache.
 * A value msgpackr cannot encode is refused with NotSerializableError, its error kept as `cause`.
 *
 * @example
 * ```ts
 * const copy = encodeCopy({ a: [1, 2] }); // { value: { a: [1, 2] }, bytes: 7 }
 * ```
 */
export function encodeCopy<T>(value: T): { value: T; bytes: number } {
  const buf = encode(value);
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
  return encode(value).length;
}

function encode(value: unknown): Buffer {
  try {
    return packr.pack(value);
  } catch (err) {
    throw withCause(new NotSerializableError('', `msgpackr could not encode it: ${err instanceof Error ? err.message : String(err)}`), err);
  }
}
