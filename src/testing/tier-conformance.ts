// The contract every storage tier must honour (src/core/tier.ts), as one reusable suite:
// a tier (the built-ins, or a third party's) proves itself by calling runTierConformance with a
// factory, in a file run by node's test runner.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { makeEntry, type CacheEntry } from '../core/entry.js';
import type { Tier, TierReport } from '../core/tier.js';
import { manualClock, type ManualClock } from './clock.js';

/**
 * A tier built for one test, and how to remove what it left behind once it is closed.
 *
 * @example
 * ```ts
 * const fixture: TierFixture = { tier: myTier(), cleanup: () => rmSync(dir, { recursive: true }) };
 * ```
 */
export interface TierFixture {
  readonly tier: Tier;
  cleanup?(): void | Promise<void>;
}

/**
 * Builds a fresh, empty, unattached tier for each test.
 *
 * @example
 * ```ts
 * const make: MakeTier = () => ({ tier: memoryTier() });
 * ```
 */
export type MakeTier = () => TierFixture | Promise<TierFixture>;

const T0 = 1_000_000;

/**
 * Registers the conformance tests for one tier implementation: reads of missing keys, set/get
 * round trips of the whole entry record, overwrite, delete, clear(prefix), expiry at exactly
 * staleUntil, key limits, value fidelity, write order and close; for shared tiers, writes
 * decided against the change counter, and for machine tiers, the order of cluster versions.
 *
 * @example
 * ```ts
 * import { runTierConformance } from 'herdcache/testing';
 * runTierConformance('myTier', () => ({ tier: myTier() }));
 * ```
 */
export function runTierConformance(name: string, makeTier: MakeTier): void {
  describe(`tier conformance: ${name}`, () => {
    let fixture: TierFixture;
    let tier: Tier;
    let clock: ManualClock;
    let reports: TierReport[];

    beforeEach(async () => {
      fixture = await makeTier();
      tier = fixture.tier;
      clock = manualClock(T0);
      reports = [];
      tier.attach({ clock, report: (r) => reports.push(r) });
    });

    afterEach(async () => {
      await tier.close();
      await fixture.cleanup?.();
    });

    /** Reads through get() and, where the tier has it, getSync(), and checks they agree. */
    async function read(key: string): Promise<CacheEntry | undefined> {
      const viaGet = await tier.get(key);
      if (tier.getSync !== undefined) assert.deepStrictEqual(tier.getSync(key), viaGet, `getSync and get disagree on ${JSON.stringify(key)}`);
      return viaGet;
    }

    const entry = <T>(value: T, ttl = 1_000, maxAge = ttl): CacheEntry<T> => makeEntry(value, clock(), ttl, maxAge, 0);
    /** The entry record's own fields: a shared tier may carry its versions beside them. */
    const recordOf = (e: CacheEntry | undefined): CacheEntry | undefined =>
      e === undefined ? undefined : { value: e.value, storedAt: e.storedAt, freshUntil: e.freshUntil, staleUntil: e.staleUntil, delta: e.delta };

    it('describes itself: a name, a scope and a positive key limit', () => {
      assert.equal(typeof tier.name, 'string');
      assert.ok(tier.name.length > 0);
      assert.ok(['process', 'machine', 'cluster'].includes(tier.scope));
      assert.equal(typeof tier.maxKeyBytes, 'number');
      assert.ok(tier.maxKeyBytes > 0);
    });

    it('reads a key never written as a miss', async () => {
      assert.equal(await read('never-written'), undefined);
      assert.deepEqual(reports, []);
    });

    it('gives back the whole entry record that was set', async () => {
      const stored: CacheEntry = { value: { html: '<h1>hi</h1>' }, storedAt: T0, freshUntil: T0 + 100, staleUntil: T0 + 5_000, delta: 42 };
      await tier.set('page', stored);
      assert.deepStrictEqual(recordOf(await read('page')), stored);
    });

    it('replaces value and timing on overwrite', async () => {
      await tier.set('k', entry('old', 100, 200));
      clock.advance(10);
      const newer = entry('new', 5_000, 9_000);
      await tier.set('k', newer);
      assert.deepStrictEqual(recordOf(await read('k')), newer);
    });

    it('applies writes to one key in call order', async () => {
      await Promise.all([1, 2, 3, 4, 5].map((n) => tier.set('order', entry(n))));
      assert.equal((await read('order'))?.value, 5);
    });

    it('keeps distinct keys apart', async () => {
      const keys = Array.from({ length: 40 }, (_, i) => `key:${i}`);
      await Promise.all(keys.map((k) => tier.set(k, entry(k.toUpperCase()))));
      for (const k of keys) assert.equal((await read(k))?.value, k.toUpperCase());
      if (tier.size !== undefined) assert.equal(tier.size(), keys.length);
    });

    it('deletes one key, leaves the others, and accepts deleting a missing key', async () => {
      await tier.set('a', entry(1));
      await tier.set('b', entry(2));
      await tier.delete('a');
      await tier.delete('never-written');
      assert.equal(await read('a'), undefined);
      assert.equal((await read('b'))?.value, 2);
      if (tier.size !== undefined) assert.equal(tier.size(), 1);
    });

    it('clear(prefix) removes exactly the keys starting with the prefix', async () => {
      // Keys sorting just before, inside and just after the prefix range, and the prefix itself.
      const doomed = ['1:a:', '1:a:x', '1:a:y:z', '1:a:\u00e9'];
      const kept = ['0::z', '1:a', '1:a;', '1:ab', '3:a:b:c', 'z'];
      for (const k of [...doomed, ...kept]) await tier.set(k, entry(k));
      await tier.clear('1:a:');
      for (const k of doomed) assert.equal(await read(k), undefined, `${k} should be cleared`);
      for (const k of kept) assert.equal((await read(k))?.value, k, `${k} should be kept`);
    });

    it("clear('') removes every key", async () => {
      for (const k of ['0::a', '1:x:b', 'plain']) await tier.set(k, entry(k));
      await tier.clear('');
      for (const k of ['0::a', '1:x:b', 'plain']) assert.equal(await read(k), undefined);
      if (tier.size !== undefined) assert.equal(tier.size(), 0);
    });

    it('keeps returning an entry past freshUntil until staleUntil: freshness is judged by the cache', async () => {
      await tier.set('k', entry('v', 10, 100));
      clock.advance(10);
      assert.equal((await read('k'))?.value, 'v');
      clock.advance(89);
      assert.equal((await read('k'))?.value, 'v');
    });

    it('never returns an entry at or past its staleUntil', async () => {
      await tier.set('k', entry('v', 100, 100));
      clock.set(T0 + 99);
      assert.equal((await read('k'))?.value, 'v');
      clock.set(T0 + 100);
      assert.equal(await read('k'), undefined);
      clock.set(T0 + 5_000);
      assert.equal(await read('k'), undefined);
    });

    it('treats an entry stored already expired as a miss', async () => {
      await tier.set('late', { value: 1, storedAt: T0 - 10, freshUntil: T0 - 5, staleUntil: T0, delta: 0 });
      assert.equal(await read('late'), undefined);
    });

    it('accepts any string key: separators, spaces, unicode, astral characters', async () => {
      const keys = ['a:b:c', 'with space', 'caf\u00e9', '\u65e5\u672c', 'emoji \u{1F600}', '\u0000nul', 'x'.repeat(500)];
      for (const k of keys) await tier.set(k, entry(k));
      for (const k of keys) assert.equal((await read(k))?.value, k);
    });

    it('accepts a key of exactly maxKeyBytes UTF-8 bytes, multi-byte characters included', async () => {
      const limit = Number.isFinite(tier.maxKeyBytes) ? tier.maxKeyBytes : 4_096;
      const ascii = 'k'.repeat(limit);
      const multi = '\u00e9'.repeat(Math.floor(limit / 2)) + 'k'.repeat(limit % 2);
      assert.equal(Buffer.byteLength(multi), limit);
      await tier.set(ascii, entry('ascii'));
      await tier.set(multi, entry('multi'));
      assert.equal((await read(ascii))?.value, 'ascii');
      assert.equal((await read(multi))?.value, 'multi');
    });

    it('refuses a key over maxKeyBytes without crashing and without storing anything', async (t) => {
      if (!Number.isFinite(tier.maxKeyBytes)) {
        t.skip('no key limit');
        return;
      }
      const tooLong = '\u00e9'.repeat(Math.ceil((tier.maxKeyBytes + 1) / 2));
      await assert.rejects(async () => tier.set(tooLong, entry('v')));
      if (tier.size !== undefined) assert.equal(tier.size(), 0);
    });

    it('shared tiers: a read reports the change counter, and a write conditional on it is refused once the key changed (set, delete or clear)', async () => {
      // A process tier has no change counter: the cache's own ledger decides for it.
      if (tier.scope === 'process') return;
      assert.ok(tier.read !== undefined, 'a shared tier reports its change counter');
      const first = await tier.read('k');
      assert.equal(first.entry, undefined);
      const written = await tier.set('k', entry('a'), undefined, { unchangedSince: first.observed });
      assert.equal(written?.applied, true, 'nothing changed since the read');
      const afterSet = await tier.read('k');
      assert.ok(afterSet.observed > first.observed, 'a write moves the counter');
      assert.equal((await tier.set('k', entry('late'), undefined, { unchangedSince: first.observed }))?.applied, false, 'a write after the observation refuses an older basis');
      assert.equal((await read('k'))?.value, 'a');
      await tier.delete('k');
      assert.equal((await tier.set('k', entry('late'), undefined, { unchangedSince: afterSet.observed }))?.applied, false, 'the tombstone refuses a compute that started before the delete');
      assert.equal(await read('k'), undefined);
      const afterDelete = await tier.read('k');
      assert.equal((await tier.set('k', entry('b'), undefined, { unchangedSince: afterDelete.observed }))?.applied, true, 'a compute that started after the delete stores');
      const beforeClear = await tier.read('1:n:k');
      await tier.clear('1:n:');
      assert.equal((await tier.set('1:n:k', entry('late'), undefined, { unchangedSince: beforeClear.observed }))?.applied, false, 'the clear record refuses it too');
      assert.equal((await tier.set('0::other', entry('o'), undefined, { unchangedSince: beforeClear.observed }))?.applied, true, 'a key outside the cleared prefix is not affected');
    });

    it('machine tiers: a write carrying a cluster version never replaces one of a later cluster version', async () => {
      // Cluster versions are kept by the tiers under a cluster tier.
      if (tier.scope !== 'machine') return;
      assert.equal((await tier.set('k', entry('v5'), undefined, { clusterVersion: 5 }))?.applied, true);
      assert.equal((await tier.set('k', entry('v3'), undefined, { clusterVersion: 3 }))?.applied, false, 'an older cluster write arriving late');
      assert.equal((await tier.delete('k', { clusterVersion: 4 }))?.applied, false, 'an older cluster delete does not drop a newer value');
      assert.equal((await read('k'))?.value, 'v5');
      assert.equal((await tier.delete('k', { clusterVersion: 6 }))?.applied, true);
      assert.equal((await tier.set('k', entry('v5'), undefined, { clusterVersion: 5 }))?.applied, false, 'the tombstone keeps the order');
      assert.equal(await read('k'), undefined);
    });

    it('gives back values unchanged', async () => {
      const values: Record<string, unknown> = {
        string: 'h\u00e9llo \u{1F600}',
        number: 3.25,
        nan: Number.NaN,
        infinity: Number.NEGATIVE_INFINITY,
        boolean: false,
        null: null,
        bigint: 2n ** 80n,
        date: new Date(1_700_000_000_123),
        map: new Map<unknown, unknown>([['a', 1], [2, { b: [3] }]]),
        set: new Set(['x', 1]),
        bytes: new Uint8Array([0, 1, 255]),
        buffer: Buffer.from('buf'),
        floats: new Float64Array([1.5, -2]),
        regexp: /a+b/gi,
        nested: { a: [1, { b: undefined, c: 'd' }], e: { f: { g: true } } },
        array: [1, 'two', [3]],
      };
      for (const [k, v] of Object.entries(values)) await tier.set(k, entry(v));
      for (const [k, v] of Object.entries(values)) assert.deepStrictEqual((await read(k))?.value, v, k);
    });
  });
}
