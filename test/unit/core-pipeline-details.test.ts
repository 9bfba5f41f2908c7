// How a pipeline is composed and run: what is refused at composition (with which message), how
// a policy's own failures are reported, the terminal traditional-TTL step and next() called twice.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HerdcacheError, InvalidOptionError, PolicyConflictError, PolicyContractError } from '../../src/core/errors.js';
import { makeEntry } from '../../src/core/entry.js';
import { composePipeline } from '../../src/core/pipeline.js';
import type { ComputeCall, Policy, PolicyHost, Stage } from '../../src/core/policy.js';
import { coalesce, createCache, memoryTier } from '../../src/index.js';

const NOW = 10_000;
/** Composition only reads the host's clock, in the terminal step. */
const host = { now: () => NOW } as unknown as PolicyHost;
const hosts = { base: host, forPolicy: () => host };

function compose(policies: readonly unknown[], ttl = 1_000, maxAge = 1_000) {
  return composePipeline(policies as readonly Policy[], hosts, new WeakMap<Policy, Stage>(), ttl, maxAge);
}

function refusal(run: () => unknown, code: string, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof HerdcacheError, `a HerdcacheError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

const passThrough = (name: string, extra: Partial<Policy> = {}): Policy => ({
  name,
  create: () => ({ handle: (_call, next) => next() }),
  ...extra,
});

function callOf(entry: ReturnType<typeof makeEntry> | undefined, result: unknown = 'computed'): ComputeCall & { runs: number } {
  const call = {
    key: 'k', storageKey: '0::k', ttl: 1_000, maxAge: 1_000, entry, runs: 0,
    run: async () => { call.runs++; return result; },
    abort: () => {},
  };
  return call;
}

describe('composing a pipeline', () => {
  it('refuses a list that is not an array, or is a Proxy of one', () => {
    const message = /^policies: must be an array of policies, outermost first$/;
    refusal(() => compose('coalesce' as unknown as unknown[]), InvalidOptionError.code, message);
    refusal(() => compose(new Proxy([], {})), InvalidOptionError.code, message);
  });

  it('names the index of an element that is not a policy, and what builds one', () => {
    const message = (i: number) => new RegExp(`^policies\\[${i}\\]: is not a policy: build one with ttl\\(\\), coalesce\\(\\), barrier\\(\\), xfetch\\(\\), serveStale\\(\\) or timeouts\\(\\)$`);
    refusal(() => compose([null]), InvalidOptionError.code, message(0));
    refusal(() => compose([passThrough('a'), 3]), InvalidOptionError.code, message(1));
    refusal(() => compose([{ name: 'no-create' }]), InvalidOptionError.code, message(0));
    refusal(() => compose([{ name: 7, create: () => ({}) }]), InvalidOptionError.code, message(0));
    refusal(() => compose([new Proxy(passThrough('p'), {})]), InvalidOptionError.code, message(0));
  });

  it('refuses the same policy twice, or two policies of one name', () => {
    const twice = /^coalesce \+ coalesce: the same policy appears twice in one pipeline; keep one$/;
    const one = coalesce();
    refusal(() => compose([one, one]), PolicyConflictError.code, twice);
    refusal(() => compose([coalesce(), passThrough('x'), coalesce()]), PolicyConflictError.code, twice);
    assert.doesNotThrow(() => compose([passThrough('a'), passThrough('b')]), 'distinct names compose');
  });

  it('takes the longest grand timeout of the policies, and refuses one that is not finite', () => {
    assert.equal(compose([passThrough('a', { maxAge: 5_000 }), passThrough('b', { maxAge: 3_000 })], 1_000, 2_000).maxAge, 5_000);
    assert.equal(compose([passThrough('a', { maxAge: 1_500 })], 1_000, 2_000).maxAge, 2_000, 'never shorter than the base');
    assert.equal(compose([], 1_000, 2_000).maxAge, 2_000);
    refusal(() => compose([passThrough('a', { maxAge: Infinity })]), InvalidOptionError.code, /^maxAge: a policy's grand timeout must be a finite number of ms, got Infinity$/);
    refusal(() => compose([passThrough('a', { maxAge: Number.NaN })]), InvalidOptionError.code, /got NaN$/);
  });

  it('refuses a grand timeout shorter than ttl, and takes one equal to it', () => {
    refusal(() => compose([], 1_000, 999), InvalidOptionError.code, /^maxAge: the grand timeout \(999 ms\) must not be shorter than ttl \(1000 ms\)$/);
    assert.equal(compose([], 1_000, 1_000).maxAge, 1_000);
  });

  it("reports a policy's own failure as an InvalidOptionError naming it, keeping the cause", () => {
    const boom = new Error('boom');
    const cases: Array<[string, Policy]> = [
      ['its check threw: boom', passThrough('c', { check: () => { throw boom; } })],
      ['create\\(\\) threw: boom', { name: 'c', create: () => { throw boom; } }],
      ['reading maxAge threw: boom', { name: 'c', create: () => ({ handle: (_c, n) => n() }), get maxAge(): number { throw boom; } }],
      ['reading traits threw: boom', { name: 'c', create: () => ({ handle: (_c, n) => n() }), get traits(): Policy['traits'] { throw boom; } }],
      ['reading it threw: boom', { name: 'c', get create(): Policy['create'] { throw boom; } }],
    ];
    for (const [what, policy] of cases) {
      assert.throws(() => compose([passThrough('first'), policy]), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError);
        assert.match(error.message, new RegExp(`^policies\\[1\\]: ${what}$`));
        assert.equal(error.cause, boom);
        return true;
      }, what);
    }
  });

  it('says when a policy threw something that is not an error, and lets our own errors through', () => {
    refusal(() => compose([passThrough('c', { check: () => { throw 'nope'; } })]), InvalidOptionError.code, /^policies\[0\]: its check threw: a non-error value$/);
    const ours = new PolicyConflictError('c', 'd', 'cannot sit together');
    assert.throws(() => compose([passThrough('c', { check: () => { throw ours; } })]), (error: unknown) => error === ours);
  });

  it('hands every check the shape it is judged in', () => {
    const seen: unknown[] = [];
    const policies = [passThrough('a', { check: (shape) => seen.push(shape) }), passThrough('b', { maxAge: 4_000, check: (shape) => seen.push(shape) })];
    compose(policies, 1_000, 2_000);
    assert.deepEqual(seen, [{ policies, index: 0, ttl: 1_000, maxAge: 4_000 }, { policies, index: 1, ttl: 1_000, maxAge: 4_000 }]);
  });

  it('sees fresh hits only when some policy asks to', () => {
    assert.equal(compose([]).seesFreshHits, false);
    assert.equal(compose([passThrough('a'), passThrough('b', { traits: { seesFreshHits: false } })]).seesFreshHits, false);
    assert.equal(compose([passThrough('a'), passThrough('b', { traits: { seesFreshHits: true } })]).seesFreshHits, true);
  });

  it('creates each policy once per cache, however many pipelines use it', () => {
    let creates = 0;
    const policy: Policy = { name: 'counted', create: () => { creates++; return { handle: (_c, n) => n() }; } };
    const stages = new WeakMap<Policy, Stage>();
    composePipeline([policy], hosts, stages, 1_000, 1_000);
    composePipeline([passThrough('other'), policy], hosts, stages, 1_000, 1_000);
    assert.equal(creates, 1);
    composePipeline([policy], hosts, new WeakMap<Policy, Stage>(), 1_000, 1_000);
    assert.equal(creates, 2, 'another cache creates its own stage');
  });
});

describe('running a pipeline', () => {
  for (const policies of [[], [passThrough('a')]] as const) {
    it(`ends in the traditional-TTL step (${policies.length} stage${policies.length === 1 ? '' : 's'}): fresh is returned, anything else computed`, async () => {
      const pipeline = compose(policies);
      const fresh = callOf(makeEntry('cached', NOW - 10, 1_000, 1_000, 0));
      assert.equal(await pipeline.run(fresh), 'cached');
      assert.equal(fresh.runs, 0);
      const expired = callOf(makeEntry('old', NOW - 1_000, 1_000, 1_000, 0));
      assert.equal(await pipeline.run(expired), 'computed', 'expired exactly at freshUntil');
      assert.equal(expired.runs, 1);
      const cold = callOf(undefined);
      assert.equal(await pipeline.run(cold), 'computed');
      assert.equal(cold.runs, 1);
    });
  }

  it('runs the stages outermost first, each around the next', async () => {
    const order: string[] = [];
    const stage = (name: string): Policy => ({
      name,
      create: () => ({ async handle(_call, next) { order.push(`${name} in`); const v = await next(); order.push(`${name} out`); return v; } }),
    });
    assert.equal(await compose([stage('a'), stage('b')]).run(callOf(undefined)), 'computed');
    assert.deepEqual(order, ['a in', 'b in', 'b out', 'a out']);
  });

  it('rejects a second next() of one stage, naming the policy, and the first still answers', async () => {
    let second: Promise<unknown> | undefined;
    const twice: Policy = { name: 'twice', create: () => ({ async handle(_call, next) { const v = await next(); second = next(); return v; } }) };
    const call = callOf(undefined);
    assert.equal(await compose([twice]).run(call), 'computed');
    await assert.rejects(second!, (error: unknown) => error instanceof PolicyContractError && error.code === 'E_POLICY_CONTRACT' && error.policy === 'twice' && error.message === 'policy "twice" called next() twice for one call: call it at most once');
    assert.equal(call.runs, 1);
  });

  it('lets a per-call pipeline of the cache refuse a policy the same way', async () => {
    const cache = createCache({ tiers: [memoryTier()] });
    try {
      await assert.rejects(cache.compute('k', () => 1, { policies: [coalesce(), coalesce()] }), { code: PolicyConflictError.code });
      assert.throws(() => cache.memoize(function load() { return 1; }, { policies: [null as unknown as Policy] }), /policies\[0\]: is not a policy/);
    } finally {
      await cache.close();
    }
  });
});
