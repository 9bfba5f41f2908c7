/*
 * Sealed records. LMDB keeps no checksums: a bit flipped in a value page (a bad disk sector, a
 * stray write into the memory map) is read back as whatever those bytes now decode to, and
 * msgpack decodes most small changes to another valid value, which the cache would serve as
 * true. So every record of the entries database is written with a 4-byte seal in front of its
 * msgpack bytes, a hash of those bytes, and a read whose bytes do not match their seal fails to
 * decode: the tier counts it as a corrupt entry and reads a miss.
 *
 * The seal is written into space msgpackr reserves at the start of its own output buffer, so
 * sealing adds no copy to lmdb-js's write path. Small records are hashed in JavaScript, one
 * 4-byte word per step (xor, multiply by an odd constant, rotate: a bijection of the state for
 * each word and of the word for each state, so a change confined to one word always changes the
 * seal), then mixed as murmur3 finishes; from 1 KiB up, zlib's native CRC-32 is cheaper than
 * the call into it. Any other change is missed with probability about 2^-32. Reading the words
 * through one Int32Array kept over lmdb-js's read buffer, rather than byte by byte, is what
 * keeps a seal check of a 400-byte record near 0.2 us.
 *
 * The seal covers the bytes of a record, not the key LMDB finds it under: a flip inside a key
 * in a leaf page would file the record under another key. Each record therefore also carries a
 * hash of its own key (`kh`, see keySeal), which the tier compares on read.
 */
import * as zlib from 'node:zlib';
import type { Database, DatabaseOptions, RootDatabase } from 'lmdb';
import { Packr, RESERVE_START_SPACE, type Options } from 'msgpackr';
import { MSGPACK_OPTIONS } from '../../core/codec.js';

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
 * The version of the record layout, kept in the file's meta database (see structures.ts).
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
  const at = bytes.byteOffset + start;
  if (LITTLE_ENDIAN && (at & 3) === 0) {
    // The same words as the loop below, read four bytes at a time: lmdb-js copies each record to
    // the start of one read buffer, so the bytes after the seal are word-aligned on every read.
    const words = wordsOver(bytes.buffer);
    const count = (end - start) >> 2;
    for (let w = at >> 2, last = (at >> 2) + count; w < last; w++) h = step(h, words[w]!);
    i = start + (count << 2);
  } else {
    for (; i + 4 <= end; i += 4) h = step(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
  }
  for (; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x5bd1e995);
  h ^= end - start;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** One word into the state: a bijection of the state for a given word, and of the word for a given state. */
function step(h: number, word: number): number {
  const mixed = Math.imul(h ^ word, 0x9e3779b1);
  return (mixed << 13) | (mixed >>> 19);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
let wordsBuffer: ArrayBufferLike | undefined;
let words: Int32Array<ArrayBufferLike> = new Int32Array(0);

/** An Int32Array over a whole buffer, kept for the next call: lmdb-js reads into one buffer. */
function wordsOver(buffer: ArrayBufferLike): Int32Array<ArrayBufferLike> {
  if (buffer !== wordsBuffer) {
    wordsBuffer = buffer;
    words = new Int32Array(buffer, 0, buffer.byteLength >> 2);
  }
  return words;
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
