// Property 21: a cache file can always be thrown away, so damaged LMDB files never take the
// process down and never turn into a wrong value. Each run fills a file from a real process,
// closes it, damages it as fast-check draws (the kind of damage and its parameters: which pages,
// how many bit flips and where, how far to truncate, what to write), and opens it from another
// real process through createCache, which must live: every read is the right value or a miss,
// writes work, the process ends normally, with no unhandled rejection and nothing on stderr but
// LMDB's own C-level `Write error: ...` lines, which no JavaScript can intercept. Before the probe
// (src/tiers/lmdb/probe.ts), several of these damages killed the process opening the file
// (SIGSEGV at open, SIGBUS on reads) or failed createCache with raw errors. One example of every
// kind, including each case the earlier table of damages had, runs on every `npm test`.
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { open } from 'lmdb';
import type { CacheStats } from '../../src/index.js';
import { startEngineWorker, type EngineWorker } from '../fixtures/engine-worker.js';
import { coverage, propertyParams, runsFor } from '../helpers/fc.js';
import { seededRandom } from '../history/workload.js';
import { tempDir } from '../helpers/tmp.js';

const PAGE = 4096;
const KEYS = 150;
const valueOf = (i: number): string => `value-${i}-${'x'.repeat(200)}`;

/** What is written over damaged bytes. */
type Fill = 'garbage' | 'zero';
/** A place among the data pages (past the two meta pages), in thousandths of their number. */
type Permille = number;

/** One kind of damage to a closed file and its parameters. */
type Damage =
  /** Garbage of `bytes` bytes over msgpackr's shared structures record of the entries database. */
  | { readonly kind: 'structures'; readonly bytes: number }
  /** The data file cut to `pages` whole pages (or half of them) and `extra` bytes. */
  | { readonly kind: 'truncate'; readonly pages: number | 'half'; readonly extra: number }
  /** One or both meta pages (0 and 1) overwritten. */
  | { readonly kind: 'meta'; readonly which: 'first' | 'second' | 'both'; readonly fill: Fill }
  /** Whole data pages overwritten. */
  | { readonly kind: 'pages'; readonly at: readonly Permille[]; readonly fill: Fill }
  /** Bits flipped in the first 24 bytes (the header: page number, txn id, flags, free-space bounds) of data pages. */
  | { readonly kind: 'header-flips'; readonly flips: ReadonlyArray<{ readonly page: Permille; readonly byte: number; readonly bit: number }> }
  /**
   * Bits flipped inside stored values (in the run of x's each one ends with). LMDB keeps no
   * checksums: without the seals, a flipped bit inside a value still decodes, to another value.
   */
  | { readonly kind: 'value-flips'; readonly flips: ReadonlyArray<{ readonly value: Permille; readonly byte: number; readonly bit: number }> }
  /** The lock file replaced by `pages` pages of garbage. */
  | { readonly kind: 'lock'; readonly pages: number }
  /** The data file replaced by a directory. */
  | { readonly kind: 'directory' };

type Kind = Damage['kind'];
const KINDS: readonly Kind[] = ['structures', 'truncate', 'meta', 'pages', 'header-flips', 'value-flips', 'lock', 'directory'];

const permille = fc.integer({ min: 0, max: 999 });
const fillArb = fc.constantFrom<Fill>('garbage', 'zero');
const damageArb: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({ kind: fc.constant('structures' as const), bytes: fc.integer({ min: 1, max: 128 }) }),
  fc.record({ kind: fc.constant('truncate' as const), pages: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constant('half' as const)), extra: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: PAGE - 1 })) }),
  fc.record({ kind: fc.constant('meta' as const), which: fc.constantFrom('first' as const, 'second' as const, 'both' as const), fill: fillArb }),
  fc.record({ kind: fc.constant('pages' as const), at: fc.array(permille, { minLength: 1, maxLength: 6 }), fill: fillArb }),
  fc.record({ kind: fc.constant('header-flips' as const), flips: fc.array(fc.record({ page: permille, byte: fc.integer({ min: 0, max: 23 }), bit: fc.integer({ min: 0, max: 7 }) }), { minLength: 1, maxLength: 24 }) }),
  fc.record({ kind: fc.constant('value-flips' as const), flips: fc.array(fc.record({ value: permille, byte: fc.integer({ min: 0, max: 149 }), bit: fc.integer({ min: 0, max: 7 }) }), { minLength: 1, maxLength: 24 }) }),
  fc.record({ kind: fc.constant('lock' as const), pages: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('directory' as const) }),
);

/** Sixteen flips spread over the file, as the earlier fixed cases had, drawn from `seed`. */
function spread<T>(seed: number, make: (rand: () => number) => T): T[] {
  const rand = seededRandom(seed);
  return Array.from({ length: 16 }, () => make(rand));
}
const at = (rand: () => number, below: number): number => Math.floor(rand() * below);

/** Every kind at least once, and each damage of the earlier table of fixed cases: [damage, seed of the garbage]. */
const EXAMPLES: ReadonlyArray<[Damage, number]> = [
  [{ kind: 'structures', bytes: 64 }, 1],
  [{ kind: 'truncate', pages: 0, extra: 0 }, 2],
  [{ kind: 'truncate', pages: 1, extra: 0 }, 3],
  [{ kind: 'truncate', pages: 'half', extra: 0 }, 4],
  [{ kind: 'meta', which: 'first', fill: 'garbage' }, 5],
  [{ kind: 'meta', which: 'both', fill: 'garbage' }, 6],
  [{ kind: 'meta', which: 'both', fill: 'zero' }, 7],
  [{ kind: 'pages', at: [100, 350, 600, 850], fill: 'garbage' }, 8],
  [{ kind: 'pages', at: [50, 300, 550, 800], fill: 'zero' }, 9],
  [{ kind: 'header-flips', flips: spread(10, (r) => ({ page: at(r, 1000), byte: at(r, 16), bit: at(r, 8) })) }, 10],
  // Bit 0 of an x is another letter: the string stays a valid string, only the seal can tell.
  [{ kind: 'value-flips', flips: spread(11, (r) => ({ value: at(r, 1000), byte: at(r, 150), bit: 0 })) }, 11],
  [{ kind: 'lock', pages: 8 }, 12],
  [{ kind: 'directory' }, 13],
];

function overwrite(file: string, offset: number, bytes: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

function flipBit(file: string, offset: number, bit: number): void {
  const fd = openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, offset);
    byte[0] = byte[0]! ^ (1 << bit);
    writeSync(fd, byte, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

function bytesOf(fill: Fill, length: number, rand: () => number): Buffer {
  return fill === 'zero' ? Buffer.alloc(length) : Buffer.from(Array.from({ length }, () => Math.floor(rand() * 256)));
}

/** Does `damage` to the closed file in `dir`; `rand` draws the garbage. */
async function apply(dir: string, damage: Damage, rand: () => number): Promise<void> {
  const data = join(dir, 'data.mdb');
  const pages = Math.floor(statSync(data).size / PAGE);
  /** A data page (past the two meta pages) at `place` thousandths of the way through them. */
  const dataPage = (place: Permille): number => 2 + Math.floor((place / 1000) * (pages - 2));
  switch (damage.kind) {
    case 'structures': {
      const raw = open({ path: dir, maxDbs: 12 });
      try {
        await raw.openDB('entries', { encoding: 'binary' }).put(Symbol.for('herdcache.structures') as unknown as string, bytesOf('garbage', damage.bytes, rand));
      } finally {
        await raw.close();
      }
      return;
    }
    case 'truncate': {
      const whole = damage.pages === 'half' ? Math.floor(pages / 2) : Math.min(damage.pages, pages - 1);
      truncateSync(data, whole * PAGE + damage.extra);
      return;
    }
    case 'meta':
      if (damage.which !== 'second') overwrite(data, 0, bytesOf(damage.fill, PAGE, rand));
      if (damage.which !== 'first') overwrite(data, PAGE, bytesOf(damage.fill, PAGE, rand));
      return;
    case 'pages':
      for (const place of damage.at) overwrite(data, dataPage(place) * PAGE, bytesOf(damage.fill, PAGE, rand));
      return;
    case 'header-flips':
      for (const flip of damage.flips) flipBit(data, dataPage(flip.page) * PAGE + flip.byte, flip.bit);
      return;
    case 'value-flips': {
      const file = readFileSync(data);
      const runs: number[] = [];
      for (let i = file.indexOf('value-'); i !== -1; i = file.indexOf('value-', i + 1)) runs.push(i);
      assert.ok(runs.length >= KEYS, 'the values are in the file');
      // Past `value-<i>-` (at most 11 bytes): inside the run of 200 x's.
      for (const flip of damage.flips) flipBit(data, runs[Math.floor((flip.value / 1000) * runs.length)]! + 12 + flip.byte, flip.bit);
      return;
    }
    case 'lock':
      writeFileSync(join(dir, 'lock.mdb'), bytesOf('garbage', damage.pages * PAGE, rand));
      return;
    case 'directory':
      rmSync(data);
      mkdirSync(data);
      return;
  }
}

/**
 * What a worker wrote on stderr beyond the diagnostics LMDB's C library prints with fprintf,
 * which no JavaScript can intercept: `Write error: ...` for a page it could not write, `internal
 * error, index points to a ... page!?` when a lookup meets a page that is not of the kind its
 * parent says and `page N not found error` when it points past the file (the read fails: a
 * miss), and `txn has failed/finished, can't commit` after that.
 */
function noise(worker: EngineWorker): string {
  return worker.stderr().replace(/Write error: [^\n]*?(position \d+, size \d+)|internal error, index points to a [0-9A-F]+ page!\?\n?|page \d+ not found error\n?|txn has failed\/finished, can't commit/g, '').trim();
}

async function fill(path: string): Promise<void> {
  const writer = await startEngineWorker({ path, ttl: 3_600_000 });
  try {
    for (let i = 0; i < KEYS; i++) await writer.call({ op: 'set', key: `k${i}`, value: valueOf(i) });
    await writer.call({ op: 'close' });
    assert.deepEqual(await writer.exited, { code: 0, signal: null }, 'the writer ended normally');
    assert.deepEqual(writer.unhandled, []);
    assert.equal(noise(writer), '', 'the writer wrote nothing on stderr');
  } finally {
    await writer.kill('SIGKILL');
  }
}

describe('P21 damaged LMDB files', () => {
  it('P21: generated damage to a closed file: the process opening it lives, every read is the right value or a miss, writes work, the process ends normally with no unhandled rejection and nothing on stderr; a quarantined file serves nothing', async (t) => {
    const seen = coverage('P21');
    await fc.assert(
      fc.asyncProperty(damageArb, fc.integer(), async (damage, seed) => {
        const dir = tempDir('herdcache-damage');
        let reader: EngineWorker | undefined;
        try {
          await fill(dir.path);
          await apply(dir.path, damage, seededRandom(seed));
          reader = await startEngineWorker({ path: dir.path, ttl: 3_600_000 });
          let misses = 0;
          for (let i = 0; i < KEYS; i++) {
            const read = await reader.call({ op: 'getSync', key: `k${i}` });
            if (read === undefined || read === null) misses++;
            else assert.equal(read, valueOf(i), `k${i} read back a wrong value`);
          }
          await reader.call({ op: 'set', key: 'after', value: 'written after the damage' });
          assert.equal(await reader.call({ op: 'getSync', key: 'after' }), 'written after the damage', 'writes work');
          const stats = (await reader.call({ op: 'stats' })) as CacheStats;
          // A moved-aside file loses everything it held: the misses and the report go together.
          if (stats.corruptFiles > 0) assert.equal(misses, KEYS, 'a quarantined file serves nothing');
          await reader.call({ op: 'close' });
          assert.deepEqual(await reader.exited, { code: 0, signal: null }, 'the process ended normally');
          assert.deepEqual(reader.unhandled, [], 'no unhandled rejection');
          assert.equal(noise(reader), '', 'nothing on stderr but LMDB\'s C-level diagnostics');
          seen.run({
            ...Object.fromEntries(KINDS.map((kind) => [`damaged: ${kind}`, damage.kind === kind])),
            'the file was quarantined and rebuilt': stats.corruptFiles > 0,
            'the file was kept, some records read as misses': stats.corruptFiles === 0 && misses > 0,
            'the file was kept, every record read right': stats.corruptFiles === 0 && misses === 0,
          });
        } finally {
          await reader?.kill('SIGKILL');
          dir.cleanup();
        }
      }),
      { ...propertyParams({ endOnFailure: true, includeErrorInReport: true, examples: [...EXAMPLES] }), numRuns: runsFor(24, 200) },
    );
    seen.check(t, {
      ...Object.fromEntries(KINDS.map((kind) => [`damaged: ${kind}`, 0.01])),
      'the file was quarantined and rebuilt': 0.1,
      'the file was kept, some records read as misses': 0.05,
    });
  });
});
