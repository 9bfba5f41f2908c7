// Property 3: keys. Memoize keys are the same in every process and do not depend on the key
// order of option objects; two argument lists (holes in arrays included) share a key exactly
// when they are deep-strict-equal; distinct (namespace, key) pairs never meet on one LMDB file.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { inspect, isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { createCache, InvalidKeyError, lmdbTier, memoryTier, type Cache } from '../../src/index.js';
import { memoizeKey } from '../../src/core/keys.js';
import { manualClock } from '../helpers/clock.js';
import { propertyParams } from '../helpers/fc.js';
import { tempDir } from '../helpers/tmp.js';
import { Peer } from './peer.js';
import { awkwardKey, embedded, leaf, withOwnProto, type Slot } from './values.js';

const TTL = 60_000;

function show(value: unknown): string {
  return inspect(value, { depth: 6, breakLength: Infinity });
}

/** Memoize arguments of every kind: the value generator's leaves, RegExps, arrays with holes, nested objects with awkward keys, Maps, Sets. */
const argument = fc.letrec<{ value: unknown; array: unknown[]; sparse: unknown[]; object: Record<string, unknown>; map: Map<unknown, unknown>; set: Set<unknown> }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.constantFrom(/a+/g, /a+/i, /:/),
    tie('array'),
    tie('sparse'),
    tie('object'),
    tie('map'),
    tie('set'),
    tie('object').map(withOwnProto),
  ),
  array: fc.array(tie('value'), { maxLength: 4 }),
  sparse: fc.sparseArray(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(awkwardKey, tie('value'), { maxKeys: 5, noNullPrototype: true }),
  map: fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((pairs) => new Map(pairs)),
  set: fc.array(tie('value'), { maxLength: 3 }).map((items) => new Set(items)),
})).value;
const argumentList = fc.array(argument, { maxLength: 4 });

/** Leaves that a careless canonical form confuses, in pairs: [x, y] where x and y are not deep-equal. */
const LOOK_ALIKES: ReadonlyArray<readonly [unknown, unknown]> = [
  [0, -0], [1, '1'], [0, 0n], [1, 1n], [0, false], [1, true], [0, ''], [null, undefined], [NaN, 'NaN'], ['u', undefined],
  ['z', null], ['', []], [[], {}], [{}, new Map()], [[], new Set()], [new Map(), new Set()],
  [new Date(0), 0], [new Date(0), new Date(1)], [Buffer.alloc(1), new Uint8Array(1)], [new Uint8Array(1), new Int8Array(1)],
  [new Uint8Array(1), [0]], [/a/, /a/g], [/a/, '/a/'], ['a:b', 'a'], [Infinity, 'Infinity'], [-1, '-1'],
  [[], new Array(1)], [new Array(1), [undefined]], [new Array(2), [undefined, undefined]], ['h', new Array(1)],
];
const LEAVES: readonly unknown[] = [...new Set(LOOK_ALIKES.flat())];

/** Arguments built from the look-alike leaves, in arrays (some with holes), objects, Maps and Sets. */
const lookAlike = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown>; map: Map<unknown, unknown>; set: Set<unknown> }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.constantFrom(...LEAVES), tie('array'), tie('object'), tie('map'), tie('set')),
  array: fc.oneof(fc.array(tie('value'), { maxLength: 3 }), fc.sparseArray(tie('value'), { maxLength: 3 })),
  object: fc.dictionary(fc.constantFrom('a', 'b', '0', '__proto__'), tie('value'), { maxKeys: 3, noNullPrototype: true }),
  map: fc.array(fc.tuple(fc.constantFrom(...LEAVES), tie('value')), { maxLength: 2 }).map((entries) => new Map(entries)),
  set: fc.array(fc.constantFrom(...LEAVES), { maxLength: 2 }).map((items) => new Set(items)),
})).value;

/** A container of another kind holding the same things: [x] and new Set([x]), { a: x } and new Map([['a', x]])... */
function crossedKind(value: unknown, choice: number): unknown {
  if (Array.isArray(value)) return [new Set(value), Object.assign({}, value), value.slice(1)][choice % 3];
  if (value instanceof Map) return [new Set(value.values()), [...value]][choice % 2];
  if (value instanceof Set) return [...value];
  if (typeof value === 'object' && value !== null) return new Map(Object.entries(value));
  return [value];
}

type Swap = { readonly kind: 'leaves'; readonly pair: readonly [unknown, unknown] } | { readonly kind: 'container'; readonly choice: number };

/**
 * Two copies of `value`, identical except at node number `target` (pre-order): there the left
 * gets one side of a look-alike pair and the right the other, or the right gets the node as a
 * container of another kind. The right copy has its object keys in reverse order. When
 * `target` is past the last node the two are deep-equal.
 */
function lookAlikeCopies(value: unknown, target: { left: number }, swap: Swap): [unknown, unknown] {
  if (target.left-- === 0) return swap.kind === 'leaves' ? [swap.pair[0], swap.pair[1]] : [value, crossedKind(value, swap.choice)];
  if (Array.isArray(value)) {
    const left: unknown[] = new Array(value.length);
    const right: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) if (i in value) [left[i], right[i]] = lookAlikeCopies(value[i], target, swap);
    return [left, right];
  }
  if (value instanceof Map) {
    const entries = [...value].map(([k, v]): [unknown, [unknown, unknown]] => [k, lookAlikeCopies(v, target, swap)]);
    return [new Map(entries.map(([k, [l]]) => [k, l])), new Map(entries.map(([k, [, r]]) => [k, r]))];
  }
  if (value instanceof Set || typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return [value, value];
  const entries = Object.keys(value).map((k): [string, [unknown, unknown]] => [k, lookAlikeCopies((value as Record<string, unknown>)[k], target, swap)]);
  const left: Record<string, unknown> = {};
  const right: Record<string, unknown> = {};
  // defineProperty: an own "__proto__" key stays an own key.
  for (const [k, [l]] of entries) Object.defineProperty(left, k, { value: l, enumerable: true, writable: true, configurable: true });
  for (const [k, [, r]] of entries.reverse()) Object.defineProperty(right, k, { value: r, enumerable: true, writable: true, configurable: true });
  return [left, right];
}

const swap: fc.Arbitrary<Swap> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...LOOK_ALIKES).chain(([x, y]) => fc.constantFrom<Swap>({ kind: 'leaves', pair: [x, y] }, { kind: 'leaves', pair: [y, x] })) },
  { weight: 1, arbitrary: fc.nat().map((choice): Swap => ({ kind: 'container', choice })) },
);

/** Number of nodes of a value, counted as lookAlikeCopies walks them. */
function nodeCount(value: unknown): number {
  if (Array.isArray(value)) return 1 + value.reduce((sum: number, v) => sum + nodeCount(v), 0);
  if (value instanceof Map) return 1 + [...value.values()].reduce((sum: number, v) => sum + nodeCount(v), 0);
  if (value instanceof Set || typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return 1;
  return 1 + Object.values(value).reduce((sum: number, v) => sum + nodeCount(v), 0);
}

/** Two argument lists that differ in at most one place, by a look-alike (one draw in four: nowhere). */
const lookAlikeLists = fc
  .tuple(fc.array(lookAlike, { minLength: 1, maxLength: 2 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 3, arbitrary: fc.constant(false) }), swap)
  .map(([args, at, same, s]): [unknown[], unknown[]] => {
    const nodes = nodeCount(args);
    // Node 0 is the list itself: it stays a list. Past the last node the two lists are equal.
    const target = same ? nodes : 1 + Math.floor(at * (nodes - 1));
    return lookAlikeCopies(args, { left: target }, s) as [unknown[], unknown[]];
  });

/** A shuffle driven by `next` (a seeded generator), so that a failing run replays. */
function shuffled<T>(items: readonly T[], next: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The same value with the keys of every plain object inserted in another order. */
function reorderKeys(value: unknown, next: () => number): unknown {
  if (Array.isArray(value)) return value.map((v) => reorderKeys(v, next));
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [reorderKeys(k, next), reorderKeys(v, next)]));
  if (value instanceof Set) return new Set([...value].map((v) => reorderKeys(v, next)));
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const k of shuffled(Object.keys(value), next)) {
    // defineProperty: an own "__proto__" key stays an own key.
    Object.defineProperty(out, k, { value: reorderKeys((value as Record<string, unknown>)[k], next), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state >>> 8;
  };
}

/** Arguments with no canonical form, and where inside each the refusal points ('' for itself). */
const NOT_PLAIN: ReadonlyArray<readonly [string, () => unknown, string]> = [
  ['an Error', () => new Error('e'), ''],
  ['a Promise', () => Promise.resolve(1), ''],
  ['a boxed string', () => Object('s') as unknown, ''],
  ['a class instance', () => new (class Point { x = 1; })(), ''],
  ['a WeakMap', () => new WeakMap(), ''],
  ['a null-prototype object', () => Object.assign(Object.create(null) as object, { a: 1 }), ''],
  ['a Proxy', () => new Proxy({ a: 1 }, {}), ''],
  ['a revoked Proxy', () => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; }, ''],
  ['a getter', () => ({ get g() { return 1; } }), 'g'],
  ['a hidden property', () => Object.defineProperty({}, 'h', { value: 1 }), 'h'],
  ['an array with an extra property', () => Object.assign([1], { page: 2 }), ''],
  ['a Date subclass', () => new (class Stamp extends Date {})(0), ''],
  ['a function', () => () => 1, ''],
];


const notPlainSomewhere = fc.tuple(
  fc.constantFrom(...NOT_PLAIN),
  fc.array(fc.constantFrom<Slot>('array', 'object', 'map key', 'map value', 'set'), { maxLength: 5 }),
  fc.array(fc.oneof(fc.nat(), fc.string({ maxLength: 4 }), fc.constant(null)), { minLength: 1, maxLength: 3 }),
  fc.array(argument, { maxLength: 2 }),
);

describe('P3 keys', () => {
  let dir: ReturnType<typeof tempDir>;
  let cache: Cache;
  let peer: Peer;
  let names = 0;
  /** A memoize name never used before, so that no earlier run's value can answer. */
  const freshName = (): string => `p3-${++names}`;

  before(async () => {
    dir = tempDir('herdcache-p3');
    cache = createCache({ tiers: [memoryTier(), lmdbTier({ path: dir.path })], ttl: TTL });
    peer = await Peer.start(dir.path, TTL);
  });

  after(async () => {
    await peer?.stop();
    await cache?.close();
    dir?.cleanup();
  });

  it('P3 memoize keys are identical in two processes, and a value memoized in one process is found by the other without computing', async () => {
    await fc.assert(
      fc.asyncProperty(argumentList, async (args) => {
        const name = freshName();
        const [theirs] = await peer.request<string[]>({ op: 'memoizeKeys', name, argLists: [args] });
        assert.equal(theirs, memoizeKey(name, args), `the peer derived another key for ${show(args)}`);
        let calls = 0;
        const memoized = cache.memoize((..._args: unknown[]) => {
          calls++;
          return `computed in the parent for ${name}`;
        }, { name });
        const ours = await memoized(...args);
        assert.equal(calls, 1);
        // The peer is only promised to see a commit within its sync bound (lmdb-js renews its read
        // snapshot on a timer): wait until it reads the value under the key it derived itself.
        const seen = await peer.request<{ seen: boolean }>({ op: 'waitFor', key: theirs ?? '', expected: ours, deadlineMs: 2_000 }, 5_000);
        assert.ok(seen.seen, `the peer never saw ${name} under its own key ${String(theirs)}`);
        const answer = await peer.request<{ calls: number; value: unknown }>({ op: 'memoize', name, args });
        assert.equal(answer.calls, 0, `the peer computed again for ${show(args)}`);
        assert.equal(answer.value, ours);
      }),
      propertyParams({ numRuns: 100, includeErrorInReport: true }),
    );
  });

  it('P3 memoize keys do not depend on the key order of option objects: shuffled keys hit the value memoized before', async () => {
    await fc.assert(
      fc.asyncProperty(argumentList, fc.integer(), async (args, seed) => {
        const next = lcg(seed);
        const reordered = args.map((a) => reorderKeys(a, next));
        assert.ok(isDeepStrictEqual(reordered, args), 'the reordering changed the arguments themselves');
        let calls = 0;
        const memoized = cache.memoize((..._args: unknown[]) => ++calls, { name: freshName() });
        const first = await memoized(...args);
        const second = await memoized(...reordered);
        assert.equal(calls, 1, `the function ran again for ${show(reordered)} after ${show(args)}`);
        assert.equal(second, first);
      }),
      propertyParams<[unknown[], number]>({ numRuns: 200, examples: [[[{ b: 2, a: 1 }, { nested: { y: [1], x: new Map([['k', { d: 1, c: 2 }]]) } }], 7]] }),
    );
  });

  it('P3 two argument lists share a memoize key exactly when they are deep-strict-equal (1 and "1", 0 and -0, [] and {} never meet)', async () => {
    await fc.assert(
      fc.asyncProperty(lookAlikeLists, async ([a, b]) => {
        const equal = isDeepStrictEqual(a, b);
        let calls = 0;
        const memoized = cache.memoize((..._args: unknown[]) => ++calls, { name: freshName() });
        await memoized(...a);
        await memoized(...b);
        assert.equal(calls, equal ? 1 : 2, equal ? `equal lists computed twice: ${show(a)}` : `${show(a)} and ${show(b)} share a key`);
      }),
      propertyParams<[[unknown[], unknown[]]]>({
        numRuns: 300,
        examples: [[[[0], [-0]]], [[[1], ['1']]], [[[[]], [{}]]], [[[Buffer.alloc(1)], [new Uint8Array(1)]]], [[[[]], [new Array(1)]]], [[[{ a: 1, b: [2] }], [{ b: [2], a: 1 }]]]],
      }),
    );
  });

  it('P3 sparse arrays: argument lists with holes share a memoize key exactly when they are deep-strict-equal ([] and [,] and [undefined] never meet)', async () => {
    const holey = fc.sparseArray(fc.constantFrom<unknown>(0, undefined, null, []), { maxLength: 2 });
    await fc.assert(
      fc.asyncProperty(fc.array(holey, { maxLength: 2 }), fc.array(holey, { maxLength: 2 }), async (a, b) => {
        const equal = isDeepStrictEqual(a, b);
        assert.equal(memoizeKey('holes', a) === memoizeKey('holes', b), equal, equal ? `equal lists got two keys: ${show(a)}` : `${show(a)} and ${show(b)} share a key`);
      }),
      propertyParams({ numRuns: 300, includeErrorInReport: true }),
    );
  });

  it('P3 an argument with a part that is not plain data anywhere (class instance, Proxy, accessor, hidden or extra property, function) is refused with InvalidKeyError at its path, before the function runs', async () => {
    await fc.assert(
      fc.asyncProperty(notPlainSomewhere, async ([[name, make, inside], slots, siblings, before]) => {
        const [value, within] = embedded(make(), inside, slots, siblings);
        const path = `[${before.length}]${within}`;
        const check = (err: unknown): boolean => {
          assert.ok(err instanceof InvalidKeyError, `${name} in ${slots.join(' in ')}: ${String(err)}`);
          assert.equal(err.code, 'E_INVALID_KEY');
          assert.ok(err.message.startsWith(`memoize argument ${path}: `), `${name}: ${err.message.slice(0, 200)}`);
          return true;
        };
        assert.throws(() => memoizeKey('not-plain', [...before, value]), check);
        let calls = 0;
        const memoized = cache.memoize((..._args: unknown[]) => ++calls, { name: freshName() });
        await assert.rejects(memoized(...before, value), check);
        assert.equal(calls, 0, `${name}: the function ran`);
      }),
      propertyParams({ numRuns: 150, includeErrorInReport: true }),
    );
  });

  it('P3 distinct (namespace, key) pairs never collide on one LMDB path: set, get, delete and clear stay inside their namespace', async () => {
    const shared = tempDir('herdcache-p3-ns');
    const clock = manualClock();
    // Keeps the environment open between runs, so each run opens and closes its caches cheaply.
    const anchor = createCache({ tiers: [lmdbTier({ path: shared.path })], clock, namespace: 'anchor' });
    const text = (minLength: number) => fc.string({ unit: fc.constantFrom('a', 'b', ':', '1', '0'), minLength, maxLength: 4 });
    try {
      await fc.assert(
        fc.asyncProperty(text(0), text(1), text(0), text(1), async (ns1, k1, ns2, k2) => {
          const same = ns1 === ns2 && k1 === k2;
          const one = createCache({ tiers: [lmdbTier({ path: shared.path })], clock, namespace: ns1 });
          const two = createCache({ tiers: [lmdbTier({ path: shared.path })], clock, namespace: ns2 });
          const pair = `("${ns1}", "${k1}") and ("${ns2}", "${k2}")`;
          try {
            await one.set(k1, 'one');
            await two.set(k2, 'two');
            assert.equal(one.getSync(k1), same ? 'two' : 'one', `${pair}: the second write reached the first key`);
            assert.equal(two.getSync(k2), 'two');
            if (ns1 === ns2) assert.equal(one.getSync(k2), 'two', `${pair}: one namespace, yet the key is not shared`);
            await two.delete(k2);
            assert.equal(one.getSync(k1), same ? undefined : 'one', `${pair}: deleting the second key removed the first`);
            await one.set(k1, 'one');
            await two.set(k2, 'two');
            await two.clear();
            assert.equal(one.getSync(k1), ns1 === ns2 ? undefined : 'one', `${pair}: clearing the second namespace ${ns1 === ns2 ? 'kept' : 'removed'} the first key`);
            assert.equal(anchor.getSync(k1), undefined, `${pair}: the key leaked into another namespace`);
          } finally {
            await one.clear();
            await one.close();
            await two.close();
          }
        }),
        propertyParams({
          numRuns: 150,
          examples: [['a', 'b:c', 'a:b', 'c'], ['', '1:a:b', '1', 'a:b'], ['1:a', 'b', '1', 'a:b'], ['ab', 'c', 'a', 'b:c']],
        }),
      );
    } finally {
      await anchor.close();
      shared.cleanup();
    }
  });
});
