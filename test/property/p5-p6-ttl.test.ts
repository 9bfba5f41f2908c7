// Properties 5 and 6, traditional TTL on a manual clock. P5: a value stored at t0 with ttl T is
// returned without computing at every t < t0 + T and never at t >= t0 + T. P6: a compute that
// throws stores nothing, releases every lease, and leaves an older value untouched.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect, isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { barrier, coalesce, createCache, type Cache, type CacheEntry, type Lease, type Policy, type Tier } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';
import { propertyParams } from '../helpers/fc.js';
import { tempDir } from '../helpers/tmp.js';
import { isShared, TIER_CONFIGS, tiersFor } from './configs.js';
import { modelValue } from './model.js';

function show(value: unknown): string {
  return inspect(value, { depth: 5, breakLength: Infinity });
}

/** A ttl and the instants (offsets from the store, ascending) at which to look, with its edges T-1, T, T+1 likely. */
const ttlAndOffsets = fc.integer({ min: 1, max: 10_000 }).chain((ttl) =>
  fc.tuple(
    fc.constant(ttl),
    fc.array(fc.oneof(fc.constantFrom(0, ttl - 1, ttl, ttl + 1), fc.integer({ min: 0, max: 2 * ttl })), { minLength: 1, maxLength: 6 }).map((offsets) => [...offsets].sort((a, b) => a - b)),
  ),
);

/** The entries each tier holds for `key` (process tiers by key, shared ones by storage key). */
function rawEntries(tiers: readonly Tier[], key: string): Array<CacheEntry | undefined> {
  return tiers.map((tier) => (tier.scope === 'process' ? tier.peekSync?.(key) : tier.getSync?.(`0::${key}`)));
}

describe('P5 traditional TTL: fresh before t0 + ttl, never at or after it', () => {
  for (const config of TIER_CONFIGS) {
    it(`P5 ${config}: stored at t0 with ttl T (by set or compute), reads return it and compute does not run for every t < t0 + T; at t >= t0 + T nothing is returned and compute runs`, async () => {
      const dir = tempDir('herdcache-p5');
      const clock = manualClock();
      const cache = createCache({ tiers: tiersFor(config, dir.path), clock, ttl: 60_000 });
      try {
        await fc.assert(
          fc.asyncProperty(ttlAndOffsets, modelValue, fc.boolean(), fc.constantFrom(1, 2, 10), async ([ttl, offsets], value, viaCompute, maxAgeFactor) => {
            await cache.clear();
            // A second instance on the same file reads what the shared tier holds, with an empty memory tier.
            const other = isShared(config) ? createCache({ tiers: tiersFor(config, dir.path), clock, ttl: 60_000 }) : undefined;
            try {
              const t0 = clock();
              const options = { ttl, maxAge: ttl * maxAgeFactor };
              if (viaCompute) await cache.compute('k', () => value, options);
              else await cache.set('k', value, options);
              const readers: Array<[string, Cache]> = other === undefined ? [['cache', cache]] : [['cache', cache], ['other instance', other]];
              for (const [i, offset] of offsets.entries()) {
                clock.set(t0 + offset);
                const expected = offset < ttl ? value : undefined;
                const at = `ttl ${ttl}, maxAge ${ttl * maxAgeFactor}, at t0 + ${offset}`;
                for (const [who, reader] of readers) {
                  assert.ok(isDeepStrictEqual(reader.getSync('k'), expected), `${who}.getSync ${at}: got ${show(reader.getSync('k'))}`);
                  assert.ok(isDeepStrictEqual(await reader.get('k'), expected), `${who}.get ${at}`);
                }
                if (i === offsets.length - 1) {
                  // Last instant only: a compute past expiry stores a new value.
                  let calls = 0;
                  const got = await cache.compute('k', () => {
                    calls++;
                    return 'recomputed';
                  }, { ttl });
                  assert.equal(calls, offset < ttl ? 0 : 1, `compute ${at} ran ${calls} times`);
                  assert.ok(isDeepStrictEqual(got, offset < ttl ? value : 'recomputed'), `compute ${at} returned ${show(got)}`);
                }
              }
            } finally {
              await other?.close();
            }
          }),
          propertyParams({ numRuns: 100 }),
        );
      } finally {
        await cache.close();
        dir.cleanup();
      }
    });
  }
});

/** Pipelines the failing compute runs through; the barrier ones take a lease. */
const PIPELINES: ReadonlyArray<[string, () => Policy[]]> = [
  ['no policy', () => []],
  ['barrier()', () => [barrier({ lease: 10_000, maxWait: 60_000 })]],
  ['coalesce() + barrier()', () => [coalesce(), barrier({ lease: 10_000, maxWait: 60_000 })]],
];

/** Resolves with the promise's outcome, or with 'timeout' after `ms` real milliseconds. */
async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<{ value: T } | { error: unknown } | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
  try {
    return await Promise.race([promise.then((value) => ({ value }), (error: unknown) => ({ error })), limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** The holder of a storage key's lease, asked the way a policy asks: through its host. */
async function leaseHolderOf(cache: Cache, storageKey: string): Promise<Lease | undefined> {
  let holder: Lease | undefined;
  const probe: Policy = { name: 'lease-probe', create: (host) => ({ async handle(call) { holder = await host.leaseHolder({ ...call, storageKey }); return 'probed'; } }) };
  await cache.compute('lease-probe', () => 'unused', { policies: [probe] });
  return holder;
}

describe('P6 a compute that throws', () => {
  for (const config of TIER_CONFIGS) {
    it(`P6 ${config}: a throwing compute stores nothing, releases every lease (the next compute under barrier() runs at once, no lease wait) and leaves the older value untouched`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.option(modelValue, { nil: undefined }),
          fc.integer({ min: 1, max: 1_000 }),
          fc.integer({ min: 0, max: 5_000 }),
          fc.constantFrom(...PIPELINES.keys()),
          fc.boolean(),
          async (older, ttl, pastExpiry, pipelineIndex, asyncThrow) => {
            const dir = tempDir('herdcache-p6');
            const clock = manualClock();
            const tiers = tiersFor(config, dir.path);
            const [pipelineName, makePolicies] = PIPELINES[pipelineIndex]!;
            const policies = makePolicies();
            const cache = createCache({ tiers, clock, ttl: 60_000, policies });
            try {
              // The older value stays stored (maxAge far away) but is stale when the compute runs.
              if (older !== undefined) await cache.set('k', older, { ttl, maxAge: 1_000_000 });
              clock.advance(ttl + pastExpiry);
              const before = rawEntries(tiers, 'k');
              const waitsBefore = cache.stats().leaseWaits;
              const failure = new Error('the compute failed');
              let seenStale: unknown = 'not called';
              const outcome = await settleWithin(cache.compute('k', async ({ stale }) => {
                seenStale = stale;
                if (asyncThrow) await new Promise((resolve) => setImmediate(resolve));
                throw failure;
              }), 2_000);
              const where = `${pipelineName}, older ${show(older)}`;
              assert.ok(outcome !== 'timeout' && 'error' in outcome && outcome.error === failure, `${where}: the compute did not reject with its function's error: ${show(outcome)}`);
              assert.ok(isDeepStrictEqual(seenStale, older), `${where}: the function saw stale ${show(seenStale)}`);
              // Stores nothing: every tier holds exactly what it held before, and nothing is readable.
              assert.ok(isDeepStrictEqual(rawEntries(tiers, 'k'), before), `${where}: the tiers changed: ${show(before)} -> ${show(rawEntries(tiers, 'k'))}`);
              assert.equal(cache.getSync('k'), undefined);
              assert.equal(await cache.get('k'), undefined);
              // Releases every lease.
              assert.equal(await leaseHolderOf(cache, '0::k'), undefined, `${where}: a lease on the key is still held`);
              let calls = 0;
              let staleSeenNext: unknown = 'not called';
              const next = cache.compute('k', ({ stale }) => {
                calls++;
                staleSeenNext = stale;
                return 'next';
              }, { policies: [barrier({ lease: 10_000, maxWait: 60_000 })] });
              const nextOutcome = await settleWithin(next, 2_000);
              if (nextOutcome === 'timeout') next.catch(() => undefined);
              assert.ok(nextOutcome !== 'timeout', `${where}: the next compute under barrier() waited: a lease was left behind`);
              assert.ok('value' in nextOutcome && nextOutcome.value === 'next', `${where}: the next compute gave ${show(nextOutcome)}`);
              assert.equal(calls, 1);
              assert.equal(cache.stats().leaseWaits, waitsBefore, `${where}: the next compute waited for a lease`);
              // The older value was left as it was: the next compute was handed it as its stale value.
              assert.ok(isDeepStrictEqual(staleSeenNext, older), `${where}: the next compute saw stale ${show(staleSeenNext)} instead of ${show(older)}`);
            } finally {
              await cache.close();
              dir.cleanup();
            }
          },
        ),
        propertyParams({ numRuns: 60, includeErrorInReport: true }),
      );
    });
  }
});
