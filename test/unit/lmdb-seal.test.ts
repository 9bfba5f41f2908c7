// The seal of LMDB records (src/tiers/lmdb/seal.ts) is part of the file format: a file written by
// one version of herdcache is read by the next, so the seal of given bytes must never change
// while RECORD_FORMAT stays the same. These known answers pin it; the key seal is FNV-1a, whose
// published test vectors it must give. Then: both ways of reading words agree, a change inside
// one word always changes the seal, and the entries database rejects a record that does not
// match its seal.
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { open } from 'lmdb';
import { BrokenSealError, keySeal, openEntries, RECORD_FORMAT, seal, SEAL_BYTES, sealOf } from '../../src/tiers/lmdb/seal.js';
import { tempDir } from '../helpers/tmp.js';

/** Deterministic bytes: `(i * 31 + 7) & 255`. */
function pattern(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + 7) & 255;
  return bytes;
}

describe('record seals', () => {
  it('give the same answers as when format 2 was defined', () => {
    assert.equal(RECORD_FORMAT, 2);
    const known: Array<[number, number]> = [
      [0, 3954623016], [1, 1742144569], [3, 2213171913], [4, 1582824485], [5, 1041296979], [8, 1315907407],
      [13, 2797124816], [100, 2561117050], [1023, 2647437128], [1024, 2083658589], [4096, 1562136291],
    ];
    for (const [length, expected] of known) assert.equal(sealOf(pattern(length), 0, length), expected, `${length} bytes`);
    assert.equal(sealOf(pattern(1024), 0, 1024), zlib.crc32(pattern(1024)), 'from 1 KiB up, the seal is CRC-32');
    assert.equal(sealOf(pattern(1040), 8, 1040), zlib.crc32(pattern(1040).subarray(8)), 'of the range only');
  });

  it('the key seal is 32-bit FNV-1a over the UTF-16 code units', () => {
    assert.equal(keySeal(''), 0x811c9dc5);
    assert.equal(keySeal('a'), 0xe40c292c);
    assert.equal(keySeal('foobar'), 0xbf9cf968);
    assert.equal(keySeal('0::user:1'), 0x4717e5b9);
    assert.notEqual(keySeal('0::user:1'), keySeal('0::user:2'));
  });

  it('reads a range the same whether it is word-aligned or not, and only that range', () => {
    for (const length of [0, 1, 4, 7, 64, 301, 1000]) {
      const bytes = pattern(length);
      const expected = sealOf(bytes, 0, length);
      for (const shift of [1, 2, 3, 4, 8]) {
        const buffer = new Uint8Array(length + shift + 5).fill(0xee);
        buffer.set(bytes, shift);
        assert.equal(sealOf(buffer, shift, shift + length), expected, `${length} bytes at offset ${shift}`);
        const view = new Uint8Array(buffer.buffer, shift, length);
        assert.equal(sealOf(view, 0, length), expected, `${length} bytes in a view at offset ${shift}`);
      }
    }
  });

  it('changes when any byte changes, and with the length (trailing zeros count)', () => {
    for (const length of [1, 5, 16, 333]) {
      const bytes = pattern(length);
      const original = sealOf(bytes, 0, length);
      for (let at = 0; at < length; at++) {
        for (const flip of [0x01, 0x80, 0xff]) {
          const changed = Uint8Array.from(bytes);
          changed[at] = changed[at]! ^ flip;
          assert.notEqual(sealOf(changed, 0, length), original, `${length} bytes, byte ${at} ^ ${flip}`);
        }
      }
    }
    const zeros = new Uint8Array(12);
    assert.notEqual(sealOf(zeros, 0, 8), sealOf(zeros, 0, 12));
    assert.notEqual(sealOf(zeros, 0, 3), sealOf(zeros, 0, 2));
  });

  it('seal() puts the seal of the payload in front of it, little-endian', () => {
    const payload = new Packr().pack({ value: 'v' });
    const sealed = seal(payload);
    assert.equal(sealed.length, payload.length + SEAL_BYTES);
    assert.deepEqual(sealed.subarray(SEAL_BYTES), Buffer.from(payload));
    assert.equal(sealed.readUInt32LE(0), sealOf(payload, 0, payload.length));
  });

  it('the entries database writes sealed records, reads them back, and refuses bytes that do not match', async (t) => {
    const dir = tempDir('herdcache-seal');
    const root = open({ path: dir.path, maxDbs: 4 });
    t.after(async () => {
      await root.close();
      dir.cleanup();
    });
    const entries = openEntries(root);
    const raw = root.openDB<Buffer, string>('entries', { encoding: 'binary' });
    const values: unknown[] = ['s', { a: [1, 2, 3], b: 'x'.repeat(2_000) }, 12345, { nested: { deep: true } }];
    await Promise.all(values.map((value, i) => entries.put(`k${i}`, value)));
    for (const [i, value] of values.entries()) {
      assert.deepEqual(entries.get(`k${i}`), value);
      const bytes = raw.getBinary(`k${i}`)!;
      assert.equal(bytes.readUInt32LE(0), sealOf(bytes, SEAL_BYTES, bytes.length), `the stored bytes of k${i} begin with their seal`);
    }
    const stored = Buffer.from(raw.getBinary('k1')!);
    stored[stored.length - 1] = stored[stored.length - 1]! ^ 0x10;
    await raw.put('bad', stored);
    await raw.put('short', Buffer.from([1, 2, 3]));
    await raw.put('empty', Buffer.alloc(0));
    assert.throws(() => entries.get('bad'), (error: unknown) => error instanceof BrokenSealError && error.message === 'the record does not match its seal');
    assert.throws(() => entries.get('short'), (error: unknown) => error instanceof BrokenSealError && error.message === 'the record is shorter than its seal');
    assert.throws(() => entries.get('empty'), BrokenSealError);
    assert.deepEqual(entries.get('k0'), 's', 'a broken record leaves the others readable');
  });
});
