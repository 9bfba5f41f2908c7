// Property 4: bounds. The memory tier never holds more than its max entries / bytes (checked
// after every command of the model run); one sweep brings the LMDB tier under its maxBytes; no
// tier ever returns an
// entry at or past its grand timeout.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect, isDeepStrictEqual } from 'node:util';
import { open } from 'lmdb';
import { Packr } from 'msgpackr';
import fc from 'fast-check';
import { createCache, lmdbTier, memoryTier, type CacheEntry, type ProcessTier, type Tier } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';
import { coverage, propertyParams } from '../helpers/fc.js';
import { tempDir } from '../helpers/tmp.js';
import { CacheModel, engineCommands, KEYS, modelValue, SetCommand, type CacheCommand, type RealSystem } from './model.js';

/** Encoded sizes measured independently of the tier, with the codec settings every tier uses. */
const packr = new Packr({ moreTypes: true });
const encodedBytes = (value: unknown): number => Math.max(1, packr.pack(value).length);

/** More keys than the small bounds hold, so that eviction happens all the time. */
const MANY_KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'] as const;
const manyKeys = fc.constantFrom(...MANY_KEYS);
/** Values from empty to a few hundred bytes, against byte bounds of 16 to 600. */
const sizedValue = fc.oneof(modelValue, fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)));

interface MemoryBound {
  readonly maxEntries?: number;
  readonly maxBytes?: number;
}

const memoryBound: fc.Arbitrary<MemoryBound> = fc.oneof(
  fc.record({ maxEntries: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ maxBytes: fc.integer({ min: 16, max: 600 }) }),
  fc.record({ maxEntries: fc.integer({ min: 1, max: 5 }), maxBytes: fc.integer({ min: 16, max: 600 }) }),
);

/**
 * Every run starts with a set of each of the eight keys, each value a third of maxBytes (300
 * bytes without a byte bound): more entries (8 > 5) and more bytes (8 thirds) than the bound
 * holds, each small enough to be kept on its own, so every run evicts before the generated
 * commands start.
 */
function overfill(bound: MemoryBound, letter: string): CacheCommand[] {
  const length = Math.max(1, Math.floor((bound.maxBytes ?? 900) / 3) - 3);
  return MANY_KEYS.map((k, i) => new SetCommand(k, `${i}`.padEnd(length, letter), undefined, 1));
}

function describeBound(bound: MemoryBound): string {
  return [bound.maxEntries === undefined ? '' : `maxEntries ${bound.maxEntries}`, bound.maxBytes === undefined ? '' : `maxBytes ${bound.maxBytes}`].filter(Boolean).join(', ');
}

/** Checks the memory tier's bounds: its own entry count, and the encoded sizes of what it holds. */
function memoryWithinBounds(tier: ProcessTier, bound: MemoryBound): void {
  const size = tier.size?.();
  assert.ok(size !== undefined, 'the memory tier reports its size');
  if (bound.maxEntries !== undefined) assert.ok(size <= bound.maxEntries, `the memory tier holds ${size} entries, over its bound of ${bound.maxEntries}`);
  let bytes = 0;
  let held = 0;
  // peekSync refreshes a key's recency: it changes which key goes next, never what the bound allows.
  for (const k of MANY_KEYS) {
    const entry = tier.peekSync?.(k);
    if (entry === undefined) continue;
    held++;
    bytes += encodedBytes(entry.value);
  }
  assert.ok(held <= size, `the memory tier answers for ${held} keys but reports ${size}`);
  if (bound.maxBytes !== undefined) assert.ok(bytes <= bound.maxBytes, `the memory tier holds ${bytes} encoded bytes, over its bound of ${bound.maxBytes}`);
}

/** Bytes of the LMDB file's entries and their age index: pages in use times the page size. */
function lmdbUsedBytes(path: string): number {
  const root = open({ path });
  try {
    let pages = 0;
    for (const name of ['entries', 'by-age']) {
      const stats = root.openDB(name, { encoding: 'binary' }).getStats() as { treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
      pages += stats.treeBranchPageCount + stats.treeLeafPageCount + stats.overflowPages;
    }
    return pages * (root.getStats() as { pageSize: number }).pageSize;
  } finally {
    void root.close();
  }
}

/** The tier's public sweep, which the Tier contract does not list. */
function sweepOf(tier: Tier): () => Promise<void> {
  const sweep = (tier as unknown as { sweep?: () => Promise<void> }).sweep;
  assert.equal(typeof sweep, 'function', 'the LMDB tier has a sweep() method');
  return () => sweep!.call(tier);
}

describe('P4 bounds', () => {
  for (const withL2 of [false, true]) {
    const config = withL2 ? 'L1+L2' : 'L1';
    it(`P4 ${config}: the memory tier never holds more than maxEntries entries or maxBytes encoded bytes, after every command${withL2 ? ', and reads still agree with the model' : ''}`, async (t) => {
      const dir = tempDir('herdcache-p4');
      const seen = coverage(`P4 ${config} memory bounds`);
      try {
        await fc.assert(
          fc.asyncProperty(memoryBound, fc.constantFrom('x', 'é', '€'), fc.commands(engineCommands({ keys: manyKeys, values: sizedValue }), { maxCommands: 40, size: 'medium' }), async (bound, letter, commands) => {
            const clock = manualClock();
            const memory = memoryTier(bound);
            const tiers = withL2 ? [memory, lmdbTier({ path: dir.path })] : [memory];
            const cache = createCache({ tiers, clock, ttl: 100 });
            try {
              await cache.clear();
              const real: RealSystem = {
                cache,
                clock,
                // A memory tier alone forgets what it evicts; over LMDB nothing may be lost.
                mayForget: !withL2,
                invariant: () => memoryWithinBounds(memory, bound),
              };
              await fc.asyncModelRun(() => ({ model: new CacheModel(clock, 100), real }), [...overfill(bound, letter), ...commands]);
              seen.run({ 'evicted from the memory tier to stay within its bound': cache.stats().evictions > 0 });
            } catch (error) {
              throw new Error(`with ${describeBound(bound)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
            } finally {
              await cache.close();
            }
          }),
          propertyParams({ numRuns: 100, includeErrorInReport: true }),
        );
        seen.check(t, { 'evicted from the memory tier to stay within its bound': 1 });
      } finally {
        dir.cleanup();
      }
    });
  }

  /**
   * Writes in runs of similar sizes (a run of small values, then a run of large ones...), each
   * run on its own keys, on a clock that moves a little between writes.
   */
  interface WriteRun {
    readonly count: number;
    readonly bytes: number;
    readonly advance: number;
  }
  const writeRuns: fc.Arbitrary<WriteRun[]> = fc.array(
    fc.record({
      count: fc.integer({ min: 1, max: 40 }),
      bytes: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 301, max: 12_000 })),
      advance: fc.constantFrom(0, 1, 10),
    }),
    { minLength: 1, maxLength: 4 },
  );

  /** Sizes of the values that top a case up past its bound. */
  const fillBytes = fc.integer({ min: 100, max: 4_000 });

  /**
   * The generated runs, then (if they write less than twice maxBytes) one more run of
   * `fill`-byte values on its own keys that brings the bytes written to twice maxBytes: every
   * case is over its bound before the first sweep, so every run checks what a sweep does.
   */
  function overTheBound(kib: number, runs: ReadonlyArray<WriteRun>, fill: number): WriteRun[] {
    const written = runs.reduce((sum, run) => sum + run.count * Math.max(1, run.bytes), 0);
    const missing = 2 * kib * 1024 - written;
    return missing <= 0 ? [...runs] : [...runs, { count: Math.ceil(missing / fill), bytes: fill, advance: 1 }];
  }

  /** Most sweeps the repeated-sweep property allows before the tier must be under its bound. */
  const MAX_SWEEPS = 12;

  /**
   * Writes the runs, then sweeps until the tier is under maxBytes; fails if that takes more
   * than `sweepsAllowed`. Returns whether the tier was over maxBytes before the first sweep.
   */
  async function sweptUnderBound(kib: number, runs: ReadonlyArray<WriteRun>, sweepsAllowed: number): Promise<boolean> {
    const maxBytes = kib * 1024;
    const dir = tempDir('herdcache-p4-l2');
    const clock = manualClock();
    const tier = lmdbTier({ path: dir.path, maxBytes, sweepInterval: 3_600_000 });
    const cache = createCache({ tiers: [tier], clock, ttl: 3_600_000 });
    try {
      const last = new Map<string, string>();
      const writes: Array<Promise<void>> = [];
      for (const [r, run] of runs.entries()) {
        for (let i = 0; i < run.count; i++) {
          const k = `run${r}-${i}`;
          const value = `${writes.length}:`.padEnd(run.bytes, 'x');
          // Not awaited one by one: the tier batches them into few commits. Each is stamped now.
          writes.push(cache.set(k, value));
          last.set(k, value);
          clock.advance(run.advance);
        }
      }
      await Promise.all(writes);
      const usedBefore = lmdbUsedBytes(dir.path);
      const sweep = sweepOf(tier);
      const usedAfter: number[] = [];
      do {
        await sweep();
        usedAfter.push(lmdbUsedBytes(dir.path));
      } while (usedAfter.at(-1)! > maxBytes && usedAfter.length < sweepsAllowed);
      assert.ok(
        usedAfter.at(-1)! <= maxBytes,
        `after ${usedAfter.length} sweep(s) the LMDB tier uses ${usedAfter.at(-1)} bytes, over its maxBytes of ${maxBytes} (${writes.length} writes, ${tier.size?.()} entries left; bytes after each sweep: ${usedAfter.join(', ')})`,
      );
      for (const [k, value] of last) {
        const got = cache.getSync(k);
        assert.ok(got === undefined || got === value, `${k}: the sweep left ${String(got).slice(0, 20)}… instead of the last value written`);
      }
      return usedBefore > maxBytes;
    } finally {
      await cache.close();
      dir.cleanup();
    }
  }

  const OVER = 'were over maxBytes before the first sweep';

  it(`P4 L2: sweeping brings the LMDB entries and their index under maxBytes (within ${MAX_SWEEPS} sweeps), and what is still read is the last value written`, async (t) => {
    const seen = coverage('P4 L2 repeated sweeps');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(48, 64, 128, 256), writeRuns, fillBytes, async (kib, runs, fill) => {
        seen.run({ [OVER]: await sweptUnderBound(kib, overTheBound(kib, runs, fill), MAX_SWEEPS) });
      }),
      propertyParams({ numRuns: 40, includeErrorInReport: true }),
    );
    seen.check(t, { [OVER]: 1 });
  });

  // One sweep must do: sweepEnvironment (src/tiers/lmdb/sweep.ts) goes on evicting the oldest
  // entries while the pages in use are over the bound, however few pages each eviction frees
  // (half-empty leaf pages, small old entries before large new ones).
  it('P4 L2: a single sweep brings the LMDB entries and their index under maxBytes', async (t) => {
    const seen = coverage('P4 L2 single sweep');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(48, 64, 128, 256), writeRuns, fillBytes, async (kib, runs, fill) => {
        seen.run({ [OVER]: await sweptUnderBound(kib, overTheBound(kib, runs, fill), 1) });
      }),
      propertyParams({ numRuns: 40, includeErrorInReport: true, examples: [[48, [{ count: 108, bytes: 298, advance: 1 }], 298]] }),
    );
    seen.check(t, { [OVER]: 1 });
  });

  it('P4 every tier: no entry is ever returned at or past its grand timeout as the model reckons it (written at + maxAge), nor one the model does not hold (memory getSync/get, LMDB getSync/get), through sets, computes, clock steps and sweeps', async (t) => {
    const dir = tempDir('herdcache-p4-expiry');
    const clock = manualClock();
    const memory = memoryTier();
    const lmdb = lmdbTier({ path: dir.path, sweepInterval: 3_600_000 });
    const cache = createCache({ tiers: [memory, lmdb], clock, ttl: 100 });
    const sweep = sweepOf(lmdb);
    const seen = coverage('P4 grand timeout');
    let model = new CacheModel(clock, 100);
    /** What this run exercised: a tier answering for a key past its ttl but before its grand timeout, and a grand timeout passed. */
    let exercised = { staleHeld: false, timedOut: false };
    // Judged by the model's own times (what was written when, with what maxAge), never by the
    // entry's own fields: an entry stamped with a wrong grand timeout is caught too.
    const unexpired = async (where: string, k: string, entry: CacheEntry | undefined | Promise<CacheEntry | undefined>): Promise<void> => {
      const found = await entry;
      const written = model.written(k);
      if (written !== undefined && clock() >= written.keptUntil) exercised.timedOut = true;
      if (found === undefined) return;
      assert.ok(written !== undefined, `${where} returned ${inspect(found.value)}, but the model holds nothing for ${k} (deleted, cleared or never written)`);
      assert.ok(clock() < written.keptUntil, `${where} returned an entry at ${clock()}, at or past the grand timeout ${written.keptUntil} of the last write of ${k}`);
      assert.ok(isDeepStrictEqual(found.value, written.value), `${where} returned ${inspect(found.value)}, not the last value written, ${inspect(written.value)}`);
      if (!model.isFresh(k)) exercised.staleHeld = true;
    };
    const everyTier = async (): Promise<void> => {
      for (const k of KEYS) {
        await unexpired(`memory.getSync(${k})`, k, memory.getSync?.(k));
        await unexpired(`memory.get(${k})`, k, memory.get(k));
        await unexpired(`lmdb.getSync(${k})`, k, lmdb.getSync?.(`0::${k}`));
        await unexpired(`lmdb.get(${k})`, k, lmdb.get(`0::${k}`));
      }
    };
    try {
      await fc.assert(
        fc.asyncProperty(fc.commands(engineCommands(), { maxCommands: 40, size: 'medium' }), fc.boolean(), async (commands, sweepAfterEach) => {
          await cache.clear();
          model = new CacheModel(clock, 100);
          exercised = { staleHeld: false, timedOut: false };
          const real: RealSystem = {
            cache,
            clock,
            invariant: async () => {
              await everyTier();
              if (sweepAfterEach) {
                await sweep();
                await everyTier();
              }
            },
          };
          await fc.asyncModelRun(() => ({ model, real }), commands);
          seen.run({
            'had a tier hold an entry past its ttl, before its grand timeout': exercised.staleHeld,
            'passed the grand timeout of a written key': exercised.timedOut,
          });
        }),
        propertyParams({ numRuns: 100, includeErrorInReport: true }),
      );
      seen.check(t, {
        'had a tier hold an entry past its ttl, before its grand timeout': 0.2,
        'passed the grand timeout of a written key': 0.5,
      });
    } finally {
      await cache.close();
      dir.cleanup();
    }
  });
});
