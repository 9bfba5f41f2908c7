// What every stampede policy must do, whoever wrote it, as one reusable suite: a policy (the
// built-ins, or a user's) proves itself by calling runPolicyConformance with a factory, in a file
// run by node's test runner. Each test builds a cache whose pipeline is the policy with a probe
// inside it, which counts the calls that reach it and asks the host about the key's lease.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Cache } from '../core/cache.js';
import { HerdcacheError } from '../core/errors.js';
import type { ComputeCall, Policy, PolicyHost } from '../core/policy.js';
import type { Tier } from '../core/tier.js';
import { memoryTier } from '../tiers/memory/tier.js';
import { manualClock, type ManualClock } from './clock.js';

/**
 * The tiers a policy is tested over, built for each test, and how to remove what they left.
 *
 * @example
 * ```ts
 * const over: PolicyTiers = () => { const dir = mkdtempSync(join(tmpdir(), 'p-')); return { tiers: [memoryTier(), lmdbTier({ path: dir })], cleanup: () => rmSync(dir, { recursive: true }) }; };
 * ```
 */
export type PolicyTiers = () => { readonly tiers: readonly Tier[]; cleanup?(): void };

/**
 * How {@link runPolicyConformance} tests a policy.
 *
 * @example
 * ```ts
 * runPolicyConformance('mine', () => mine(), { tiers: overLmdb, bound: 2_000 });
 * ```
 */
export interface PolicyConformanceOptions {
  /** The tiers of each test's cache. Default: a memory tier alone. */
  readonly tiers?: PolicyTiers;
  /** Longest any caller may take to settle, and any lease to be given back, ms. Default 10 000. */
  readonly bound?: number;
}

const TTL = 1_000;
const MAX_AGE = 60_000;
/** No test waits longer than this for anything, by default: a policy that hangs a caller fails, it does not stall the run. */
const BOUND = 10_000;

/** Settles with the promise, or rejects once `bound` ms passed without it settling. */
function bounded<T>(bound: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${bound} ms`)), bound);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

async function eventually(bound: number, condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + bound;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** The innermost stage of every tested pipeline: it counts what reaches it, per call. */
function probe() {
  const reached = new Map<ComputeCall, number>();
  let host: PolicyHost | undefined;
  const policy: Policy = {
    name: 'conformance-probe',
    create(h) {
      host = h;
      return { handle: (call, next) => (reached.set(call, (reached.get(call) ?? 0) + 1), next()) };
    },
  };
  return { policy, reached, leaseHolder: (storageKey: string) => host!.leaseHolder({ key: storageKey, storageKey } as ComputeCall) };
}

/**
 * Registers the conformance tests for one policy: a cold compute answers with the function's
 * value and stores it; a stage calls next at most once per call; a compute that throws reaches
 * its caller and leaves no lease; concurrent callers all settle, with a computed value or a
 * HerdcacheError (serveStale's ColdCacheError); a stale entry is served or replaced, never an error; after close nothing is
 * stored; no caller waits without bound. `makePolicy` builds a fresh policy for each test.
 *
 * @example
 * ```ts
 * import { runPolicyConformance } from 'herdcache/testing';
 * runPolicyConformance('impatientBarrier', () => impatientBarrier(50));
 * ```
 */
export function runPolicyConformance(name: string, makePolicy: () => Policy, options: PolicyConformanceOptions = {}): void {
  const over = options.tiers ?? ((): ReturnType<PolicyTiers> => ({ tiers: [memoryTier()] }));
  const bound = options.bound ?? BOUND;
  const within = <T>(promise: Promise<T>, what: string): Promise<T> => bounded(bound, promise, what);
  const until = (condition: () => boolean | Promise<boolean>, what: string): Promise<void> => eventually(bound, condition, what);
  describe(`policy conformance: ${name}`, () => {
    let clock: ManualClock;
    let cache: Cache;
    let inner: ReturnType<typeof probe>;
    let cleanup: (() => void) | undefined;

    beforeEach(() => {
      clock = manualClock();
      inner = probe();
      const built = over();
      cleanup = built.cleanup;
      // A fixed draw: a policy that draws (xfetch) neither always nor never triggers by chance.
      cache = new Cache({ tiers: built.tiers, clock, random: () => 0.5, ttl: TTL, maxAge: MAX_AGE, policies: [makePolicy(), inner.policy] });
    });

    afterEach(async () => {
      await cache.close();
      cleanup?.();
    });

    const leaseIsFree = async (key: string): Promise<void> => until(async () => (await inner.leaseHolder(`0::${key}`)) === undefined, `the lease of ${key} is given back`);
    const atMostOnce = (): void => {
      for (const [call, times] of inner.reached) assert.ok(times <= 1, `next() reached the stage inside ${times} times for one call of ${call.key}`);
    };

    it('answers a cold compute with its function\'s value, stores it, and gives the lease back', async () => {
      let runs = 0;
      assert.equal(await within(cache.compute('k', () => { runs++; return 'v'; }), 'a cold compute'), 'v');
      assert.equal(runs, 1);
      assert.equal(await cache.get('k'), 'v', 'the value is stored');
      assert.equal(await within(cache.compute('k', () => { runs++; return 'again'; }), 'a fresh compute'), 'v', 'a fresh value is answered without computing');
      await leaseIsFree('k');
      atMostOnce();
    });

    it('lets a compute that throws reach its caller, stores nothing, and gives the lease back', async () => {
      const failure = new Error('backend down');
      await assert.rejects(within(cache.compute('k', () => { throw failure; }), 'a throwing compute'), (error: unknown) => error === failure);
      assert.equal(await cache.has('k'), false);
      await leaseIsFree('k');
      assert.equal(await within(cache.compute('k', () => 'recovered'), 'the compute after a failure'), 'recovered', 'a failure is not kept');
      atMostOnce();
    });

    it('settles every concurrent caller of a key, with a computed value or a documented refusal', async () => {
      let runs = 0;
      const callers = Array.from({ length: 8 }, () => cache.compute('k', async () => { runs++; await new Promise((resolve) => setTimeout(resolve, 5)); return `v${runs}`; }));
      const results = await within(Promise.allSettled(callers), 'eight concurrent callers');
      for (const result of results) {
        if (result.status === 'fulfilled') assert.match(String(result.value), /^v[1-8]$/);
        else assert.ok(result.reason instanceof HerdcacheError, `a caller failed with ${String(result.reason)}, not a HerdcacheError with a code`);
      }
      assert.ok(results.some((r) => r.status === 'fulfilled'), 'at least one caller gets a value');
      assert.ok(runs >= 1 && runs <= 8);
      await leaseIsFree('k');
      atMostOnce();
    });

    it('serves a stale entry or replaces it, never fails for it, and computes it at most once', async () => {
      await cache.set('k', 'stale', { ttl: 10, maxAge: MAX_AGE });
      clock.advance(20);
      let runs = 0;
      const result = await within(cache.compute('k', () => { runs++; return 'new'; }), 'a compute over a stale entry');
      assert.ok(result === 'stale' || result === 'new', `answered ${String(result)}`);
      await leaseIsFree('k');
      await until(() => cache.getSync('k') === 'new' || runs === 0, 'a refresh, if one started, lands');
      assert.ok(runs <= 1, `computed ${runs} times`);
      atMostOnce();
    });

    it('stores nothing once the cache closed, and the held caller settles', async () => {
      let release: () => void = () => {};
      let started = false;
      const held = cache.compute('k', () => new Promise<string>((resolve) => { started = true; release = () => resolve('late'); }));
      const settled = held.then(() => 'value', () => 'error');
      await until(() => started, 'the compute starts');
      await within(cache.close(), 'close');
      release();
      assert.equal(await within(settled, 'the caller of a compute cut by close'), 'error');
      await assert.rejects(cache.get('k'), { code: 'E_CACHE_CLOSED' });
    });
  });
}
