// Property 4: bounds. The memory tier never holds more than its max entries / bytes (checked
// after every command of the model run); one sweep brings the LMDB tier under its maxBytes; no
// tier ever returns an
// entry at or past its grand timeout.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import { Packr } from 'msgpackr';
import fc from 'fast-check';
import { createCache, lmdbTier, memoryTier, type CacheEntry, type Tier } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';
import { propertyParams } from '../helpers/fc.js';
import { tempDir } from '../helpers/tmp.js';
import { CacheModel, engineCommands, KEYS, modelValue, type RealSystem } from './model.js';

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

function describeBound(bound: MemoryBound): string {
  return [bound.maxEntries === undefined ? '' : `maxEntries ${bound.maxEntries}`, bound.maxBytes === undefined ? '' : `maxBytes ${bound.maxBytes}`].filter(Boolean).join(', ');
}

/** Checks the memory tier's bounds: its own entry count, and the encoded sizes of what it holds. */
function memoryWithinBounds(tier: Tier, bound: MemoryBound): void {
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
    it(`P4 ${config}: the memory tier never holds more than maxEntries entries or maxBytes encoded bytes, after every command${withL2 ? ', and reads still agree with the model' : ''}`, async () => {
      const dir = tempDir('herdcache-p4');
      try {
        await fc.assert(
          fc.asyncProperty(memoryBound, fc.commands(engineCommands({ keys: manyKeys, values: sizedValue }), { maxCommands: 40, size: 'medium' }), async (bound, commands) => {
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
              await fc.asyncModelRun(() => ({ model: new CacheModel(clock, 100), real }), commands);
            } catch (error) {
              throw new Error(`with ${describeBound(bound)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
            } finally {
              await cache.close();
            }
          }),
          propertyParams({ numRuns: 100 }),
        );
      } finally {
        dir.cleanup();
      }
    });
  }

  /**
   * Writes in runs of similar sizes (a run of small values, then a run of large ones...), each
   * run on its own keys, on a clock that moves a little between writes.
   */
  const writeRuns = fc.array(
    fc.record({
      count: fc.integer({ min: 1, max: 40 }),
      bytes: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 301, max: 12_000 })),
      advance: fc.constantFrom(0, 1, 10),
    }),
    { minLength: 1, maxLength: 4 },
  );

  /** Most sweeps the repeated-sweep property allows before the tier must be under its bound. */
  const MAX_SWEEPS = 12;

  /** Writes the runs, then sweeps until the tier is under maxBytes; fails if that takes more than `sweepsAllowed`. */
  async function sweptUnderBound(kib: number, runs: ReadonlyArray<{ count: number; bytes: number; advance: number }>, sweepsAllowed: number): Promise<void> {
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
    } finally {
      await cache.close();
      dir.cleanup();
    }
  }

  it(`P4 L2: sweeping brings the LMDB entries and their index under maxBytes (within ${MAX_SWEEPS} sweeps), and what is still read is the last value written`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(48, 64, 128, 256), writeRuns, async (kib, runs) => {
        await sweptUnderBound(kib, runs, MAX_SWEEPS);
      }),
      propertyParams({ numRuns: 40, includeErrorInReport: true }),
    );
  });

  // Known failure, kept visible: sweepEnvironment (src/tiers/lmdb-sweep.ts) evicts a share of the
  // entries by count, and the pages it frees are fewer than that share (half-empty leaf pages,
  // small old entries before large new ones), so one sweep can leave the file over its bound.
  it('P4 L2: a single sweep brings the LMDB entries and their index under maxBytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(48, 64, 128, 256), writeRuns, async (kib, runs) => {
        await sweptUnderBound(kib, runs, 1);
      }),
      propertyParams({ numRuns: 40, includeErrorInReport: true, examples: [[48, [{ count: 108, bytes: 298, advance: 1 }]]] }),
    );
  });

  it('P4 every tier: no entry is ever returned at or past its grand timeout (memory getSync/get, LMDB getSync/get), through sets, computes, clock steps and sweeps', async () => {
    const dir = tempDir('herdcache-p4-expiry');
    const clock = manualClock();
    const memory = memoryTier();
    const lmdb = lmdbTier({ path: dir.path, sweepInterval: 3_600_000 });
    const cache = createCache({ tiers: [memory, lmdb], clock, ttl: 100 });
    const sweep = sweepOf(lmdb);
    const unexpired = async (where: string, entry: CacheEntry | undefined | Promise<CacheEntry | undefined>): Promise<void> => {
      const found = await entry;
      if (found !== undefined) assert.ok(clock() < found.staleUntil, `${where} returned an entry whose grand timeout ${found.staleUntil} is not after now (${clock()})`);
    };
    const everyTier = async (): Promise<void> => {
      for (const k of KEYS) {
        await unexpired(`memory.getSync(${k})`, memory.getSync?.(k));
        await unexpired(`memory.get(${k})`, memory.get(k));
        await unexpired(`lmdb.getSync(${k})`, lmdb.getSync?.(`0::${k}`));
        await unexpired(`lmdb.get(${k})`, lmdb.get(`0::${k}`));
      }
    };
    try {
      await fc.assert(
        fc.asyncProperty(fc.commands(engineCommands(), { maxCommands: 40, size: 'medium' }), fc.boolean(), async (commands, sweepAfterEach) => {
          await cache.clear();
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
          await fc.asyncModelRun(() => ({ model: new CacheModel(clock, 100), real }), commands);
        }),
        propertyParams({ numRuns: 100 }),
      );
    } finally {
      await cache.close();
      dir.cleanup();
    }
  });
});
