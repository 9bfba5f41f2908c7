/*
 * Sealed records. LMDB keeps no checksums: a bit flipped in a value page (a bad disk sector, a
 * stray write into the memory map) is read back as whatever those bytes now decode to, and
 * msgpack decodes most small changes to another valid value, which the cache would serve as
 * true. So every record of the entries database is written with a 4-byte seal in front of its
 * msgpack bytes, a hash of those bytes, and a read whose bytes do not match their seal fails to
 * decode: the tier counts it as a corrupt entry and reads a miss.
 *
 * The seal is written into space msgpackr reserves at the start of its own output buffer, so
 * sealing adds no copy to lmdb-js's write path. Small records are hashed in JavaScript (a
 * murmur-style mix of 4-byte words: every step is a bijection of the state, so any change
 * confined to one word always changes the seal); from 1 KiB up, zlib's native CRC-32 is
 * cheaper than the call into it. A different change is missed with probability 2^-32.
 *
 * The seal covers the bytes of a record, not the key LMDB finds it under: a flip inside a key
 * in a leaf page would file the record under another key. Each record therefore also carries a
 * hash of its own key (`kh`, see keySeal), which the tier compares on read.
 */
import * as zlib from 'node:zlib';
import type { Database, DatabaseOptions, RootDatabase } from 'lmdb';
import { Packr, RESERVE_START_SPACE, type Options } from 'msgpackr';
import { MSGPACK_OPTIONS } from '../core/codec.js';

/**
 * Bytes of the seal in front of every record.
 *
 * @example
 * ```ts
 * const payload = record.subarray(SEAL_BYTES);
 * ```
 */
export const SEAL_BYTES = 4;
/**
 * The version of the record layout, kept in the file's meta database (see lmdb-structures.ts).
 *
 * @example
 * ```ts
 * if (env.meta.get('format') !== RECORD_FORMAT) upgradeRecordFormat(env, origin, Date.now());
 * ```
 */
export const RECORD_FORMAT = 2;
/**
 * The key of msgpackr's shared structures record in the entries database.
 *
 * @example
 * ```ts
 * raw.getBinary(STRUCTURES_KEY as unknown as string);
 * ```
 */
export const STRUCTURES_KEY = Symbol.for('herdcache.structures');

// Which hash a record gets depends on its length only, so reader and writer always agree. A Node
// without zlib.crc32 (before 20.15) reads the longer records of a newer one as corrupt: misses.
const NATIVE_FROM = 1024;
const nativeCrc = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/**
 * The seal of `bytes[start, end)`.
 *
 * @example
 * ```ts
 * const seal = sealOf(buffer, 4, buffer.length);
 * ```
 */
export function sealOf(bytes: Uint8Array, start: number, end: number): number {
  if (nativeCrc !== undefined && end - start >= NATIVE_FROM) return nativeCrc(bytes.subarray(start, end));
  let h = 0x9747b28c;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  for (; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x5bd1e995);
  h ^= end - start;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/**
 * The hash of a storage key that its record carries, so that a record found under another key
 * (a flipped bit inside a key of a leaf page) reads as corrupt.
 *
 * @example
 * ```ts
 * if (record.kh !== keySeal(key)) return miss();
 * ```
 */
export function keySeal(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Wraps plain msgpack bytes in a seal, as the tier would write them: for tests and tools that
 * write records behind the cache's back.
 *
 * @example
 * ```ts
 * await rawEntries.put('0::k', seal(new Packr().pack(record)));
 * ```
 */
export function seal(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(SEAL_BYTES + payload.length);
  out.set(payload, SEAL_BYTES);
  out.writeUInt32LE(sealOf(out, SEAL_BYTES, out.length), 0);
  return out;
}

/**
 * Thrown by the decoder for bytes that do not match their seal: read as a corrupt entry.
 *
 * @example
 * ```ts
 * try { entries.get(key); } catch (error) { if (error instanceof BrokenSealError) countCorrupt(); }
 * ```
 */
export class BrokenSealError extends Error {
  override readonly name = 'BrokenSealError';
}

type Positioned = Uint8Array & { start?: number; end?: number };

/**
 * msgpackr with a seal in front of every record, given to lmdb-js as the entries database's
 * encoder class, so that lmdb-js still wires its shared-structures hooks into it.
 */
class SealedPackr extends Packr {
  constructor(options?: Options) {
    super({ ...options, ...MSGPACK_OPTIONS });
    // msgpackr sets `encode` on the instance: wrap that one. `pack` stays the plain encoder,
    // because msgpackr calls it again by itself when it must retry after saving structures.
    const plain = this.encode.bind(this);
    this.encode = (value: unknown, mode?: number): Buffer => {
      const out: Positioned = plain(value, (mode ?? 0) | RESERVE_START_SPACE | SEAL_BYTES);
      // In lmdb-js's buffer-reuse mode the output is msgpackr's whole buffer with the record's
      // bounds beside it; otherwise it is the record alone.
      const start = out.start !== undefined && out.start > -1 ? out.start : 0;
      const end = out.start !== undefined && out.start > -1 ? (out.end ?? out.length) : out.length;
      const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
      view.setUint32(start, sealOf(out, start + SEAL_BYTES, end), true);
      return out as Buffer;
    };
  }

  override decode(source: Uint8Array, options?: number | { start?: number; end?: number }): unknown {
    const start = typeof options === 'object' ? (options.start ?? 0) : 0;
    const end = typeof options === 'object' ? (options.end || source.length) : typeof options === 'number' && options > -1 ? options : source.length;
    if (end - start < SEAL_BYTES) throw new BrokenSealError('the record is shorter than its seal');
    const stored = (source[start]! | (source[start + 1]! << 8) | (source[start + 2]! << 16) | (source[start + 3]! << 24)) >>> 0;
    if (stored !== sealOf(source, start + SEAL_BYTES, end)) throw new BrokenSealError('the record does not match its seal');
    return super.decode(source, { start: start + SEAL_BYTES, end } as never);
  }
}

/**
 * Opens the entries database of a root environment with sealed records and msgpackr's shared
 * structures, as the tier and the probe both must.
 *
 * @example
 * ```ts
 * const entries = openEntries(root);
 * ```
 */
export function openEntries(root: RootDatabase): Database<unknown, string> {
  // lmdb-js constructs `encoder.Encoder` with its structures hooks; its typings omit the field.
  return root.openDB<unknown, string>('entries', { sharedStructuresKey: STRUCTURES_KEY, encoder: { Encoder: SealedPackr } } as DatabaseOptions);
}
