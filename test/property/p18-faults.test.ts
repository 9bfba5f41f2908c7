// Property 18, the faults that fit a property: garbage written straight into the LMDB file
// under a key reads as a miss and is counted, then a compute heals the key; a closed cache
// refuses every call with CacheClosedError (E_CACHE_CLOSED), whatever the arguments.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { open } from 'lmdb';
import { Packr } from 'msgpackr';
import fc from 'fast-check';
import { createCache, errors, type Cache } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';
import { propertyParams } from '../helpers/fc.js';
import { tempDir } from '../helpers/tmp.js';
import { cacheFor, TIER_CONFIGS, tiersFor } from './configs.js';
import { modelValue } from './model.js';
import { seal } from '../../src/tiers/lmdb/seal.js';

function show(value: unknown): string {
  return inspect(value, { depth: 4, breakLength: Infinity });
}

/** msgpack without herdcache's shared structures: what another program might have written. */
const plainPackr = new Packr();

type Garbage =
  | { kind: 'truncated'; keep: number }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'sealed-bytes'; bytes: Uint8Array }
  | { kind: 'bit-flip'; at: number; bit: number }
  | { kind: 'other-key' }
  | { kind: 'not-a-record'; value: unknown }
  | { kind: 'bad-times' };

/**
 * Bytes that are not the entry record of `k`: the real record cut short or with one bit flipped
 * (most flips inside a value still decode, to another value), the record of another key filed
 * under it (as a flipped bit in a key of a leaf page would), random bytes with or without a
 * valid seal (with one, bytes 0x40-0x7f refer to the shared structure of entry records and a few
 * decode to a valid-looking record), other msgpack values and a record whose fresh timeout is
 * after its grand timeout, both sealed so that the record checks behind the seal are reached.
 */
const garbage: fc.Arbitrary<Garbage> = fc.oneof(
  fc.nat({ max: 200 }).map((keep): Garbage => ({ kind: 'truncated', keep })),
  fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }).map(({ at, bit }): Garbage => ({ kind: 'bit-flip', at, bit })),
  fc.constant<Garbage>({ kind: 'other-key' }),
  fc.uint8Array({ maxLength: 40 }).map((noise): Garbage => ({ kind: 'bytes', bytes: Uint8Array.from([0xc1, ...noise]) })),
  fc.uint8Array({ maxLength: 40 }).map((bytes): Garbage => ({ kind: 'bytes', bytes })),
  fc.tuple(fc.integer({ min: 0x40, max: 0x7f }), fc.uint8Array({ maxLength: 40 })).map(([head, rest]): Garbage => ({ kind: 'sealed-bytes', bytes: Uint8Array.from([head, ...rest]) })),
  fc.jsonValue({ maxDepth: 2 }).map((value): Garbage => ({ kind: 'not-a-record', value })),
  fc.constant<Garbage>({ kind: 'bad-times' }),
);

function garbageBytes(g: Garbage, good: Buffer, other: Buffer, now: number): Buffer {
  switch (g.kind) {
    case 'truncated': return good.subarray(0, g.keep % good.length);
    case 'bit-flip': {
      const flipped = Buffer.from(good);
      const at = g.at % flipped.length;
      flipped[at] = flipped[at]! ^ (1 << g.bit);
      return flipped;
    }
    case 'other-key': return other;
    case 'bytes': return Buffer.from(g.bytes);
    case 'sealed-bytes': return seal(g.bytes);
    case 'not-a-record': return seal(plainPackr.pack(g.value));
    case 'bad-times': return seal(plainPackr.pack({ value: 'v', storedAt: now, freshUntil: now + 1_000, staleUntil: now + 10, delta: 0 }));
  }
}

describe('P18 faults', () => {
  it('P18 a corrupt entry written straight into the LMDB file reads as a miss on every read path, is counted in stats().corrupt, and a compute replaces it', async () => {
    const dir = tempDir('herdcache-p18');
    const clock = manualClock();
    const writer = cacheFor('L1+L2', dir.path, clock);
    const raw = open({ path: dir.path });
    const entries = raw.openDB('entries', { encoding: 'binary' });
    try {
      await fc.assert(
        fc.asyncProperty(modelValue, garbage, fc.constantFrom('L2' as const, 'L1+L2' as const), fc.boolean(), async (value, g, readerConfig, async) => {
          await writer.clear();
          await writer.set('k', value);
          await writer.set('other', value);
          const good = entries.get('0::k');
          const other = entries.get('0::other');
          assert.ok(Buffer.isBuffer(good) && Buffer.isBuffer(other), 'the records are stored under their storage keys');
          const bad = garbageBytes(g, good, other, clock());
          if (async) await entries.put('0::k', bad);
          else entries.putSync('0::k', bad);
          // lmdb-js renews a process's read snapshot on a timer: let it see the write.
          await new Promise((resolve) => setTimeout(resolve, 2));
          // A reader with an empty memory tier, so the read reaches LMDB.
          const reader = cacheFor(readerConfig, dir.path, clock);
          const reported: string[] = [];
          reader.on('corrupt-entry', (event) => reported.push(event.key));
          try {
            const what = `${g.kind} ${show(bad)}`;
            assert.equal(reader.getSync('k'), undefined, `${what}: getSync returned something`);
            assert.equal(reader.stats().corrupt, 1, `${what}: the corrupt entry was not counted once`);
            assert.ok(reported.length >= 1, `${what}: no corrupt-entry event`);
            assert.equal(await reader.get('k'), undefined, `${what}: get returned something`);
            assert.equal(await reader.has('k'), false);
            let calls = 0;
            const healed = await reader.compute('k', () => {
              calls++;
              return 'healed';
            });
            assert.equal(calls, 1, `${what}: compute did not run on the corrupt key`);
            assert.equal(healed, 'healed');
            await new Promise((resolve) => setTimeout(resolve, 2));
            const third = cacheFor('L2', dir.path, clock);
            try {
              assert.equal(third.getSync('k'), 'healed', `${what}: the recomputed value did not replace the corrupt record`);
              assert.equal(third.stats().corrupt, 0);
            } finally {
              await third.close();
            }
          } finally {
            await reader.close();
          }
        }),
        propertyParams<[unknown, Garbage, 'L2' | 'L1+L2', boolean]>({ numRuns: 80, includeErrorInReport: true, examples: [['v', { kind: 'bytes', bytes: new Uint8Array(0) }, 'L2', false]] }),
      );
    } finally {
      await raw.close();
      await writer.close();
      dir.cleanup();
    }
  });

  /** Every public call, with arguments that may be valid or not. */
  type Call = { op: 'getSync' | 'get' | 'has' | 'delete'; key: unknown } | { op: 'set'; key: unknown; value: unknown } | { op: 'compute'; key: unknown; fn: unknown } | { op: 'clear' } | { op: 'memoize' } | { op: 'memoized'; args: unknown[] };

  const anyKey = fc.oneof(fc.constantFrom<unknown>('k', 'other', '', 42, null, undefined, 'x'.repeat(3_000), 'lone \uD800'), fc.string({ minLength: 1, maxLength: 8 }));
  const anyValue = fc.oneof(modelValue, fc.constantFrom<unknown>(() => 1, Symbol('s'), -0, Object.create(null)));
  const call: fc.Arbitrary<Call> = fc.oneof(
    fc.record({ op: fc.constantFrom('getSync' as const, 'get' as const, 'has' as const, 'delete' as const), key: anyKey }),
    fc.record({ op: fc.constant('set' as const), key: anyKey, value: anyValue }),
    fc.record({ op: fc.constant('compute' as const), key: anyKey, fn: fc.constantFrom<unknown>(() => 'v', async () => 'v', () => { throw new Error('x'); }, 'not a function') }),
    fc.constant<Call>({ op: 'clear' }),
    fc.constant<Call>({ op: 'memoize' }),
    fc.record({ op: fc.constant('memoized' as const), args: fc.array(modelValue, { maxLength: 2 }) }),
  );

  /** Makes one call; resolves with how it ended: a synchronous throw, a rejection or a value. */
  async function attempt(cache: Cache, memoized: (...args: unknown[]) => Promise<unknown>, c: Call): Promise<{ sync: boolean; error?: unknown; value?: unknown }> {
    let pending: unknown;
    try {
      switch (c.op) {
        case 'getSync': pending = cache.getSync(c.key as string); break;
        case 'get': pending = cache.get(c.key as string); break;
        case 'has': pending = cache.has(c.key as string); break;
        case 'delete': pending = cache.delete(c.key as string); break;
        case 'set': pending = cache.set(c.key as string, c.value); break;
        case 'compute': pending = cache.compute(c.key as string, c.fn as () => unknown); break;
        case 'clear': pending = cache.clear(); break;
        case 'memoize': pending = cache.memoize(function named() { return 1; }); break;
        case 'memoized': pending = memoized(...c.args); break;
      }
    } catch (error) {
      return { sync: true, error };
    }
    if (!(pending instanceof Promise)) return { sync: true, value: pending };
    try {
      return { sync: false, value: await pending };
    } catch (error) {
      return { sync: false, error };
    }
  }

  for (const config of TIER_CONFIGS) {
    it(`P18 ${config}: a closed cache refuses every call with CacheClosedError (code E_CACHE_CLOSED), whatever the arguments; getSync and memoize throw, the others reject`, async () => {
      const dir = tempDir('herdcache-p18-closed');
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('a', 'b'), modelValue), { maxLength: 3 }), fc.array(call, { minLength: 1, maxLength: 8 }), fc.boolean(), async (before, calls, closeTwice) => {
            const cache = createCache({ tiers: tiersFor(config, dir.path), clock: manualClock(), ttl: 1_000 });
            const memoized = cache.memoize(async function lookup(...args: unknown[]) { return args.length; });
            for (const [k, v] of before) await cache.set(k, v);
            await cache.close();
            if (closeTwice) await cache.close();
            assert.equal(cache.closed, true);
            for (const c of calls) {
              const outcome = await attempt(cache, memoized, c);
              const what = `${c.op}(${show('key' in c ? c.key : '')}) after close`;
              assert.ok('error' in outcome, `${what} succeeded with ${show(outcome.value)}`);
              assert.ok(outcome.error instanceof errors.CacheClosedError, `${what} failed with ${show(outcome.error)} instead of CacheClosedError`);
              assert.equal((outcome.error as { code?: unknown }).code, 'E_CACHE_CLOSED');
              const synchronous = c.op === 'getSync' || c.op === 'memoize';
              assert.equal(outcome.sync, synchronous, `${what} ${outcome.sync ? 'threw' : 'rejected'}; expected it to ${synchronous ? 'throw' : 'reject'}`);
            }
          }),
          propertyParams({ numRuns: 60, includeErrorInReport: true }),
        );
      } finally {
        dir.cleanup();
      }
    });
  }
});
