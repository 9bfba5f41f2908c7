// The model the engine is checked against (property 1): a plain Map of values with a freshness
// deadline, and one fast-check command class per cache operation. Every read of the real cache
// must equal what the model says.
import assert from 'node:assert/strict';
import { inspect, isDeepStrictEqual } from 'node:util';
import { deserialize, serialize } from 'node:v8';
import fc from 'fast-check';
import type { Cache } from '../../src/index.js';
import type { ManualClock } from '../helpers/clock.js';

/**
 * What the model remembers of one key: the value, the first instant it is no longer fresh, and
 * the first instant no tier may hold it any more (its grand timeout: written at + maxAge).
 */
interface ModelEntry {
  readonly value: unknown;
  readonly freshUntil: number;
  readonly keptUntil: number;
}

/** A Map with expiry: the whole specification of get/set/delete/compute/clear under traditional TTL. */
export class CacheModel {
  private readonly entries = new Map<string, ModelEntry>();

  constructor(readonly now: () => number, readonly ttl: number) {}

  /** The value a read must return now: fresh means `now < freshUntil`. */
  read(key: string): unknown {
    const entry = this.entries.get(key);
    return entry !== undefined && this.now() < entry.freshUntil ? entry.value : undefined;
  }

  isFresh(key: string): boolean {
    const entry = this.entries.get(key);
    return entry !== undefined && this.now() < entry.freshUntil;
  }

  /** Whether the key was written (and neither deleted nor cleared since) but is no longer fresh. */
  hasExpired(key: string): boolean {
    const entry = this.entries.get(key);
    return entry !== undefined && this.now() >= entry.freshUntil;
  }

  /** The last value written for the key and its grand timeout, unless deleted or cleared since. */
  written(key: string): { readonly value: unknown; readonly keptUntil: number } | undefined {
    return this.entries.get(key);
  }

  /** A write now; `maxAge` is the grand timeout the write asked for (none: the ttl). */
  write(key: string, value: unknown, ttl = this.ttl, maxAge = ttl): void {
    this.entries.set(key, { value, freshUntil: this.now() + ttl, keptUntil: this.now() + maxAge });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

/** What the commands act on: the cache under test and, when it is injected, its clock. */
export interface RealSystem {
  readonly cache: Cache;
  readonly clock?: ManualClock;
  /** Called after every command, to check invariants that must hold at all times. */
  readonly invariant?: () => void | Promise<void>;
  /** Reads may forget (a bounded L1 alone): a read returns the model's value or undefined. */
  readonly mayForget?: boolean;
}

export type CacheCommand = fc.AsyncCommand<CacheModel, RealSystem, false>;

/** A deep copy that keeps Buffers as Buffers (structuredClone makes them Uint8Arrays). */
export function copyOf<T>(value: T): T {
  return deserialize(serialize(value)) as T;
}

function show(value: unknown): string {
  return inspect(value, { depth: 5, breakLength: Infinity });
}

/** Asserts that a read returned what the model holds (or, on a forgetful cache, nothing). */
export function assertRead(real: RealSystem, got: unknown, expected: unknown, what: string): void {
  if (isDeepStrictEqual(got, expected)) return;
  if (real.mayForget === true && got === undefined) return;
  assert.fail(`${what}: the cache returned ${show(got)}, the model holds ${show(expected)}`);
}

/** Changes an object the caller handed to the cache: the cache must have kept its own copy. */
function scribble(value: unknown): void {
  if (ArrayBuffer.isView(value)) {
    if (value.byteLength > 0) new Uint8Array(value.buffer, value.byteOffset, value.byteLength)[0]! ^= 0xff;
  } else if (Array.isArray(value)) {
    value.push('scribbled');
  } else if (typeof value === 'object' && value !== null) {
    (value as Record<string, unknown>)['scribbled'] = true;
  }
}

async function after(real: RealSystem): Promise<void> {
  await real.invariant?.();
}

export class GetCommand implements CacheCommand {
  constructor(readonly key: string) {}
  check = (): boolean => true;
  async run(model: CacheModel, real: RealSystem): Promise<void> {
    assertRead(real, await real.cache.get(this.key), model.read(this.key), `get(${this.key})`);
    await after(real);
  }
  toString = (): string => `get(${this.key})`;
}

export class GetSyncCommand implements CacheCommand {
  constructor(readonly key: string) {}
  check = (): boolean => true;
  async run(model: CacheModel, real: RealSystem): Promise<void> {
    assertRead(real, real.cache.getSync(this.key), model.read(this.key), `getSync(${this.key})`);
    await after(real);
  }
  toString = (): string => `getSync(${this.key})`;
}

export class SetCommand implements CacheCommand {
  constructor(readonly key: string, readonly value: unknown, readonly ttl: number | undefined, readonly maxAgeFactor: number) {}
  check = (): boolean => true;
  async run(model: CacheModel, real: RealSystem): Promise<void> {
    const ttl = this.ttl ?? model.ttl;
    const maxAge = ttl * this.maxAgeFactor;
    const options = {
      ...(this.ttl === undefined ? {} : { ttl }),
      // A longer grand timeout keeps stale copies on the tiers: they must still never be read.
      ...(this.maxAgeFactor === 1 ? {} : { maxAge }),
    };
    // A copy: the command may run again while fast-check shrinks, and it scribbles on what it passed.
    const passed = copyOf(this.value);
    await real.cache.set(this.key, passed, options);
    scribble(passed);
    model.write(this.key, this.value, ttl, maxAge);
    await after(real);
  }
  toString = (): string => `set(${this.key}, ${show(this.value)}, ttl ${this.ttl ?? 'default'}, maxAge ttl*${this.maxAgeFactor})`;
}

export class DeleteCommand implements CacheCommand {
  constructor(readonly key: string) {}
  check = (): boolean => true;
  async run(model: CacheModel, real: RealSystem): Promise<void> {
    await real.cache.delete(this.key);
    model.delete(this.key);
    await after(real);
  }
  toString = (): string => `delete(${this.key})`;
}

/** The error a failing compute throws; compared by identity. */
export class ComputeFailure extends Error {
  constructor(key: string) {
    super(`compute of ${key} failed on purpose`);
  }
}

export class ComputeCommand implements CacheCommand {
  constructor(readonly key: string, readonly value: unknown, readonly ttl: number | undefined, readonly fails: boolean) {}
  check = (): boolean => true;
  async run(model: CacheModel, real: RealSystem): Promise<void> {
    const wasFresh = model.isFresh(this.key);
    const expected = model.read(this.key);
    const failure = new ComputeFailure(this.key);
    let calls = 0;
    const fn = (): unknown => {
      calls++;
      if (this.fails) throw failure;
      return copyOf(this.value);
    };
    let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: await real.cache.compute(this.key, fn, this.ttl === undefined ? undefined : { ttl: this.ttl }) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    if (wasFresh && !(real.mayForget === true && calls === 1)) {
      assert.equal(calls, 0, `${this}: a fresh value was cached, yet the function ran`);
      assert.ok(outcome.ok, `${this}: a fresh value was cached, yet compute rejected with ${show(!outcome.ok && outcome.error)}`);
      assertRead(real, outcome.value, expected, String(this));
    } else {
      assert.equal(calls, 1, `${this}: nothing fresh was cached, yet the function ran ${calls} times`);
      if (this.fails) {
        assert.ok(!outcome.ok, `${this}: the function threw, yet compute resolved with ${show(outcome.ok && outcome.value)}`);
        assert.equal(outcome.error, failure, `${this}: rejected with another error than the function's: ${show(outcome.error)}`);
      } else {
        assert.ok(outcome.ok, `${this}: rejected with ${show(!outcome.ok && outcome.error)}`);
        assert.ok(isDeepStrictEqual(outcome.value, this.value), `${this}: resolved with ${show(outcome.value)}`);
        model.write(this.key, this.value, this.ttl);
      }
    }
    // Read back at once: a failed compute must leave what reads see as it was.
    assertRead(real, real.cache.getSync(this.key), model.read(this.key), `getSync(${this.key}) right after ${this}`);
    await after(real);
  }
  toString = (): string => `compute(${this.key}, ${this.fails ? 'throws' : show(this.value)}, ttl ${this.ttl ?? 'default'})`;
}

export class AdvanceClockCommand implements CacheCommand {
  constructor(readonly ms: number) {}
  check = (): boolean => true;
  async run(_model: CacheModel, real: RealSystem): Promise<void> {
    assert.ok(real.clock !== undefined, 'advancing the clock needs a manual clock');
    real.clock.advance(this.ms);
    await after(real);
  }
  toString = (): string => `advance(${this.ms} ms)`;
}

export class ClearCommand implements CacheCommand {
  check = (): boolean => true;
  async run(model: CacheModel, real: RealSystem): Promise<void> {
    await real.cache.clear();
    model.clear();
    await after(real);
  }
  toString = (): string => 'clear()';
}

/** A few keys, so that commands collide on them. */
export const KEYS = ['a', 'b', 'c:d'] as const;
export const key = fc.constantFrom(...KEYS);

/** Plain values; objects and arrays so that a cache keeping the caller's reference is caught. */
export const modelValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 6 }),
  fc.constant(null),
  fc.record({ n: fc.integer(), tags: fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }) }, { noNullPrototype: true }),
  fc.array(fc.integer(), { maxLength: 3 }),
);

/** Per-call ttls around the cache's own (100 ms) and clock steps that land on their edges. */
export const ttlChoices = fc.constantFrom(undefined, 1, 10, 100, 1_000);
export const clockStep = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(1, 10, 100, 1_000) },
  { weight: 1, arbitrary: fc.constantFrom(9, 11, 99, 101, 999) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 1_500 }) },
);

/** Commands for one cache on a manual clock, over the given keys and values. */
export function engineCommands(options: { keys?: fc.Arbitrary<string>; values?: fc.Arbitrary<unknown> } = {}): Array<fc.Arbitrary<CacheCommand>> {
  const k = options.keys ?? key;
  const v = options.values ?? modelValue;
  const get = k.map((x): CacheCommand => new GetCommand(x));
  const getSync = k.map((x): CacheCommand => new GetSyncCommand(x));
  const set = fc.tuple(k, v, ttlChoices, fc.constantFrom(1, 1, 3, 50)).map(([x, value, ttl, factor]): CacheCommand => new SetCommand(x, value, ttl, factor));
  const compute = fc.tuple(k, v, ttlChoices, fc.boolean()).map(([x, value, ttl, fails]): CacheCommand => new ComputeCommand(x, value, ttl, fails));
  const advance = clockStep.map((ms): CacheCommand => new AdvanceClockCommand(ms));
  // fc.commands picks among the arbitraries uniformly: repeating one weighs it. A clear wipes
  // the state the other commands build up, so it comes rarely.
  return [
    get, get, getSync, getSync, set, set, compute, compute,
    k.map((x): CacheCommand => new DeleteCommand(x)),
    advance, advance, advance,
    fc.constant<CacheCommand>(new ClearCommand()),
  ];
}
