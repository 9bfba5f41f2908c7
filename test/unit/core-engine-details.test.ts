// The engine's own rules, with simple tiers of the test's making: key limits per tier scope, the
// walk that picks the newest stale entry, per-call durations, tier reports turned into counters
// and events, and a tier that fails to read or to close.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CacheEntry } from '../../src/core/entry.js';
import { makeEntry } from '../../src/core/entry.js';
import { CacheClosedError, InvalidKeyError, InvalidOptionError } from '../../src/core/errors.js';
import type { ProcessTier, SharedTier, Tier, TierHost, TierReport } from '../../src/core/tier.js';
import { Cache, createCache, memoryTier, type CacheEvents, type ComputeCall, type Policy } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';

/** A shared tier over a Map: no change counter, no leases, async reads only. */
interface MapTier extends SharedTier {
  readonly data: Map<string, CacheEntry>;
  host(): TierHost;
}

function mapTier(name: string, options: { maxKeyBytes?: number; failGet?: boolean; failClose?: boolean } = {}): MapTier {
  const data = new Map<string, CacheEntry>();
  let attached: TierHost | undefined;
  return {
    name, scope: 'cluster', maxKeyBytes: options.maxKeyBytes ?? 1_000, data,
    host: () => attached!,
    attach(host) { attached = host; },
    async get(key) {
      if (options.failGet === true) throw new Error(`${name} cannot read`);
      return data.get(key);
    },
    async set(key, entry) { data.set(key, entry); },
    async delete(key) { data.delete(key); },
    async clear(prefix) { for (const key of [...data.keys()]) if (key.startsWith(prefix)) data.delete(key); },
    async close() { if (options.failClose === true) throw new Error(`${name} cannot close`); },
  };
}

/** Records the call each compute brings into the pipeline, so a test can see what the walk found. */
function recorder(): { policy: Policy; calls: ComputeCall[] } {
  const calls: ComputeCall[] = [];
  return { calls, policy: { name: 'recorder', create: () => ({ handle(call, next) { calls.push(call); return next(); } }) } };
}

function events<E extends keyof CacheEvents>(cache: Cache, name: E): Array<CacheEvents[E]> {
  const seen: Array<CacheEvents[E]> = [];
  cache.on(name, ((event: CacheEvents[E]) => seen.push(event)) as never);
  return seen;
}

describe('key limits', () => {
  it('a shared tier limits the key after the namespace prefix; the process tier limits the key itself', async () => {
    // namespacePrefix('ns') is '2:ns:', 5 bytes.
    const cache = createCache({ namespace: 'ns', tiers: [memoryTier(), mapTier('remote', { maxKeyBytes: 15 })] });
    try {
      await cache.set('k'.repeat(10), 1);
      assert.equal(await cache.get('k'.repeat(10)), 1);
      await assert.rejects(cache.set('k'.repeat(11), 1), InvalidKeyError);
      assert.throws(() => cache.getSync('k'.repeat(11)), InvalidKeyError);
    } finally {
      await cache.close();
    }
  });

  it('refuses a namespace so long that no key fits, and takes one that leaves a single byte', async () => {
    assert.throws(() => createCache({ namespace: 'abcdefghij', tiers: [mapTier('remote', { maxKeyBytes: 14 })] }), (error: unknown) => {
      assert.ok(error instanceof InvalidOptionError);
      assert.equal(error.message, 'namespace: is so long that no key fits: shorten it');
      return true;
    });
    const cache = createCache({ namespace: 'abcdefghij', tiers: [mapTier('remote', { maxKeyBytes: 15 })] });
    try {
      await cache.set('k', 1);
      await assert.rejects(cache.set('kk', 1), InvalidKeyError);
    } finally {
      await cache.close();
    }
  });
});

describe('the read walk', () => {
  it('starts a compute from the newest stale entry of any tier', async () => {
    const clock = manualClock(10_000);
    const memory = memoryTier();
    const near = mapTier('near');
    const far = mapTier('far');
    const spy = recorder();
    const cache = new Cache({ clock, tiers: [memory, near, far], policies: [spy.policy], ttl: 1_000 });
    try {
      memory.set('k', makeEntry('memory', 1_000, 1_000, 60_000, 0));
      near.data.set('0::k', makeEntry('near', 3_000, 1_000, 60_000, 0));
      far.data.set('0::k', makeEntry('far', 2_000, 1_000, 60_000, 0));
      const stale: unknown[] = [];
      await cache.compute('k', ({ stale: s }) => { stale.push(s); return 'new'; });
      near.data.set('0::j', makeEntry('near', 2_000, 1_000, 60_000, 0));
      far.data.set('0::j', makeEntry('far', 4_000, 1_000, 60_000, 0));
      memory.set('j', makeEntry('memory', 3_000, 1_000, 60_000, 0));
      await cache.compute('j', ({ stale: s }) => { stale.push(s); return 'new'; });
      assert.deepEqual(stale, ['near', 'far']);
      assert.equal(spy.calls.length, 2);
    } finally {
      await cache.close();
    }
  });

  it('copies a shared hit of getSync into memory and counts it for the tier that answered', async () => {
    const memory = memoryTier();
    const lmdbLike: Tier = { ...mapTier('sync'), scope: 'machine', getSync: (key) => (key === '0::k' ? makeEntry('shared', Date.now(), 60_000, 60_000, 0) : undefined) };
    const cache = createCache({ tiers: [memory, lmdbLike] });
    try {
      assert.equal(cache.getSync('k'), 'shared');
      assert.equal(memory.getSync?.('k')?.value, 'shared');
      assert.equal(cache.getSync('absent'), undefined);
      const stats = cache.stats();
      assert.deepEqual([stats.hits['memory'], stats.hits['sync'], stats.misses], [0, 1, 1]);
      assert.equal(cache.getSync('k'), 'shared');
      assert.equal(cache.stats().hits['memory'], 1, 'the copy answers next');
    } finally {
      await cache.close();
    }
  });

  it('a miss reads the process tier once: the hit path\'s look is reused, and an expired entry is dropped', async () => {
    const clock = manualClock(10_000);
    const memory = memoryTier();
    const reads = { peek: 0, get: 0 };
    const counted: ProcessTier = {
      ...memory,
      attach: (host) => memory.attach(host),
      getSync: (key) => (reads.get++, memory.getSync(key)),
      peekSync: (key) => (reads.peek++, memory.peekSync!(key)),
    };
    const cache = new Cache({ clock, tiers: [counted], ttl: 1_000 });
    try {
      const misses: Array<[string, () => unknown]> = [
        ['getSync', () => cache.getSync('absent')],
        ['get', () => cache.get('absent')],
        ['compute', () => cache.compute('absent', () => 1)],
      ];
      for (const [how, miss] of misses) {
        reads.peek = reads.get = 0;
        await miss();
        assert.deepEqual(reads, { peek: 1, get: 0 }, how);
      }
      await cache.set('old', 'v', { ttl: 10, maxAge: 100 });
      clock.advance(100);
      reads.peek = reads.get = 0;
      assert.equal(cache.getSync('old'), undefined);
      assert.deepEqual(reads, { peek: 1, get: 1 }, 'an expired entry is read again so the tier drops it');
      assert.equal(memory.peekSync!('old'), undefined, 'dropped');
    } finally {
      await cache.close();
    }
  });

  it('counts a tier that cannot read as a tier error and serves from the next one', async () => {
    const far = mapTier('far');
    const cache = createCache({ tiers: [memoryTier(), mapTier('broken', { failGet: true }), far] });
    const errors = events(cache, 'tier-error');
    try {
      far.data.set('0::k', makeEntry('far', Date.now(), 60_000, 60_000, 0));
      assert.equal(await cache.get('k'), 'far');
      assert.equal(errors.length, 1);
      assert.deepEqual([errors[0]?.tier, errors[0]?.operation, (errors[0]?.error as Error).message], ['broken', 'get', 'broken cannot read']);
      assert.equal(cache.stats().errors, 1);
      assert.equal(cache.stats().hits['far'], 1);
    } finally {
      await cache.close();
    }
  });

  it("a policy's second look at the shared tiers is not counted as another hit or miss", async () => {
    const remote = mapTier('remote');
    let looked: unknown = 'not yet';
    const looksAgain: Policy = {
      name: 'looks-again',
      create: (host) => ({
        async handle(call, next) {
          looked = (await host.readShared(call))?.value;
          remote.data.set(call.storageKey, makeEntry('landed', Date.now(), 60_000, 60_000, 0));
          looked = [looked, (await host.readShared(call))?.value];
          return next();
        },
      }),
    };
    const cache = createCache({ tiers: [memoryTier(), remote], policies: [looksAgain] });
    try {
      assert.equal(await cache.compute('k', () => 'computed'), 'computed');
      assert.deepEqual(looked, [undefined, 'landed']);
      const stats = cache.stats();
      assert.deepEqual([stats.misses, stats.hits['remote'], stats.hits['memory']], [1, 0, 0]);
    } finally {
      await cache.close();
    }
  });

  it('has() judges the entry, not its value: a cached undefined is there, an expired one is not', async () => {
    const clock = manualClock(10_000);
    const cache = new Cache({ clock, tiers: [memoryTier()], ttl: 1_000 });
    try {
      await cache.set('k', undefined);
      assert.equal(await cache.has('k'), true);
      clock.advance(1_000);
      assert.equal(await cache.has('k'), false);
      assert.equal(await cache.has('never'), false);
    } finally {
      await cache.close();
    }
  });
});

describe('per-call durations', () => {
  it('a per-call ttl keeps the grace period the cache has, and brings its own when it has none', async () => {
    const memory = memoryTier();
    const clock = manualClock(0);
    const graced = new Cache({ clock, tiers: [memory], ttl: 1_000, maxAge: 5_000 });
    const plainMemory = memoryTier();
    const plain = new Cache({ clock, tiers: [plainMemory], ttl: 1_000 });
    try {
      await graced.set('short', 1, { ttl: 2_000 });
      await graced.set('long', 1, { ttl: 8_000 });
      await graced.set('default', 1);
      await plain.set('short', 1, { ttl: 2_000 });
      await plain.set('shorter', 1, { ttl: 500 });
      const window = (tier: Tier, key: string) => [tier.getSync?.(key)?.freshUntil, tier.getSync?.(key)?.staleUntil];
      assert.deepEqual(window(memory, 'short'), [2_000, 5_000]);
      assert.deepEqual(window(memory, 'long'), [8_000, 8_000]);
      assert.deepEqual(window(memory, 'default'), [1_000, 5_000]);
      assert.deepEqual(window(plainMemory, 'short'), [2_000, 2_000]);
      assert.deepEqual(window(plainMemory, 'shorter'), [500, 500]);
    } finally {
      await graced.close();
      await plain.close();
    }
  });

  it('refuses a per-call grand timeout shorter than the ttl, and takes one equal to it', async () => {
    const cache = createCache({ tiers: [memoryTier()], ttl: 1_000 });
    try {
      await assert.rejects(cache.set('k', 1, { ttl: 2_000, maxAge: 1_999 }), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError);
        assert.equal(error.message, 'maxAge: the grand timeout (1999 ms) must not be shorter than ttl (2000 ms)');
        return true;
      });
      await assert.rejects(cache.compute('k', () => 1, { maxAge: 999 }), /grand timeout \(999 ms\) must not be shorter than ttl \(1000 ms\)/);
      await cache.set('k', 1, { ttl: 2_000, maxAge: 2_000 });
      assert.equal(await cache.get('k'), 1);
    } finally {
      await cache.close();
    }
  });
});

describe('tier reports and close', () => {
  it('turns each kind of tier report into its counter and event, naming the tier', async () => {
    const tier = mapTier('remote');
    const cache = createCache({ tiers: [memoryTier(), tier] });
    const seen = {
      corrupt: events(cache, 'corrupt-entry'), file: events(cache, 'corrupt-file'),
      evict: events(cache, 'evict'), error: events(cache, 'tier-error'),
    };
    try {
      const failure = new Error('disk');
      const reports: TierReport[] = [
        { type: 'corrupt', key: '0::k' },
        { type: 'corrupt-file', path: '/data/c.mdb', reason: 'bad header', quarantinedTo: '/data/c.mdb.bad' },
        { type: 'evict', key: '0::j', cause: 'size' },
        { type: 'error', operation: 'set', error: failure },
      ];
      for (const report of reports) tier.host().report(report);
      assert.deepEqual(seen.corrupt, [{ key: '0::k', tier: 'remote' }]);
      assert.deepEqual(seen.file, [{ tier: 'remote', path: '/data/c.mdb', reason: 'bad header', quarantinedTo: '/data/c.mdb.bad' }]);
      assert.deepEqual(seen.evict, [{ key: '0::j', tier: 'remote', cause: 'size' }]);
      assert.deepEqual(seen.error, [{ tier: 'remote', operation: 'set', error: failure }]);
      const stats = cache.stats();
      assert.deepEqual([stats.corrupt, stats.corruptFiles, stats.evictions, stats.errors], [1, 1, 1, 1]);
    } finally {
      await cache.close();
    }
  });

  it('reports a tier that fails to close and still closes the others; close is one promise', async () => {
    let closedAfter = false;
    const after: Tier = { ...mapTier('after'), close: async () => { closedAfter = true; } };
    const cache = createCache({ tiers: [memoryTier(), mapTier('stuck', { failClose: true }), after] });
    const errors = events(cache, 'tier-error');
    const first = cache.close();
    assert.equal(cache.close(), first);
    await first;
    assert.equal(closedAfter, true);
    assert.deepEqual(errors.map((e) => [e.tier, e.operation, (e.error as Error).message]), [['stuck', 'close', 'stuck cannot close']]);
    assert.throws(() => cache.getSync('k'), CacheClosedError);
    await assert.rejects(cache.get('k'), CacheClosedError);
    await assert.rejects(cache.has('k'), CacheClosedError);
  });

  it('counts sets and deletes, and memory hits of the hot paths in the memory tier', async () => {
    const cache = createCache({ tiers: [memoryTier()] });
    try {
      await cache.set('k', 1);
      await cache.delete('k');
      await cache.set('k', 2);
      assert.equal(cache.getSync('k'), 2);
      assert.equal(await cache.get('k'), 2);
      assert.equal(await cache.compute('k', () => 3), 2);
      const stats = cache.stats();
      assert.deepEqual([stats.sets, stats.deletes, stats.hits['memory']], [2, 1, 3]);
    } finally {
      await cache.close();
    }
  });
});
