// Property 4, the memory tier's own table: random gets, peeks, sets (with sizes), deletes and
// clears against a plain list model of least-recently-used order. After every step the table
// holds exactly the model's keys in the model's order, within both bounds, and the entries
// pushed out are the model's oldest, reported once each.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RecencyTable } from '../../src/tiers/memory/recency-table.js';
import { propertyParams } from '../helpers/fc.js';

type Step =
  | { readonly op: 'get' | 'peek' | 'delete'; readonly key: string }
  | { readonly op: 'set'; readonly key: string; readonly value: number; readonly size: number }
  | { readonly op: 'clear' };

interface Held {
  readonly key: string;
  readonly value: number;
  readonly size: number;
}

/** Steps over `keys` distinct keys; `clear` comes about once in `clearEvery` steps, so that the table can fill up. */
function steps(keys: number, maxLength: number, clearEvery: number): fc.Arbitrary<Step[]> {
  const key = fc.integer({ min: 0, max: keys - 1 }).map((n) => `k${n}`);
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 4 * clearEvery, arbitrary: fc.record({ op: fc.constant('set' as const), key, value: fc.integer(), size: fc.integer({ min: 1, max: 40 }) }) },
    { weight: 4 * clearEvery, arbitrary: fc.record({ op: fc.constantFrom('get' as const, 'peek' as const), key }) },
    { weight: clearEvery, arbitrary: fc.record({ op: fc.constant('delete' as const), key }) },
    { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
  );
  // size 'max': by default fast-check keeps arrays to about ten items whatever maxLength says.
  return fc.array(step, { maxLength, size: 'max' });
}

/** Few keys against tight bounds (evictions all the time), or many keys against loose ones (the table grows past its first 64 slots). */
const scenario = fc.oneof(
  fc.tuple(fc.record({ maxEntries: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }), maxSize: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }) }), steps(8, 80, 2)),
  fc.tuple(fc.record({ maxEntries: fc.option(fc.integer({ min: 60, max: 200 }), { nil: undefined }), maxSize: fc.option(fc.integer({ min: 1_000, max: 5_000 }), { nil: undefined }) }), steps(300, 600, 200)),
);

/** The model: held entries, oldest first; `set` appends and then drops from the front. */
function applyToModel(held: Held[], s: Step, maxEntries: number, maxSize: number, evicted: string[]): Held[] {
  const without = (k: string): Held[] => held.filter((h) => h.key !== k);
  switch (s.op) {
    case 'clear':
      return [];
    case 'delete':
      return without(s.key);
    case 'peek':
      return held;
    case 'get': {
      const found = held.find((h) => h.key === s.key);
      return found === undefined ? held : [...without(s.key), found];
    }
    case 'set': {
      if (s.size > maxSize) return without(s.key);
      const next = [...without(s.key), { key: s.key, value: s.value, size: s.size }];
      const total = (): number => next.reduce((sum, h) => sum + h.size, 0);
      while (next.length > maxEntries || total() > maxSize) evicted.push(next.shift()!.key);
      return next;
    }
  }
}

describe('P4 the memory tier table against an LRU model', () => {
  it('P4 recency table: holds the model’s keys in the model’s order, within its bounds, and evicts the oldest', () => {
    fc.assert(
      fc.property(scenario, ([{ maxEntries, maxSize }, steps]) => {
        const reported: string[] = [];
        const table = new RecencyTable<number>({
          ...(maxEntries === undefined ? {} : { maxEntries }),
          ...(maxSize === undefined ? {} : { maxSize }),
          onEvict: (k, v) => {
            assert.equal(typeof v, 'number');
            reported.push(k);
          },
        });
        const expectedEvictions: string[] = [];
        let model: Held[] = [];
        for (const s of steps) {
          const before = model;
          model = applyToModel(model, s, maxEntries ?? Infinity, maxSize ?? Infinity, expectedEvictions);
          if (s.op === 'get' || s.op === 'peek') {
            assert.equal(s.op === 'get' ? table.get(s.key) : table.peek(s.key), before.find((h) => h.key === s.key)?.value);
          } else if (s.op === 'set') {
            assert.equal(table.set(s.key, s.value, s.size), s.size <= (maxSize ?? Infinity));
          } else if (s.op === 'delete') {
            assert.equal(table.delete(s.key), before.some((h) => h.key === s.key));
          } else {
            table.clear();
          }
          assert.deepEqual(table.keys(), model.map((h) => h.key), `order after ${JSON.stringify(s)}`);
          assert.equal(table.size, model.length);
          assert.equal(table.totalSize, model.reduce((sum, h) => sum + h.size, 0));
          assert.ok(table.size <= (maxEntries ?? Infinity) && table.totalSize <= (maxSize ?? Infinity));
          assert.deepEqual(reported, expectedEvictions);
        }
        for (const h of model) assert.equal(table.peek(h.key), h.value);
      }),
      propertyParams({ numRuns: 200 }),
    );
  });

  it('P4 recency table: refuses bounds that could never hold an entry', () => {
    assert.throws(() => new RecencyTable({ maxEntries: 0 }), { name: 'RangeError', message: /maxEntries >= 1/ });
    assert.throws(() => new RecencyTable({ maxSize: 0 }), { name: 'RangeError', message: /maxSize > 0/ });
  });

  it('P4 recency table: evicts without an onEvict hook', () => {
    const table = new RecencyTable<number>({ maxEntries: 1 });
    table.set('a', 1);
    table.set('b', 2);
    assert.deepEqual(table.keys(), ['b']);
  });
});
