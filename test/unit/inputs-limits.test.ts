// Every option is checked, every limit is safe, every wait is bounded by a clock that cannot jump:
// each case here was accepted, crashed the process, or waited past its bound before.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  barrier,
  createCache,
  HerdcacheError,
  InvalidOptionError,
  lmdbTier,
  memoryTier,
  redisTier,
  serveStale,
  timeouts,
  xfetch,
  type Tier,
} from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';

/** Asserts a synchronous call throws a HerdcacheError with `code` and a message matching `pattern`. */
function refuses(run: () => unknown, code: string, pattern?: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof HerdcacheError, `expected a HerdcacheError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return true;
  });
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

describe('durations a timer cannot honour', () => {
  const tooLong = 2 ** 31;
  it('are refused wherever a timer waits for them, naming the limit', () => {
    refuses(() => timeouts({ hard: tooLong }), 'E_INVALID_OPTION', /2147483647/);
    refuses(() => timeouts({ soft: tooLong }), 'E_INVALID_OPTION');
    refuses(() => barrier({ lease: tooLong }), 'E_INVALID_OPTION');
    refuses(() => barrier({ maxWait: tooLong }), 'E_INVALID_OPTION');
    refuses(() => barrier({ poll: { longest: tooLong } }), 'E_INVALID_OPTION');
    refuses(() => serveStale({ maxAge: 1_000, lease: tooLong }), 'E_INVALID_OPTION');
    refuses(() => redisTier({ commandTimeout: tooLong }), 'E_INVALID_OPTION');
    refuses(() => redisTier({ connectTimeout: tooLong }), 'E_INVALID_OPTION');
    refuses(() => redisTier({ breaker: { cooldown: tooLong } }), 'E_INVALID_OPTION');
    refuses(() => lmdbTier({ syncInterval: tooLong }), 'E_INVALID_OPTION');
    refuses(() => lmdbTier({ sweepInterval: tooLong }), 'E_INVALID_OPTION');
  });

  it('up to the limit they are honoured: a hard timeout of 2^31 - 1 ms does not fire at once', async () => {
    const dir = tempDir('herdcache-long-timer');
    const cache = createCache({ lmdb: { path: dir.path }, ttl: 60_000, maxAge: 120_000 });
    try {
      const value = await cache.compute('k', async () => { await delay(30); return 'computed'; }, { policies: [timeouts({ hard: 2 ** 31 - 1 })] });
      assert.equal(value, 'computed');
    } finally {
      await cache.close();
      dir.cleanup();
    }
  });

  it('a ttl longer than any timer is fine: it is compared with the clock, never waited for', async () => {
    const cache = createCache({ lmdb: false, ttl: 2 ** 40 });
    try {
      await cache.set('k', 1);
      assert.equal(cache.getSync('k'), 1);
      await assert.rejects(cache.set('k', 1, { ttl: 2 ** 60 }), (e: unknown) => e instanceof HerdcacheError && e.code === 'E_INVALID_OPTION');
    } finally {
      await cache.close();
    }
  });
});

describe('option values that crashed or misled', () => {
  it('an LMDB bound the platform cannot map is refused with the limit, never a signal', () => {
    for (const maxBytes of [2 ** 46, 5e13, 1e15, 1e300]) refuses(() => lmdbTier({ maxBytes }), 'E_INVALID_OPTION', /16 TiB/);
  });

  it('two caches of one process on one path with different bounds are refused; the same bound is fine', async () => {
    const dir = tempDir('herdcache-bounds');
    const first = createCache({ lmdb: { path: dir.path, maxBytes: 64 * 1024 * 1024 } });
    try {
      refuses(() => createCache({ lmdb: { path: dir.path, maxBytes: 1024 * 1024 * 1024 } }), 'E_INVALID_OPTION', /already open in this process with maxBytes 67108864/);
      const same = createCache({ lmdb: { path: dir.path, maxBytes: 64 * 1024 * 1024 }, namespace: 'other' });
      await same.close();
    } finally {
      await first.close();
      dir.cleanup();
    }
  });

  it('a tier object belongs to one cache: a second attach is refused, and namespaces never meet on any tier', async () => {
    const dir = tempDir('herdcache-one-owner');
    const memory = memoryTier();
    const lmdb = lmdbTier({ path: dir.path });
    const a = createCache({ tiers: [memory, lmdb], namespace: 'tenantA' });
    try {
      refuses(() => createCache({ tiers: [memory], namespace: 'tenantB' }), 'E_STORAGE', /already attached/);
      refuses(() => createCache({ tiers: [lmdb], namespace: 'tenantB' }), 'E_STORAGE', /already attached/);
      const b = createCache({ lmdb: { path: dir.path }, namespace: 'tenantB' });
      try {
        await a.set('secret', 'A-secret');
        assert.equal(a.getSync('secret'), 'A-secret');
        assert.equal(b.getSync('secret'), undefined);
        assert.equal(await b.get('secret'), undefined);
        assert.equal(await b.has('secret'), false);
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
      dir.cleanup();
    }
  });

  it('factories given null or a wrong type refuse it with E_INVALID_OPTION, never a TypeError, naming the option that is wrong', () => {
    const factories: Array<[string, () => unknown, string]> = [
      ['barrier(null)', () => barrier(null as never), 'barrier'],
      ['xfetch(null)', () => xfetch(null as never), 'xfetch'],
      ['timeouts(null)', () => timeouts(null as never), 'timeouts'],
      ['timeouts()', () => timeouts(), 'timeouts'],
      ['memoryTier(null)', () => memoryTier(null as never), 'memoryTier'],
      ['lmdbTier(null)', () => lmdbTier(null as never), 'lmdbTier'],
      ['barrier(5)', () => barrier(5 as never), 'barrier'],
      ['serveStale(null)', () => serveStale(null as never), 'serveStale'],
      ['serveStale()', () => serveStale(undefined as never), 'serveStale'],
      ["createCache({ memory: 5 })", () => createCache({ memory: 5 as never, lmdb: false }), 'memory'],
      ["createCache({ lmdb: 'x' })", () => createCache({ lmdb: 'x' as never }), 'lmdb'],
      ['createCache({ tiers: 5 })', () => createCache({ tiers: 5 as never }), 'tiers'],
    ];
    for (const [name, make, option] of factories) {
      assert.throws(make, (e: unknown) => e instanceof InvalidOptionError && e.code === 'E_INVALID_OPTION' && e.option.startsWith(option) && e.message.startsWith(`${e.option}: `), name);
    }
  });

  it('a tier that does not implement the contract is refused when the cache is built, naming what is missing', () => {
    const partial = { ...memoryTier(), getSync: undefined } as unknown as Tier;
    refuses(() => createCache({ tiers: [partial] }), 'E_INVALID_OPTION', /missing getSync/);
    refuses(() => createCache({ tiers: [{ name: 'x', scope: 'machine', maxKeyBytes: 10, get: () => undefined } as unknown as Tier] }), 'E_INVALID_OPTION', /missing attach, set, delete, clear, close/);
  });

  it('a namespace with a lone surrogate is refused: it would meet another one on Redis', () => {
    refuses(() => createCache({ lmdb: false, namespace: 'x\ud800' }), 'E_INVALID_OPTION', /well-formed/);
  });

  it('an LMDB path that is a file, has a NUL, or lies under /proc is refused with a typed error, at once', () => {
    const dir = tempDir('herdcache-bad-path');
    try {
      const file = join(dir.path, 'a-file');
      writeFileSync(file, 'not a directory');
      refuses(() => createCache({ lmdb: { path: file } }), 'E_INVALID_OPTION', /not a directory/);
      refuses(() => createCache({ lmdb: { path: join(file, 'below') } }), 'E_INVALID_OPTION', /not a directory/);
      refuses(() => createCache({ lmdb: { path: '/dev/null' } }), 'E_INVALID_OPTION', /not a directory/);
      refuses(() => lmdbTier({ path: `${dir.path}/a\0b` }), 'E_INVALID_OPTION', /NUL/);
      refuses(() => createCache({ lmdb: { path: '/proc/self/herdcache-test' } }), 'E_STORAGE');
    } finally {
      dir.cleanup();
    }
  });
});

describe('calls that gave wrong answers', () => {
  it("memoize's key function must return a non-empty string: anything else would map every call to one key", async () => {
    const cache = createCache({ lmdb: false });
    try {
      const byObject = cache.memoize(async (id: number) => `user ${id}`, { name: 'user', key: (id) => ({ id }) as never });
      await assert.rejects(byObject(1), (e: unknown) => e instanceof HerdcacheError && e.code === 'E_INVALID_KEY');
      const byNumber = cache.memoize(async (id: number) => `user ${id}`, { name: 'user2', key: (id) => id as never });
      await assert.rejects(byNumber(2), (e: unknown) => e instanceof HerdcacheError && e.code === 'E_INVALID_KEY');
      const good = cache.memoize(async (id: number) => `user ${id}`, { name: 'user3', key: (id) => String(id) });
      assert.equal(await good(1), 'user 1');
      assert.equal(await good(2), 'user 2');
    } finally {
      await cache.close();
    }
  });

  it('has() is true for a cached undefined: it is a documented value', async () => {
    const dir = tempDir('herdcache-has');
    const cache = createCache({ lmdb: { path: dir.path } });
    const lmdbOnly = createCache({ memory: false, lmdb: { path: dir.path }, namespace: '' });
    try {
      await cache.set('nothing', undefined);
      assert.equal(await cache.has('nothing'), true);
      assert.equal(await lmdbOnly.has('nothing'), true, 'through LMDB too');
      assert.equal(await cache.has('never-set'), false);
    } finally {
      await lmdbOnly.close();
      await cache.close();
      dir.cleanup();
    }
  });

  it('many computes at once print no MaxListenersExceededWarning, and none is left registered after', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => { warnings.push(w); };
    process.on('warning', onWarning);
    const dir = tempDir('herdcache-listeners');
    const cache = createCache({ lmdb: { path: dir.path } });
    try {
      const gate = deferred();
      // Distinct keys: every one of them is a compute running at once.
      const running = Array.from({ length: 64 }, (_, i) => cache.compute(`k${i}`, async () => { await gate.promise; return i; }));
      await delay(50);
      gate.resolve();
      await Promise.all(running);
      await delay(10);
      assert.deepEqual(warnings.map((w) => w.name), []);
    } finally {
      process.off('warning', onWarning);
      await cache.close();
      dir.cleanup();
    }
  });
});

describe('waits bounded by one deadline on a clock that cannot jump', () => {
  it("barrier's maxWait holds for a waiter in the holder's own process", async () => {
    const cache = createCache({ lmdb: false, policies: [barrier({ lease: 60_000, maxWait: 300 })] });
    const gate = deferred<string>();
    let holderDone = false;
    try {
      const holder = cache.compute('k', () => gate.promise).then((v) => { holderDone = true; return v; });
      // The holder finishes well after maxWait: a waiter bounded by anything longer gets its value instead.
      const finishing = setTimeout(() => gate.resolve('first'), 2_500);
      await delay(20);
      await assert.rejects(cache.compute('k', () => 'second'), (e: unknown) => e instanceof HerdcacheError && e.code === 'E_LEASE_WAIT_TIMEOUT');
      clearTimeout(finishing);
      assert.equal(holderDone, false, 'the waiter gave up while the holder still ran: maxWait, not the lease, bounded it');
      gate.resolve('first');
      assert.equal(await holder, 'first');
    } finally {
      await cache.close();
    }
  });

  it('a wall clock stepped back does not stretch maxWait', async () => {
    const dir = tempDir('herdcache-clock-step');
    let offset = 0;
    const clock = (): number => Date.now() + offset;
    const a = createCache({ lmdb: { path: dir.path }, clock, policies: [barrier({ lease: 60_000, maxWait: 500 })] });
    const b = createCache({ lmdb: { path: dir.path }, namespace: '', clock, policies: [barrier({ lease: 60_000, maxWait: 500 })], memory: {} });
    const gate = deferred<string>();
    let holderDone = false;
    try {
      const holder = a.compute('k', () => gate.promise).then((v) => { holderDone = true; return v; });
      const finishing = setTimeout(() => gate.resolve('a'), 2_500);
      await delay(20);
      const waiting = b.compute('k', () => 'b');
      await delay(50);
      offset = -5_000;
      await assert.rejects(waiting, (e: unknown) => e instanceof HerdcacheError && e.code === 'E_LEASE_WAIT_TIMEOUT');
      assert.equal(holderDone, false, 'the waiter gave up on time although the wall clock went back');
      clearTimeout(finishing);
      gate.resolve('a');
      assert.equal(await holder, 'a');
    } finally {
      offset = 0;
      await b.close();
      await a.close();
      dir.cleanup();
    }
  });

  it('close() while a lease request is in flight leaves no lease behind', async () => {
    const dir = tempDir('herdcache-close-lease');
    const lmdb = lmdbTier({ path: dir.path });
    const leases = lmdb.leases!;
    const acquire = leases.acquire.bind(leases);
    const inFlight = deferred();
    const proceed = deferred();
    (leases as { acquire: typeof acquire }).acquire = async (key, token, ttl) => {
      inFlight.resolve();
      await proceed.promise;
      return acquire(key, token, ttl);
    };
    const cache = createCache({ tiers: [memoryTier(), lmdb], policies: [barrier()] });
    const computing = cache.compute('k', () => 'v');
    const outcome = computing.then(() => 'resolved', (e: unknown) => (e instanceof HerdcacheError ? e.code : String(e)));
    await inFlight.promise;
    const closing = cache.close();
    proceed.resolve();
    await closing;
    assert.equal(await outcome, 'E_ABORTED');
    const check = createCache({ lmdb: { path: dir.path } });
    try {
      assert.equal(await check.compute('k', () => 'after', { policies: [barrier({ maxWait: 200 })] }), 'after', 'nobody holds the lease');
    } finally {
      await check.close();
      dir.cleanup();
    }
  });
});
