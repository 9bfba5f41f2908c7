// The Cache engine with an injected clock: reads, writes, expiry, compute, memoize, stats,
// close and namespaces, on each tier configuration (L1 only, L2 only, L1 over L2).
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { open } from 'lmdb';
import {
  barrier,
  CacheClosedError,
  createCache,
  HerdcacheError,
  InvalidOptionError,
  lmdbTier,
  memoryTier,
  StorageError,
  type Cache,
  type CacheStats,
  type ComputeContext,
  type Tier,
} from '../../src/index.js';
import { memoizeKey } from '../../src/core/keys.js';
import { manualClock, type ManualClock } from '../helpers/clock.js';
import { tempDir } from '../helpers/tmp.js';
import { writeRaw } from '../helpers/lmdb-raw.js';

const T0 = 1_000_000;
const CONFIGS = ['L1', 'L2', 'L1+L2'] as const;
type Config = (typeof CONFIGS)[number];

interface Harness {
  readonly cache: Cache;
  readonly clock: ManualClock;
  readonly path: string;
  /** The memory tier object, when the configuration has one. */
  readonly memory: Tier | undefined;
}

/** A cache on its own temp LMDB path, closed and removed when the test ends. */
function harness(t: TestContext, config: Config = 'L1+L2', options: { ttl?: number; namespace?: string; memory?: Tier } = {}): Harness {
  const dir = tempDir('herdcache-engine');
  const clock = manualClock(T0);
  const memory = config === 'L2' ? undefined : (options.memory ?? memoryTier());
  const tiers: Tier[] = [];
  if (memory !== undefined) tiers.push(memory);
  if (config !== 'L1') tiers.push(lmdbTier({ path: dir.path }));
  const cache = createCache({ tiers, clock, ttl: options.ttl ?? 1_000, ...(options.namespace === undefined ? {} : { namespace: options.namespace }) });
  t.after(async () => {
    await cache.close();
    dir.cleanup();
  });
  return { cache, clock, path: dir.path, memory };
}

/** The counters that `action` changed, as { name: delta } (hits as `hits.<tier>`, a policy's own as `<policy>.<counter>`). */
async function statsDelta(cache: Cache, action: () => unknown): Promise<Record<string, number>> {
  const flat = (s: CacheStats): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(s)) {
      if (k === 'hits') for (const [tier, n] of Object.entries(v as Record<string, number>)) out[`hits.${tier}`] = n;
      else if (k === 'policies') {
        for (const [policy, own] of Object.entries(v as CacheStats['policies'])) for (const [name, n] of Object.entries(own)) out[`${policy}.${name}`] = n;
      } else out[k] = v as number;
    }
    return out;
  };
  const before = flat(cache.stats());
  await action();
  const after = flat(cache.stats());
  const delta: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v !== before[k]) delta[k] = v - (before[k] ?? 0);
  return delta;
}

describe('getSync / get / set / delete / has / clear', () => {
  for (const config of CONFIGS) {
    it(`${config}: getSync returns the value itself, never a promise, and undefined on a miss`, async (t) => {
      const { cache } = harness(t, config);
      assert.equal(cache.getSync('missing'), undefined);
      await cache.set('k', { n: 1 });
      const value = cache.getSync<{ n: number }>('k');
      assert.ok(!(value instanceof Promise));
      assert.deepEqual(value, { n: 1 });
    });

    it(`${config}: set, get, has, delete`, async (t) => {
      const { cache } = harness(t, config);
      assert.equal(await cache.get('k'), undefined);
      assert.equal(await cache.has('k'), false);
      await cache.set('k', 'v1');
      assert.equal(await cache.get('k'), 'v1');
      assert.equal(await cache.has('k'), true);
      await cache.set('k', 'v2');
      assert.equal(await cache.get('k'), 'v2');
      assert.equal(cache.getSync('k'), 'v2');
      await cache.delete('k');
      assert.equal(await cache.get('k'), undefined);
      assert.equal(cache.getSync('k'), undefined);
      assert.equal(await cache.has('k'), false);
      await cache.delete('never-set');
    });

    it(`${config}: clear removes every key`, async (t) => {
      const { cache } = harness(t, config);
      for (const k of ['a', 'b', 'c']) await cache.set(k, k);
      await cache.clear();
      for (const k of ['a', 'b', 'c']) {
        assert.equal(cache.getSync(k), undefined);
        assert.equal(await cache.get(k), undefined);
      }
      await cache.set('a', 'again');
      assert.equal(cache.getSync('a'), 'again');
    });

    it(`${config}: a value expires exactly at storedAt + ttl (fresh one ms before, gone at)`, async (t) => {
      const { cache, clock } = harness(t, config, { ttl: 100 });
      await cache.set('k', 'v');
      // Kept by the tiers past its ttl: only the engine's freshness check can hide it.
      await cache.set('kept', 'v', { maxAge: 10_000 });
      clock.set(T0 + 99);
      for (const key of ['k', 'kept']) {
        assert.equal(cache.getSync(key), 'v');
        assert.equal(await cache.get(key), 'v');
        assert.equal(await cache.has(key), true);
      }
      clock.set(T0 + 100);
      for (const key of ['k', 'kept']) {
        assert.equal(cache.getSync(key), undefined);
        assert.equal(await cache.get(key), undefined);
        assert.equal(await cache.has(key), false);
      }
    });

    it(`${config}: a per-call ttl overrides the cache's`, async (t) => {
      const { cache, clock } = harness(t, config, { ttl: 1_000 });
      await cache.set('short', 's', { ttl: 50 });
      await cache.set('default', 'd');
      clock.set(T0 + 49);
      assert.equal(cache.getSync('short'), 's');
      clock.set(T0 + 50);
      assert.equal(cache.getSync('short'), undefined);
      assert.equal(cache.getSync('default'), 'd');
      clock.set(T0 + 999);
      assert.equal(cache.getSync('default'), 'd');
      clock.set(T0 + 1_000);
      assert.equal(cache.getSync('default'), undefined);
    });

    it(`${config}: maxAge keeps an expired value as the stale one until storedAt + maxAge`, async (t) => {
      const { cache, clock } = harness(t, config, { ttl: 100 });
      await cache.set('k', 'old', { ttl: 100, maxAge: 1_000 });
      clock.set(T0 + 100);
      assert.equal(cache.getSync('k'), undefined, 'not fresh any more: traditional ttl does not serve it');
      const seen: unknown[] = [];
      const fn = ({ stale }: ComputeContext<string>): string => {
        seen.push(stale);
        return 'new';
      };
      clock.set(T0 + 999);
      assert.equal(await cache.compute('k', fn, { ttl: 1 }), 'new');
      await cache.set('k2', 'old', { ttl: 100, maxAge: 1_000 });
      clock.set(T0 + 999 + 1_000);
      await cache.compute('k2', fn);
      assert.deepEqual(seen, ['old', undefined]);
    });
  }
});

describe('reading through the tiers', () => {
  it('copies an L2 hit into L1 keeping the entry its own expiry (getSync)', async (t) => {
    const { cache, clock, memory } = harness(t, 'L1+L2', { ttl: 100 });
    await cache.set('k', 'v');
    memory!.delete('k');
    clock.set(T0 + 30);
    assert.deepEqual(await statsDelta(cache, () => assert.equal(cache.getSync('k'), 'v')), { 'hits.lmdb': 1 });
    const copy = memory!.getSync!('k');
    assert.equal(copy?.storedAt, T0);
    assert.equal(copy?.freshUntil, T0 + 100);
    assert.deepEqual(await statsDelta(cache, () => assert.equal(cache.getSync('k'), 'v')), { 'hits.memory': 1 });
    clock.set(T0 + 100);
    assert.deepEqual(await statsDelta(cache, () => assert.equal(cache.getSync('k'), undefined)), { misses: 1 });
  });

  it('copies an L2 hit into L1 keeping the entry its own expiry (get)', async (t) => {
    const { cache, clock, memory } = harness(t, 'L1+L2', { ttl: 100 });
    await cache.set('k', 'v', { ttl: 100, maxAge: 500 });
    memory!.delete('k');
    clock.set(T0 + 60);
    assert.deepEqual(await statsDelta(cache, async () => assert.equal(await cache.get('k'), 'v')), { 'hits.lmdb': 1 });
    const copy = memory!.getSync!('k');
    assert.deepEqual([copy?.freshUntil, copy?.staleUntil], [T0 + 100, T0 + 500]);
    assert.deepEqual(await statsDelta(cache, async () => assert.equal(await cache.get('k'), 'v')), { 'hits.memory': 1 });
  });

  it('serves a hit from L1 without reading L2', async (t) => {
    const { cache, memory, path } = harness(t, 'L1+L2');
    await cache.set('k', 'v');
    // Remove it from L2 behind the cache's back: an L1 hit must not notice.
    await writeRaw(path, '0::k', undefined);
    assert.equal(cache.getSync('k'), 'v');
    assert.ok(memory!.getSync!('k') !== undefined);
  });
});

describe('compute', () => {
  for (const config of CONFIGS) {
    it(`${config}: runs fn once on a miss with { key, signal }, and not on a hit`, async (t) => {
      const { cache } = harness(t, config);
      const contexts: Array<ComputeContext<string>> = [];
      const fn = (ctx: ComputeContext<string>): Promise<string> => {
        contexts.push(ctx);
        return Promise.resolve(`value of ${ctx.key}`);
      };
      assert.equal(await cache.compute('page', fn), 'value of page');
      assert.equal(contexts.length, 1);
      assert.equal(contexts[0]!.key, 'page');
      assert.ok(contexts[0]!.signal instanceof AbortSignal);
      assert.equal(contexts[0]!.signal.aborted, false);
      assert.equal(await cache.compute('page', fn), 'value of page');
      assert.equal(cache.getSync('page'), 'value of page');
      assert.equal(contexts.length, 1);
      assert.equal(cache.stats().computes, 1);
    });

    it(`${config}: a compute that throws stores nothing and rejects with the error`, async (t) => {
      const { cache } = harness(t, config);
      const boom = new Error('boom');
      await assert.rejects(cache.compute('k', () => { throw boom; }), (err) => err === boom);
      await assert.rejects(cache.compute('k', () => Promise.reject(boom)), (err) => err === boom);
      assert.equal(cache.getSync('k'), undefined);
      assert.equal(await cache.get('k'), undefined);
      assert.equal(cache.stats().computeErrors, 2);
      assert.equal(cache.stats().computes, 0);
      assert.equal(await cache.compute('k', () => 'ok'), 'ok');
    });
  }

  it('recomputes after the value expires', async (t) => {
    const { cache, clock } = harness(t, 'L1+L2', { ttl: 100 });
    let runs = 0;
    const fn = (): number => ++runs;
    assert.equal(await cache.compute('k', fn), 1);
    clock.set(T0 + 99);
    assert.equal(await cache.compute('k', fn), 1);
    clock.set(T0 + 100);
    assert.equal(await cache.compute('k', fn), 2);
  });

  it('aborts the signal of a running compute on close and stores nothing', async (t) => {
    const { cache, path } = harness(t, 'L1+L2');
    let signal: AbortSignal | undefined;
    const pending = cache.compute('slow', (ctx) => {
      signal = ctx.signal;
      return new Promise<string>((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)));
    });
    await new Promise((resolve) => setImmediate(resolve));
    // Observed before the close that rejects it, or the rejection would be unhandled meanwhile.
    const rejected = assert.rejects(pending, { code: 'E_ABORTED' });
    await cache.close();
    assert.equal(signal?.aborted, true);
    await rejected;
    const raw = open({ path, maxDbs: 12 });
    assert.equal(raw.openDB('entries', { encoding: 'binary' }).getBinary('0::slow'), undefined);
    await raw.close();
  });
});

describe('memoize', () => {
  it('derives the same key whatever the key order of object arguments', async (t) => {
    const { cache } = harness(t);
    let runs = 0;
    const search = cache.memoize(function search(query: { term: string; page: number; filters: { a: number; b: number } }) {
      runs++;
      return `${query.term}:${query.page}`;
    });
    assert.equal(await search({ term: 'x', page: 1, filters: { a: 1, b: 2 } }), 'x:1');
    assert.equal(await search({ filters: { b: 2, a: 1 }, page: 1, term: 'x' }), 'x:1');
    assert.equal(runs, 1);
    assert.equal(await search({ term: 'x', page: 2, filters: { a: 1, b: 2 } }), 'x:2');
    assert.equal(runs, 2);
    assert.equal(cache.getSync(memoizeKey('search', [{ page: 1, term: 'x', filters: { a: 1, b: 2 } }])), 'x:1');
  });

  it('shares results between caches by name, not by function identity', async (t) => {
    const dir = tempDir('herdcache-memo');
    const a = createCache({ lmdb: { path: dir.path } });
    const b = createCache({ lmdb: { path: dir.path } });
    t.after(async () => {
      await a.close();
      await b.close();
      dir.cleanup();
    });
    let runs = 0;
    const load = (id: number, opts: { deep: boolean; lang: string }): string => `${++runs}:${id}:${opts.lang}`;
    assert.equal(await a.memoize(load, { name: 'user' })(1, { deep: true, lang: 'en' }), '1:1:en');
    assert.equal(await b.memoize((id: number, opts: { lang: string; deep: boolean }) => load(id, opts), { name: 'user' })(1, { lang: 'en', deep: true }), '1:1:en');
    assert.equal(runs, 1);
  });

  it('refuses an anonymous function without a name, with what to do', (t) => {
    const { cache } = harness(t, 'L1');
    assert.throws(() => cache.memoize((x: number) => x), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.equal(err.code, 'E_INVALID_OPTION');
      assert.equal(err.option, 'memoize.name');
      assert.match(err.message, /pass \{ name \}/);
      return true;
    });
    assert.doesNotThrow(() => cache.memoize((x: number) => x, { name: 'identity' }));
  });

  it('uses the key option to derive keys', async (t) => {
    const { cache } = harness(t);
    let runs = 0;
    const getUser = cache.memoize((id: number, _trace: object) => ({ id, run: ++runs }), { name: 'user', key: (id) => String(id) });
    assert.deepEqual(await getUser(7, { a: 1 }), { id: 7, run: 1 });
    assert.deepEqual(await getUser(7, { other: 'trace' }), { id: 7, run: 1 });
    assert.deepEqual(cache.getSync('memo:user:7'), { id: 7, run: 1 });
    await assert.rejects(
      cache.memoize((f: () => void) => f, { name: 'fn' })(() => undefined),
      { code: 'E_INVALID_KEY' },
    );
  });

  it('passes ttl on to the computes', async (t) => {
    const { cache, clock } = harness(t, 'L1+L2', { ttl: 1_000 });
    let runs = 0;
    const f = cache.memoize(function f(x: number) { runs++; return x * 2; }, { ttl: 10 });
    await f(1);
    clock.set(T0 + 10);
    await f(1);
    assert.equal(runs, 2);
  });
});

describe('stats', () => {
  it('counts hits per tier, misses, computes, sets and deletes', async (t) => {
    const { cache, memory } = harness(t, 'L1+L2');
    assert.deepEqual(await statsDelta(cache, () => cache.set('a', 1)), { sets: 1 });
    assert.deepEqual(await statsDelta(cache, () => cache.getSync('a')), { 'hits.memory': 1 });
    assert.deepEqual(await statsDelta(cache, () => cache.get('a')), { 'hits.memory': 1 });
    memory!.delete('a');
    assert.deepEqual(await statsDelta(cache, () => cache.get('a')), { 'hits.lmdb': 1 });
    assert.deepEqual(await statsDelta(cache, () => cache.getSync('nope')), { misses: 1 });
    assert.deepEqual(await statsDelta(cache, () => cache.get('nope')), { misses: 1 });
    assert.deepEqual(await statsDelta(cache, () => cache.compute('c', () => 3)), { misses: 1, computes: 1 });
    assert.deepEqual(await statsDelta(cache, () => cache.compute('c', () => 3)), { 'hits.memory': 1 });
    assert.deepEqual(await statsDelta(cache, () => cache.compute('e', () => { throw new Error('x'); }).catch(() => undefined)), { misses: 1, computeErrors: 1 });
    assert.deepEqual(await statsDelta(cache, () => cache.delete('a')), { deletes: 1 });
    const s = cache.stats();
    assert.deepEqual(Object.keys(s.hits).sort(), ['lmdb', 'memory']);
    for (const counter of ['evictions', 'corrupt', 'errors'] as const) assert.equal(s[counter], 0);
  });

  it('counts evictions of the memory bound', async (t) => {
    const { cache } = harness(t, 'L1', { memory: memoryTier({ maxEntries: 2 }) });
    await cache.set('a', 1);
    await cache.set('b', 2);
    assert.deepEqual(await statsDelta(cache, () => cache.set('c', 3)), { sets: 1, evictions: 1 });
    assert.equal(cache.getSync('a'), undefined);
  });

  it('counts corrupt entries as misses', async (t) => {
    const { cache, path } = harness(t, 'L1+L2');
    await writeRaw(path, '0::bad', Uint8Array.from([0xc1, 0xc1, 0xc1]));
    assert.deepEqual(await statsDelta(cache, () => assert.equal(cache.getSync('bad'), undefined)), { corrupt: 1, misses: 1 });
  });

  it('counts tier errors, keeps serving from the other tiers, and rejects a failed write with StorageError', async (t) => {
    const failures: string[] = [];
    const broken: Tier = {
      name: 'broken',
      scope: 'machine',
      maxKeyBytes: 100,
      attach: () => undefined,
      get: () => Promise.reject(new Error('server down')),
      set: () => Promise.reject(new Error('disk full')),
      delete: () => Promise.reject(new Error('server down')),
      clear: () => undefined,
      close: () => Promise.resolve(),
    };
    const memory = memoryTier();
    const cache = createCache({ tiers: [memory, broken], clock: manualClock(T0) });
    cache.on('tier-error', (e) => failures.push(`${e.tier}:${e.operation}`));
    t.after(() => cache.close());
    assert.deepEqual(await statsDelta(cache, () => cache.get('k')), { errors: 1, misses: 1 });
    assert.deepEqual(failures, ['broken:get']);
    await assert.rejects(cache.set('k', 'v'), (err: unknown) => {
      assert.ok(err instanceof StorageError);
      assert.equal(err.code, 'E_STORAGE');
      assert.equal(err.key, 'k');
      return true;
    });
    assert.equal(memory.getSync!('k'), undefined, 'no partial copy stays in L1 after a failed write');
    assert.equal(cache.stats().sets, 0);
    await assert.rejects(cache.delete('k'), (err: unknown) => {
      assert.ok(err instanceof StorageError);
      assert.match(err.message, /delete failed/, 'the message says which operation failed');
      assert.equal(err.key, 'k');
      assert.equal((err.cause as Error).message, 'server down', 'the tier\'s own error is the cause');
      return true;
    });
    // A compute still answers its caller when the store fails; the value is just not cached.
    assert.equal(await cache.compute('c', () => 'computed'), 'computed');
  });
});

describe('close', () => {
  it('a close that lands at any point of a lease acquisition leaves no lease behind: the grant is given back or held by a call that gives it back', async () => {
    // The store's grant resolves; close() is then called after `hops` more microtasks, for every
    // offset through the acquisition, so that it also falls between the grant and its handoff.
    for (let hops = 0; hops < 40; hops++) {
      const held = new Map<string, string>();
      let cache: Cache | undefined;
      let closing: Promise<void> | undefined;
      const leases = {
        scope: 'machine' as const,
        acquire: async (key: string, token: string, ttl: number) => {
          held.set(key, token);
          let chain = Promise.resolve();
          for (let i = 0; i < hops; i++) chain = chain.then(() => undefined);
          void chain.then(() => { closing = cache!.close(); });
          return { acquired: true as const, lease: { key, token, expiresAt: Date.now() + ttl }, tookOver: false };
        },
        release: async (key: string, token: string) => held.get(key) === token && held.delete(key),
        holder: (key: string) => (held.has(key) ? { key, token: held.get(key)!, expiresAt: Infinity } : undefined),
      };
      const tier: Tier = {
        name: 'leasing',
        scope: 'machine',
        maxKeyBytes: 100,
        leases,
        attach: () => undefined,
        get: () => undefined,
        set: () => undefined,
        delete: () => undefined,
        clear: () => undefined,
        close: () => Promise.resolve(),
      };
      cache = createCache({ tiers: [tier], policies: [barrier()] });
      await cache.compute('k', () => 'v').catch(() => undefined);
      await closing;
      assert.deepEqual([...held.keys()], [], `close after ${hops} microtasks left the lease held`);
    }
  });

  it('makes every method fail with CacheClosedError: getSync throws, the others reject', async (t) => {
    const { cache } = harness(t, 'L1+L2');
    await cache.set('k', 'v');
    const memoized = cache.memoize(function double(x: number) { return x * 2; });
    await cache.close();
    assert.equal(cache.closed, true);
    assert.throws(() => cache.getSync('k'), CacheClosedError);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['get', () => cache.get('k')],
      ['has', () => cache.has('k')],
      ['set', () => cache.set('k', 1)],
      ['delete', () => cache.delete('k')],
      ['clear', () => cache.clear()],
      ['compute', () => cache.compute('k', () => 1)],
      ['memoized', () => memoized(1)],
    ];
    for (const [name, call] of calls) {
      let pending: Promise<unknown> | undefined;
      assert.doesNotThrow(() => { pending = call(); }, `${name} must reject, not throw`);
      await assert.rejects(pending!, (err: unknown) => {
        assert.ok(err instanceof CacheClosedError, name);
        assert.equal(err.code, 'E_CACHE_CLOSED');
        assert.match(err.message, /createCache/);
        return true;
      });
    }
    assert.throws(() => cache.memoize(function f() { return 1; }), CacheClosedError);
  });

  it('is idempotent', async (t) => {
    const { cache } = harness(t, 'L1+L2');
    const first = cache.close();
    const second = cache.close();
    assert.equal(first, second);
    await first;
    await cache.close();
  });

  it('closes at the end of an `await using` scope', async (t) => {
    const dir = tempDir('herdcache-using');
    t.after(dir.cleanup);
    let escaped: Cache | undefined;
    {
      await using cache = createCache({ lmdb: { path: dir.path } });
      await cache.set('k', 'v');
      escaped = cache;
      assert.equal(cache.closed, false);
    }
    assert.equal(escaped.closed, true);
    assert.throws(() => escaped.getSync('k'), CacheClosedError);
    assert.equal(typeof escaped[Symbol.asyncDispose], 'function');
    // The value was committed before the scope closed the cache.
    const reopened = createCache({ lmdb: { path: dir.path } });
    assert.equal(reopened.getSync('k'), 'v');
    await reopened.close();
  });
});

describe('namespaces', () => {
  it('a process tier\'s key limit is the caller\'s key alone: the namespace prefix counts only on shared tiers', async (t) => {
    const tier = { ...memoryTier(), maxKeyBytes: 10 } as Tier;
    const cache = createCache({ tiers: [tier], namespace: 'users' });
    t.after(() => cache.close());
    await cache.set('0123456789', 'ten bytes');
    assert.equal(cache.getSync('0123456789'), 'ten bytes');
    await assert.rejects(cache.set('0123456789a', 'eleven'), (err: unknown) => err instanceof HerdcacheError && err.code === 'E_INVALID_KEY');
  });

  it('namespace "a" + key "b:c" and namespace "a:b" + key "c" never collide on one LMDB path', async (t) => {
    const dir = tempDir('herdcache-ns');
    const clock = manualClock(T0);
    const a = createCache({ namespace: 'a', memory: false, lmdb: { path: dir.path }, clock });
    const ab = createCache({ namespace: 'a:b', memory: false, lmdb: { path: dir.path }, clock });
    const a1 = createCache({ namespace: 'a', lmdb: { path: dir.path }, clock });
    t.after(async () => {
      await Promise.all([a.close(), ab.close(), a1.close()]);
      dir.cleanup();
    });
    await a.set('b:c', 'in a');
    await ab.set('c', 'in a:b');
    assert.equal(a.getSync('b:c'), 'in a');
    assert.equal(ab.getSync('c'), 'in a:b');
    assert.equal(a.getSync('c'), undefined);
    assert.equal(ab.getSync('b:c'), undefined);
    // Another cache of the same namespace sees the same entries.
    assert.equal(a1.getSync('b:c'), 'in a');
    assert.equal(a1.getSync('c'), undefined);
  });

  it('clear() only clears its own namespace, on L2 and in the other caches of the path', async (t) => {
    const dir = tempDir('herdcache-ns-clear');
    const a = createCache({ namespace: 'a', lmdb: { path: dir.path } });
    const ab = createCache({ namespace: 'a:b', lmdb: { path: dir.path } });
    const root = createCache({ lmdb: { path: dir.path } });
    t.after(async () => {
      await Promise.all([a.close(), ab.close(), root.close()]);
      dir.cleanup();
    });
    await a.set('b:c', 1);
    await a.set('x', 2);
    await ab.set('c', 3);
    await root.set('x', 4);
    ab.getSync('c');
    await a.clear();
    assert.equal(a.getSync('b:c'), undefined);
    assert.equal(a.getSync('x'), undefined);
    assert.equal(ab.getSync('c'), 3);
    assert.equal(root.getSync('x'), 4);
    const fresh = createCache({ namespace: 'a:b', memory: false, lmdb: { path: dir.path } });
    assert.equal(fresh.getSync('c'), 3, 'still on L2');
    await fresh.close();
  });
});
