// The per-process L1: bounded by entries and by bytes (never over), least recently used out
// first, evictions counted, expired entries never returned, and hits that copy nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodedSize } from '../../src/core/codec.js';
import { makeEntry, type CacheEntry } from '../../src/core/entry.js';
import { createCache, DEFAULT_MAX_ENTRIES, memoryTier, type Tier, type TierReport } from '../../src/index.js';
import { manualClock } from '../helpers/clock.js';

const T0 = 1_000_000;

function attached(tier: Tier, clock = manualClock(T0)): { tier: Tier; clock: typeof clock; reports: TierReport[] } {
  const reports: TierReport[] = [];
  tier.attach({ clock, report: (r) => reports.push(r) });
  return { tier, clock, reports };
}

const entry = (value: unknown, now = T0, ttl = 1_000): CacheEntry => makeEntry(value, now, ttl, ttl, 0);

/** Keys the tier holds right now (reading them refreshes their recency: call it last). */
function heldKeys(tier: Tier, candidates: readonly string[]): string[] {
  return candidates.filter((k) => tier.getSync!(k) !== undefined);
}

describe('memoryTier bounds', () => {
  it('never holds more than maxEntries', () => {
    const { tier, reports } = attached(memoryTier({ maxEntries: 5 }));
    for (let i = 0; i < 50; i++) {
      void tier.set(`k${i}`, entry(i));
      assert.ok(tier.size!() <= 5, `size ${tier.size!()} after ${i + 1} sets`);
    }
    assert.equal(tier.size!(), 5);
    assert.equal(reports.filter((r) => r.type === 'evict').length, 45);
    assert.ok(reports.every((r) => r.type === 'evict' && r.cause === 'size'));
  });

  it('evicts the least recently used entry, reads counting as use', () => {
    const { tier, reports } = attached(memoryTier({ maxEntries: 3 }));
    for (const k of ['a', 'b', 'c']) void tier.set(k, entry(k));
    tier.getSync!('a'); // a is now the most recently used; b the least
    void tier.set('d', entry('d'));
    assert.deepEqual(reports, [{ type: 'evict', key: 'b', cause: 'size' }]);
    assert.deepEqual(heldKeys(tier, ['a', 'b', 'c', 'd']), ['a', 'c', 'd']);
  });

  it('never holds more than maxBytes of encoded values', () => {
    const maxBytes = 1_000;
    const { tier, reports } = attached(memoryTier({ maxBytes }));
    const keys: string[] = [];
    for (let i = 0; i < 200; i++) {
      const value = 'x'.repeat(10 + ((i * 37) % 150));
      keys.push(`k${i}`);
      void tier.set(`k${i}`, entry(value), encodedSize(value));
      const held = keys.reduce((sum, k) => {
        const e = tier.getSync!(k);
        return e === undefined ? sum : sum + encodedSize(e.value);
      }, 0);
      assert.ok(held <= maxBytes, `${held} bytes held after ${i + 1} sets`);
    }
    assert.ok(reports.length > 0);
  });

  it('measures values itself when the caller passes no size', () => {
    const { tier } = attached(memoryTier({ maxBytes: 250 }));
    for (let i = 0; i < 10; i++) void tier.set(`k${i}`, entry('y'.repeat(100)));
    assert.equal(tier.size!(), 2, 'two values of ~102 bytes fit in 250 bytes, three do not');
  });

  it('keeps no copy of a value larger than the whole bound, and drops the older copy of that key', () => {
    const { tier } = attached(memoryTier({ maxBytes: 100 }));
    void tier.set('k', entry('small'));
    void tier.set('k', entry('z'.repeat(500)));
    assert.equal(tier.getSync!('k'), undefined, 'the old value must not be served in place of the new one');
    void tier.set('other', entry('fits'));
    assert.equal(tier.getSync!('other')?.value, 'fits');
  });

  it(`keeps ${DEFAULT_MAX_ENTRIES} entries when no bound is given`, () => {
    const { tier } = attached(memoryTier());
    for (let i = 0; i < DEFAULT_MAX_ENTRIES + 50; i++) void tier.set(`k${i}`, entry(i));
    assert.equal(tier.size!(), DEFAULT_MAX_ENTRIES);
  });

  it(`bounds only the bytes when only maxBytes is given, not the entries to ${DEFAULT_MAX_ENTRIES}`, () => {
    const { tier } = attached(memoryTier({ maxBytes: 1024 * 1024 }));
    for (let i = 0; i < DEFAULT_MAX_ENTRIES + 50; i++) void tier.set(`k${i}`, entry(i));
    assert.equal(tier.size!(), DEFAULT_MAX_ENTRIES + 50);
  });

  it('applies both bounds when both are given', () => {
    const { tier } = attached(memoryTier({ maxEntries: 3, maxBytes: 10_000 }));
    for (let i = 0; i < 10; i++) void tier.set(`k${i}`, entry(i));
    assert.equal(tier.size!(), 3);
    const bytes = attached(memoryTier({ maxEntries: 1_000, maxBytes: 250 })).tier;
    for (let i = 0; i < 10; i++) void bytes.set(`k${i}`, entry('y'.repeat(100)));
    assert.equal(bytes.size!(), 2);
  });

  it('counts its evictions in the cache stats and reports them as events', async () => {
    const cache = createCache({ tiers: [memoryTier({ maxEntries: 2 })] });
    const evicted: string[] = [];
    cache.on('evict', (e) => evicted.push(`${e.tier}:${e.key}:${e.cause}`));
    for (const k of ['a', 'b', 'c', 'd']) await cache.set(k, k);
    assert.equal(cache.stats().evictions, 2);
    assert.deepEqual(evicted, ['memory:a:size', 'memory:b:size']);
    await cache.delete('c');
    assert.equal(cache.stats().evictions, 2, 'a delete is not an eviction');
    await cache.close();
  });
});

describe('memoryTier expiry', () => {
  it('never returns an entry at or past its staleUntil', () => {
    const { tier, clock } = attached(memoryTier());
    void tier.set('k', makeEntry('v', T0, 10, 100, 0));
    clock.set(T0 + 99);
    assert.equal(tier.getSync!('k')?.value, 'v');
    assert.equal((tier.get('k') as CacheEntry | undefined)?.value, 'v');
    clock.set(T0 + 100);
    assert.equal(tier.getSync!('k'), undefined);
    assert.equal(tier.get('k'), undefined);
    assert.equal(tier.size!(), 0, 'an expired entry found on read is dropped');
  });

  it('uses the clock of the cache that attached it', async () => {
    const clock = manualClock(T0);
    const cache = createCache({ tiers: [memoryTier()], clock, ttl: 50 });
    await cache.set('k', 'v');
    clock.set(T0 + 50);
    assert.equal(cache.getSync('k'), undefined);
    await cache.close();
  });
});

describe('memoryTier hit path', () => {
  it('returns the very object it holds: no copy, no promise', () => {
    const { tier } = attached(memoryTier());
    const stored = entry({ big: [1, 2, 3] });
    void tier.set('k', stored);
    const first = tier.getSync!('k');
    assert.equal(first, stored);
    assert.equal(tier.getSync!('k'), first);
    assert.equal(tier.get('k'), stored, 'get answers synchronously too');
  });

  it('through the cache, every hit (getSync, get, compute) returns the same object reference', async () => {
    const cache = createCache({ tiers: [memoryTier()] });
    await cache.set('k', { nested: { list: [1, 2] } });
    const a = cache.getSync<object>('k');
    const b = cache.getSync<object>('k');
    const c = await cache.get<object>('k');
    const d = await cache.compute('k', () => ({ other: true }));
    assert.ok(a !== undefined);
    assert.equal(a, b);
    assert.equal(a, c);
    assert.equal(a, d);
    await cache.close();
  });

  it('set, delete and clear answer synchronously (no promise to await)', () => {
    const { tier } = attached(memoryTier());
    assert.equal(tier.set('k', entry(1)), undefined);
    assert.equal(tier.delete('k'), undefined);
    assert.equal(tier.clear(''), undefined);
  });
});
