// Generators of hostile arguments and of the calls that carry them, for P20 (see
// test/fixtures/hostile-worker.ts, which runs them). Every argument is a recipe: a label that
// fast-check prints and a `make` that builds a fresh value when a run executes, so Proxies,
// cycles, temporary paths and tiers are new in every run and every shrink.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { barrier, coalesce, memoryTier, lmdbTier, serveStale, timeouts, ttl, xfetch, type Policy } from '../../src/index.js';
import { storableCandidate, withOwnProto } from './values.js';

/** Thrown by a Proxy trap or a getter of a hostile input: the cache must never let it escape as it is. */
export class HostileInputError extends Error {
  override readonly name = 'HostileInputError';
}

/** Thrown by a callback the test handed to the cache (compute fn, memoized fn, key fn, clock, policy): the caller may get it back unchanged. */
export class CallbackError extends Error {
  override readonly name = 'CallbackError';
}

/** What a recipe may use while it builds its value. */
export interface Ctx {
  /** This run's temporary directory; every path a recipe makes lies inside it. */
  readonly dir: string;
  /** The main cache's key limit in UTF-8 bytes (LMDB's limit less the namespace prefix). */
  readonly keyLimit: number;
  /** A path inside `dir` that nothing else in the run uses. */
  freshPath(label: string): string;
  /** Calls a factory while building an argument: its value, or undefined if it refused with a documented error (anything else fails the run). */
  attempt<T>(label: string, build: () => T): T | undefined;
  /** Records a value a callback throws, so that the caller getting it back is not held against the cache. */
  thrownByCallback<T>(error: T): T;
}

export interface Arg {
  readonly label: string;
  make(ctx: Ctx): unknown;
}

/** A value to store. `readable: false`: reading it throws (revoked Proxy, throwing trap or getter), so no faithful copy exists and storing it must be refused. */
export interface ValueArg extends Arg {
  readonly readable: boolean;
}

/** An options argument: the container and, when it has fields, the field values as made (to judge what a successful call should then do). */
export interface OptionsArg extends Arg {
  build(ctx: Ctx): { value: unknown; fields: Record<string, unknown> | undefined };
}

function printable<T extends object>(label: string, obj: T): T {
  Object.defineProperty(obj, fc.toStringMethod, { value: () => label, enumerable: false });
  return obj;
}

export function arg(label: string, make: (ctx: Ctx) => unknown): Arg {
  return printable(label, { label, make });
}

function value(label: string, make: (ctx: Ctx) => unknown, readable = true): ValueArg {
  return printable(label, { label, make, readable });
}

const constants = (entries: ReadonlyArray<readonly [string, (ctx: Ctx) => unknown]>): fc.Arbitrary<Arg> =>
  fc.constantFrom(...entries.map(([label, make]) => arg(label, make)));

/** A short, never-throwing description of anything (inspect shows a Proxy's target and never calls getters). */
export function describe(v: unknown): string {
  try {
    const text = inspect(v, { depth: 2, maxArrayLength: 6, maxStringLength: 48, breakLength: Infinity, customInspect: false });
    return text.length > 300 ? `${text.slice(0, 300)}...` : text;
  } catch (error) {
    return `<cannot inspect: ${String(error)}>`;
  }
}

// ---- scalars and junk ----

function revoked<T extends object>(target: T): T {
  const { proxy, revoke } = Proxy.revocable(target, {});
  revoke();
  return proxy;
}

function throwingTraps<T extends object>(target: T): T {
  const fail = (trap: string) => (): never => {
    throw new HostileInputError(`the ${trap} trap`);
  };
  return new Proxy(target, {
    get: fail('get'), has: fail('has'), ownKeys: fail('ownKeys'), getOwnPropertyDescriptor: fail('getOwnPropertyDescriptor'),
    getPrototypeOf: fail('getPrototypeOf'), apply: fail('apply'), set: fail('set'), defineProperty: fail('defineProperty'),
  });
}

const throwingPrimitive = (): object => ({
  [Symbol.toPrimitive]() {
    throw new HostileInputError('Symbol.toPrimitive');
  },
});

/** Values of the wrong type, and objects that break whoever converts or inspects them. */
const JUNK: ReadonlyArray<readonly [string, () => unknown]> = [
  ['undefined', () => undefined],
  ['null', () => null],
  ['true', () => true],
  ["''", () => ''],
  ["'1000'", () => '1000'],
  ['10n', () => 10n],
  ["Symbol('junk')", () => Symbol('junk')],
  ['() => 5', () => () => 5],
  ['[]', () => []],
  ['[5]', () => [5]],
  ['{}', () => ({})],
  ['{ valueOf: () => 5 }', () => ({ valueOf: () => 5 })],
  ['new Number(5)', () => new Number(5)],
  ['new Date(5)', () => new Date(5)],
  ['Object.create(null)', () => Object.create(null) as object],
  ['a revoked Proxy', () => revoked({})],
  ['a Proxy whose traps throw', () => throwingTraps({})],
  ['{ [Symbol.toPrimitive]() throws }', throwingPrimitive],
];

export const junk: fc.Arbitrary<Arg> = constants(JUNK);

const NUMBERS: ReadonlyArray<readonly [string, number]> = [
  ['0', 0], ['-0', -0], ['-1', -1], ['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity],
  ['Number.MIN_VALUE', Number.MIN_VALUE], ['1e-300', 1e-300], ['0.5', 0.5], ['1', 1], ['50', 50], ['1000', 1_000],
  ['60000', 60_000], ['2**31 - 1', 2 ** 31 - 1], ['2**31', 2 ** 31], ['2**32', 2 ** 32], ['2**40', 2 ** 40],
  ['2**53', 2 ** 53], ['2**53 + 2', 2 ** 53 + 2], ['1e21', 1e21], ['Number.MAX_VALUE', Number.MAX_VALUE],
];

/** Numbers at every edge of "a positive count of milliseconds / bytes"; `max` leaves out larger ones. */
export function hostileNumber(max = Infinity): fc.Arbitrary<Arg> {
  const listed = NUMBERS.filter(([, n]) => !(n > max));
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...listed.map(([label, n]) => arg(label, () => n))) },
    { weight: 1, arbitrary: fc.double({ max: Math.min(max, Number.MAX_VALUE) }).map((n) => arg(Object.is(n, -0) ? '-0' : String(n), () => n)) },
    { weight: 1, arbitrary: fc.integer({ min: -10, max: 100_000 }).map((n) => arg(String(n), () => n)) },
  );
}

export function hostileScalar(max = Infinity): fc.Arbitrary<Arg> {
  return fc.oneof({ weight: 3, arbitrary: hostileNumber(max) }, { weight: 2, arbitrary: junk });
}

const STRINGS: ReadonlyArray<readonly [string, () => string]> = [
  ["''", () => ''], ["'a'", () => 'a'], ["'name'", () => 'name'], ["' '", () => ' '], ["'a\\0b'", () => 'a\0b'],
  ["'\\uD800'", () => '\uD800'], ["'a\\uDFFFb'", () => 'a\uDFFFb'], ["'𝄞'", () => '𝄞'], ["'ü'", () => 'ü'],
  ["':'", () => ':'], ["'0:'", () => '0:'], ["'__proto__'", () => '__proto__'], ["'constructor'", () => 'constructor'],
  ["'x' x 2000", () => 'x'.repeat(2_000)], ["'x' x 70000", () => 'x'.repeat(70_000)],
];

export const hostileString: fc.Arbitrary<Arg> = fc.oneof(
  { weight: 4, arbitrary: constants(STRINGS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }).map((s) => arg(JSON.stringify(s), () => s)) },
  { weight: 2, arbitrary: junk },
);

// ---- options objects ----

type Shape =
  | 'plain' | 'null-prototype' | 'frozen' | 'class instance' | 'array' | 'function' | 'Proxy'
  | 'revoked Proxy' | 'Proxy whose traps throw' | 'throwing getter';

/**
 * An options object with some of the given fields, in a container that may itself be hostile
 * (null prototype, class instance, Proxy, a getter that throws), or no object at all.
 */
export function hostileOptions(fields: Record<string, fc.Arbitrary<Arg>>, accept: (chosen: Partial<Record<string, Arg>>) => boolean = () => true): fc.Arbitrary<OptionsArg> {
  const names = Object.keys(fields);
  const shaped = fc
    .tuple(
      fc.record(fields, { requiredKeys: [] }).filter((chosen) => accept(chosen as Partial<Record<string, Arg>>)),
      fc.oneof(
        { weight: 12, arbitrary: fc.constant<Shape>('plain') },
        {
          weight: 6,
          arbitrary: fc.constantFrom<Shape>('null-prototype', 'frozen', 'class instance', 'array', 'function', 'Proxy', 'revoked Proxy', 'Proxy whose traps throw', 'throwing getter'),
        },
      ),
      fc.constantFrom(...names),
    )
    .map(([chosen, shape, getterField]): OptionsArg => {
      const entries = Object.entries(chosen as Record<string, Arg>);
      const body = entries.map(([name, a]) => `${name}: ${a.label}`).join(', ');
      const label =
        shape === 'plain' ? `{ ${body} }`
        : shape === 'throwing getter' ? `{ ${body}${body === '' ? '' : ', '}get ${getterField}() throws }`
        : `${shape} { ${body} }`;
      const build = (ctx: Ctx): { value: unknown; fields: Record<string, unknown> } => {
        const made: Record<string, unknown> = {};
        for (const [name, a] of entries) made[name] = a.make(ctx);
        return { value: contain(shape, made, getterField), fields: made };
      };
      return printable(label, { label, build, make: (ctx: Ctx) => build(ctx).value });
    });
  const bare = junk.map((j): OptionsArg => printable(j.label, { label: j.label, make: j.make, build: (ctx: Ctx) => ({ value: j.make(ctx), fields: undefined }) }));
  return fc.oneof({ weight: 5, arbitrary: shaped }, { weight: 1, arbitrary: bare });
}

class Options {}

/** For a look at scalar recipes while generating, which never touch their context. */
const NO_CTX: Ctx = {
  dir: '',
  keyLimit: 0,
  freshPath: () => fail('a recipe looked at while generating must not make paths'),
  attempt: () => fail('a recipe looked at while generating must not call factories'),
  thrownByCallback: (error) => error,
};

function fail(message: string): never {
  throw new Error(message);
}

function contain(shape: Shape, made: Record<string, unknown>, getterField: string): unknown {
  switch (shape) {
    case 'plain': return { ...made };
    case 'null-prototype': return Object.assign(Object.create(null) as object, made);
    case 'frozen': return Object.freeze({ ...made });
    case 'class instance': return Object.assign(new Options(), made);
    case 'array': return Object.assign([], made);
    case 'function': {
      // Own properties of a function such as `name` are read-only: define the fields instead.
      const fn = function options(): void {};
      for (const [name, v] of Object.entries(made)) Object.defineProperty(fn, name, { value: v, enumerable: true, writable: true, configurable: true });
      return fn;
    }
    case 'Proxy': return new Proxy({ ...made }, {});
    case 'revoked Proxy': return revoked({ ...made });
    case 'Proxy whose traps throw': return throwingTraps({ ...made });
    case 'throwing getter': {
      const obj: Record<string, unknown> = { ...made };
      Object.defineProperty(obj, getterField, {
        enumerable: true,
        get() {
          throw new HostileInputError(`the getter of ${getterField}`);
        },
      });
      return obj;
    }
  }
}

/** The arguments of a factory: none, the options, or the options followed by a stray extra argument. */
export function optionalArgs(first: fc.Arbitrary<Arg>): fc.Arbitrary<Arg[]> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<Arg[]>([]) },
    { weight: 6, arbitrary: first.map((a): Arg[] => [a]) },
    { weight: 1, arbitrary: fc.tuple(first, junk).map((pair): Arg[] => [...pair]) },
  );
}

// ---- paths (always inside the run's temporary directory, or not a path at all) ----

export const hostilePath: fc.Arbitrary<Arg> = fc.oneof(
  {
    weight: 4,
    arbitrary: constants([
      ['<tmp>/fresh', (ctx) => ctx.freshPath('fresh')],
      ['<tmp>/a/b/c (missing parents)', (ctx) => `${ctx.freshPath('nested')}/a/b/c`],
      ['<tmp>/ü 𝄞 (spaces and unicode)', (ctx) => `${ctx.freshPath('ü 𝄞')}`],
      ['<tmp>/dir/ (trailing slash)', (ctx) => `${ctx.freshPath('slash')}/`],
      ['<tmp>/x/../y', (ctx) => `${ctx.freshPath('dots')}/x/../y`],
      ['<tmp>/a\\0b (NUL)', (ctx) => `${ctx.freshPath('nul')}\0b`],
      ['<tmp>/\\uD800 (lone surrogate)', (ctx) => `${ctx.freshPath('surrogate')}\uD800`],
      ['<tmp>/(300-character name)', (ctx) => `${ctx.freshPath('long')}${'n'.repeat(300)}`],
      ['<tmp>/(5000-character path)', (ctx) => `${ctx.freshPath('deep')}/${`${'d'.repeat(200)}/`.repeat(25)}`],
      ['<tmp>/file (a regular file)', (ctx) => {
        const file = ctx.freshPath('file');
        writeFileSync(file, 'not a directory');
        return file;
      }],
      ['<tmp>/file/sub (under a regular file)', (ctx) => {
        const file = ctx.freshPath('file');
        writeFileSync(file, 'not a directory');
        return `${file}/sub`;
      }],
      ['<tmp>/loop (a symlink to itself)', (ctx) => {
        const link = ctx.freshPath('loop');
        symlinkSync(link, link);
        return link;
      }],
      ['<tmp>/dir/ (existing, empty)', (ctx) => {
        const dir = ctx.freshPath('existing');
        mkdirSync(dir);
        return dir;
      }],
    ]),
  },
  {
    weight: 2,
    arbitrary: constants([
      ["''", () => ''],
      ['Buffer of <tmp>/fresh', (ctx) => Buffer.from(ctx.freshPath('buffer'))],
      ['URL of <tmp>/fresh', (ctx) => new URL(`file://${ctx.freshPath('url')}`)],
      ["{ toString: () => '<tmp>/fresh' }", (ctx) => {
        const path = ctx.freshPath('object');
        return { toString: () => path };
      }],
    ]),
  },
  // A string among the junk would be a path relative to the working directory: left out.
  { weight: 1, arbitrary: junk.filter((j) => !j.label.startsWith("'")) },
);

// ---- policies and tiers (built while a run executes) ----

const bounded = { lease: 300, maxWait: 2_000, poll: { first: 2, longest: 20 } } as const;

/** The pipelines a main cache runs with: well formed, with leases short enough that no wait is long. */
export const MAIN_PIPELINES: ReadonlyArray<readonly [string, () => Policy[]]> = [
  ['[]', () => []],
  ['[coalesce()]', () => [coalesce()]],
  ['[barrier(short lease)]', () => [barrier(bounded)]],
  ['[serveStale({ maxAge: 600000 }), xfetch(), barrier(short lease)]', () => [serveStale({ maxAge: 600_000, lease: 300, maxWait: 2_000 }), xfetch(), barrier(bounded)]],
  ['[xfetch({ beta: 1 }), coalesce()]', () => [xfetch({ beta: 1 }), coalesce()]],
  ['[timeouts({ hard: 2000 }), barrier(short lease)]', () => [timeouts({ hard: 2_000 }), barrier(bounded)]],
];

/** Per-call pipelines for a function that never settles: the hard timeout answers its caller. */
export const HANG_PIPELINES: ReadonlyArray<readonly [string, () => Policy[]]> = [
  ['[timeouts({ hard: 20 })]', () => [timeouts({ hard: 20 })]],
  ['[timeouts({ hard: 20 }), barrier(short lease)]', () => [timeouts({ hard: 20 }), barrier(bounded)]],
  ['[timeouts({ hard: 20 }), coalesce()]', () => [timeouts({ hard: 20 }), coalesce()]],
];

/** What a user policy answers on its own, without computing. */
export const POLICY_ANSWER = 'answered by a user policy';

export const barrierOptions = hostileOptions({
  lease: hostileScalar(),
  maxWait: hostileScalar(),
  poll: fc.oneof(junk, hostileOptions({ first: hostileScalar(), longest: hostileScalar() })),
});
export const xfetchOptions = hostileOptions({ beta: hostileScalar() });
export const serveStaleOptions = hostileOptions({
  maxAge: hostileScalar(),
  onCold: fc.oneof(constants([["'wait'", () => 'wait'], ["'throw'", () => 'throw'], ["'WAIT'", () => 'WAIT']]), hostileString),
  lease: hostileScalar(),
  maxWait: hostileScalar(),
});
export const timeoutsOptions = hostileOptions({ soft: hostileScalar(), hard: hostileScalar() });
export const memoryOptions = hostileOptions({ maxEntries: hostileScalar(), maxBytes: hostileScalar() });

// Any bound: those the platform cannot map are refused (they crashed the process before), and a
// bound far below one entry with a sweep running all the time once corrupted the heap on close.
export const lmdbOptions = hostileOptions({
  path: hostilePath,
  maxBytes: hostileScalar(),
  syncInterval: hostileScalar(),
  sweepInterval: hostileScalar(),
});

/** Stands for a policy whose factory refused its options (as it may): the array goes on without it. */
const REFUSED = Symbol('refused');

const factoryPolicy = (name: string, options: fc.Arbitrary<OptionsArg>, build: (o: unknown) => Policy): fc.Arbitrary<Arg> =>
  options.map((o) => arg(`${name}(${o.label})`, (ctx) => ctx.attempt(`${name}(${o.label})`, () => build(o.make(ctx))) ?? REFUSED));

const userPolicies: ReadonlyArray<readonly [string, (ctx: Ctx) => unknown]> = [
  ["{ name: 'pass', create: () => ({ handle: (call, next) => next() }) }", () => ({ name: 'pass', create: () => ({ handle: (_call: unknown, next: () => Promise<unknown>) => next() }) })],
  ['{ name: \'answers\', create: () => ({ handle: () => answer }) }', () => ({ name: 'answers', create: () => ({ handle: () => Promise.resolve(POLICY_ANSWER) }) })],
  ["{ name: 'create throws', create() throws }", (ctx) => ({
    name: 'create throws',
    create() {
      throw ctx.thrownByCallback(new CallbackError('policy create'));
    },
  })],
  ["{ name: 'handle throws', create: () => ({ handle() throws }) }", (ctx) => ({
    name: 'handle throws',
    create: () => ({
      handle() {
        throw ctx.thrownByCallback(new CallbackError('policy handle'));
      },
    }),
  })],
  ["{ get name() throws, create }", () => ({
    get name(): string {
      throw new HostileInputError('the getter of name');
    },
    create: () => ({ handle: (_call: unknown, next: () => Promise<unknown>) => next() }),
  })],
  ["{ name: 'x' }", () => ({ name: 'x' })],
  ["{ name: 'x', create: 42 }", () => ({ name: 'x', create: 42 })],
  ['{ name: 42, create() {} }', () => ({ name: 42, create() {} })],
  ['Proxy of ttl()', () => new Proxy(ttl(), {})],
  ['revoked Proxy of ttl()', () => revoked(ttl())],
];

const policyItem: fc.Arbitrary<Arg> = fc.oneof(
  {
    weight: 4,
    arbitrary: constants([
      ['ttl()', () => ttl()],
      ['coalesce()', () => coalesce()],
      ['barrier(short lease)', () => barrier(bounded)],
      ['xfetch()', () => xfetch()],
      ['serveStale({ maxAge: 600000 })', () => serveStale({ maxAge: 600_000, lease: 300, maxWait: 2_000 })],
      ['timeouts({ hard: 2000 })', () => timeouts({ hard: 2_000 })],
      ['timeouts({ soft: 10, hard: 2000 })', () => timeouts({ soft: 10, hard: 2_000 })],
    ]),
  },
  { weight: 1, arbitrary: factoryPolicy('barrier', barrierOptions, (o) => barrier(o as never)) },
  { weight: 1, arbitrary: factoryPolicy('xfetch', xfetchOptions, (o) => xfetch(o as never)) },
  { weight: 1, arbitrary: factoryPolicy('serveStale', serveStaleOptions, (o) => serveStale(o as never)) },
  { weight: 1, arbitrary: factoryPolicy('timeouts', timeoutsOptions, (o) => timeouts(o as never)) },
  { weight: 2, arbitrary: constants(userPolicies) },
  { weight: 1, arbitrary: junk },
);

/** A `policies` option: arrays of real, user and broken policies, odd arrays, or no array. */
export const hostilePolicies: fc.Arbitrary<Arg> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.array(policyItem, { maxLength: 3 }).map((items) =>
      arg(`[${items.map((i) => i.label).join(', ')}]`, (ctx) => items.map((i) => i.make(ctx)).filter((p) => p !== REFUSED)),
    ),
  },
  {
    weight: 2,
    arbitrary: constants([
      ['[barrier(), xfetch()] (wrong order)', () => [barrier(), xfetch()]],
      ['[barrier(), serveStale({ maxAge: 600000 })] (wrong order)', () => [barrier(), serveStale({ maxAge: 600_000 })]],
      ['[coalesce(), xfetch()] (wrong order)', () => [coalesce(), xfetch()]],
      ['[p, p] (the same policy twice)', () => {
        const p = coalesce();
        return [p, p];
      }],
      ['[timeouts({ soft: 10 })] (no stale values to fall back on)', () => [timeouts({ soft: 10 })]],
      ['[, ttl()] (sparse)', () => {
        const sparse: Policy[] = [];
        sparse[1] = ttl();
        return sparse;
      }],
      ['{ length: 1, 0: ttl() } (array-like)', () => ({ length: 1, 0: ttl() })],
      ['Proxy of [coalesce()]', () => new Proxy([coalesce()], {})],
      ['[ttl()] with an extra property', () => Object.assign([ttl()], { extra: 1 })],
    ]),
  },
  { weight: 1, arbitrary: junk },
);

export const hostileTiers: fc.Arbitrary<Arg> = fc.oneof(
  {
    weight: 3,
    arbitrary: constants([
      ['[]', () => []],
      ['[memoryTier()]', () => [memoryTier()]],
      ['[memoryTier(), lmdbTier(<tmp>)]', (ctx) => [memoryTier(), lmdbTier({ path: ctx.freshPath('tiers') })]],
      ['[lmdbTier(<tmp>), memoryTier()] (process tier not first)', (ctx) => [lmdbTier({ path: ctx.freshPath('tiers') }), memoryTier()]],
      ['[memoryTier(), memoryTier()]', () => [memoryTier(), memoryTier()]],
      ['[t, t] (the same tier twice)', () => {
        const t = memoryTier();
        return [t, t];
      }],
      ['[null]', () => [null]],
      ['[42]', () => [42]],
      ['[{}]', () => [{}]],
      ["[{ name: 'fake', scope: 'machine', get() {}, attach() {} }] (a tier with nothing else)", () => [{ name: 'fake', scope: 'machine', maxKeyBytes: 100, get() {}, attach() {} }]],
      ['Proxy of [memoryTier()]', () => new Proxy([memoryTier()], {})],
      ['{ length: 1, 0: memoryTier() } (array-like)', () => ({ length: 1, 0: memoryTier() })],
    ]),
  },
  { weight: 1, arbitrary: junk },
);

export const hostileClock: fc.Arbitrary<Arg> = fc.oneof(
  constants([
    ['Date.now', () => Date.now],
    ['() => NaN', () => () => NaN],
    ['() => -1', () => () => -1],
    ['() => 2**53', () => () => 2 ** 53],
    ["() => '5'", () => () => '5'],
    ['a clock that throws', (ctx) => () => {
      throw ctx.thrownByCallback(new CallbackError('clock'));
    }],
  ]),
  junk,
);

export const hostileRandom: fc.Arbitrary<Arg> = fc.oneof(
  constants([
    ['Math.random', () => Math.random],
    ['() => 1', () => () => 1],
    ['() => NaN', () => () => NaN],
    ['() => -1', () => () => -1],
    ['a random that throws', (ctx) => () => {
      throw ctx.thrownByCallback(new CallbackError('random'));
    }],
  ]),
  junk,
);

export const cacheOptions = hostileOptions({
  ttl: hostileScalar(),
  maxAge: hostileScalar(),
  namespace: hostileString,
  policies: hostilePolicies,
  tiers: hostileTiers,
  memory: fc.oneof(constants([['false', () => false]]), memoryOptions, junk),
  lmdb: fc.oneof(constants([['false', () => false]]), lmdbOptions, junk),
  clock: hostileClock,
  random: hostileRandom,
  TTL: hostileScalar(),
});

// redisTier is only ever constructed here, never attached, so nothing connects.
export const redisOptions = hostileOptions({
  url: fc.oneof(constants([["'redis://127.0.0.1:1'", () => 'redis://127.0.0.1:1'], ["'not a url'", () => 'not a url']]), hostileString),
  client: fc.oneof(constants([['{ duplicate: 42 }', () => ({ duplicate: 42 })], ['{ duplicate() {} }', () => ({ duplicate() {} })]]), junk),
  commandTimeout: hostileScalar(),
  connectTimeout: hostileScalar(),
  keyPrefix: hostileString,
  channel: hostileString,
  breaker: fc.oneof(junk, hostileOptions({ failures: hostileScalar(), cooldown: hostileScalar() })),
  changeStreamLength: hostileScalar(),
  repairLimit: hostileScalar(),
});

// ---- values ----

function deep(depth: number, wrap: (inner: unknown) => unknown): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = wrap(v);
  return v;
}

class Point {
  x = 1;
  y = 2;
}
class HerdDate extends Date {}
class HerdRegExp extends RegExp {}
class HerdMap extends Map<unknown, unknown> {}
class HerdSet extends Set<unknown> {}
class HerdArray extends Array<unknown> {}
class HerdBytes extends Uint8Array {}
class HerdBuffer extends Uint8Array {}
Object.setPrototypeOf(HerdBuffer.prototype, Buffer.prototype);

const MB = 1 << 20;

const EXOTIC: ReadonlyArray<readonly [string, () => unknown, boolean?]> = [
  // depth
  ['arrays nested 100 deep', () => deep(100, (v) => [v])],
  ['arrays nested 3000 deep', () => deep(3_000, (v) => [v])],
  ['objects nested 1000 deep', () => deep(1_000, (v) => ({ d: v }))],
  ['objects nested 3000 deep', () => deep(3_000, (v) => ({ d: v }))],
  ['Maps nested 3000 deep', () => deep(3_000, (v) => new Map([['d', v]]))],
  // cycles
  ['{ self: <itself> }', () => {
    const o: Record<string, unknown> = { a: 1 };
    o['self'] = o;
    return o;
  }],
  ['[<itself>]', () => {
    const a: unknown[] = [];
    a.push(a);
    return a;
  }],
  ['Map { m => <itself> }', () => {
    const m = new Map<unknown, unknown>();
    m.set('m', m);
    return m;
  }],
  ['Set { <itself> }', () => {
    const s = new Set<unknown>();
    s.add(s);
    return s;
  }],
  ['{ a: { b: { c: <root> } } }', () => {
    const root: Record<string, unknown> = {};
    root['a'] = { b: { c: root } };
    return root;
  }],
  // size
  ["'x' x 1 MiB", () => 'x'.repeat(MB)],
  ['Buffer of 1 MiB', () => Buffer.alloc(MB, 7)],
  ['Float64Array of 1 MiB', () => new Float64Array(MB / 8).fill(0.5)],
  ['array of 100000 numbers', () => Array.from({ length: 100_000 }, (_, i) => i)],
  ['object with 20000 keys', () => Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i]))],
  ['Map of 20000 entries', () => new Map(Array.from({ length: 20_000 }, (_, i) => [i, `v${i}`]))],
  // Proxies
  ['Proxy of { a: 1 }', () => new Proxy({ a: 1 }, {})],
  ['Proxy of [1, 2]', () => new Proxy([1, 2], {})],
  ['Proxy of { a: 0 } whose get answers 1', () => new Proxy({ a: 0 }, { get: () => 1 })],
  ['Proxy of a Map', () => new Proxy(new Map([[1, 2]]), {}), false],
  ['Proxy of a Date', () => new Proxy(new Date(0), {}), false],
  ['a revoked Proxy', () => revoked({ a: 1 }), false],
  ['a revoked Proxy of an array', () => revoked([1]), false],
  ['a Proxy whose traps throw', () => throwingTraps({ a: 1 }), false],
  ['a Proxy whose ownKeys trap throws', () => new Proxy({ a: 1 }, {
    ownKeys() {
      throw new HostileInputError('the ownKeys trap');
    },
  }), false],
  ['a Proxy whose getPrototypeOf trap throws', () => new Proxy({ a: 1 }, {
    getPrototypeOf() {
      throw new HostileInputError('the getPrototypeOf trap');
    },
  }), false],
  ['{ inner: <revoked Proxy> }', () => ({ inner: revoked({}) }), false],
  // getters
  ['{ get x() { return 1 } }', () => ({
    get x() {
      return 1;
    },
  })],
  ['{ get x() throws }', () => ({
    get x(): number {
      throw new HostileInputError('the getter of x');
    },
  }), false],
  ['{ a: { get b() throws } }', () => ({
    a: {
      get b(): number {
        throw new HostileInputError('the getter of b');
      },
    },
  }), false],
  ['[<getter that throws>, 2]', () => Object.defineProperty([1, 2], 0, {
    get(): number {
      throw new HostileInputError('the getter of [0]');
    },
  }), false],
  // class instances and built-ins that are not plain data
  ['new Point()', () => new Point()],
  ["new Error('e')", () => new Error('e')],
  ['new Number(1)', () => new Number(1)],
  ["new String('s')", () => new String('s')],
  ['new Boolean(false)', () => new Boolean(false)],
  ['Promise.resolve(1)', () => Promise.resolve(1)],
  ['new WeakMap()', () => new WeakMap()],
  ['new ArrayBuffer(8)', () => new ArrayBuffer(8)],
  ['new DataView(new ArrayBuffer(4))', () => new DataView(new ArrayBuffer(4))],
  ["new URL('http://h/')", () => new URL('http://h/')],
  ['Object.create({ inherited: 1 })', () => Object.create({ inherited: 1 }) as object],
  ['Object.create(null) with a: 1', () => Object.assign(Object.create(null) as object, { a: 1 })],
  ['an own __proto__ key', () => withOwnProto(1)],
  // subclasses
  ['a Date subclass', () => new HerdDate(0)],
  ['a RegExp subclass', () => new HerdRegExp('a', 'g')],
  ['a Map subclass', () => new HerdMap([[1, 2]])],
  ['a Set subclass', () => new HerdSet([1])],
  ['an Array subclass', () => HerdArray.from([1, 2])],
  ['a Uint8Array subclass', () => HerdBytes.from([1, 2])],
  ['a Buffer subclass', () => Object.setPrototypeOf(Buffer.from([1, 2, 3]), HerdBuffer.prototype) as Buffer],
  // extra properties
  ["[1, 2] with extra: 'x'", () => Object.assign([1, 2], { extra: 'x' })],
  ['[1] with a symbol property', () => Object.assign([1], { [Symbol('s')]: 1 })],
  ['[, 1] (sparse)', () => {
    const a: number[] = [];
    a[1] = 1;
    return a;
  }],
  ['[1] with length 3', () => {
    const a = [1];
    a.length = 3;
    return a;
  }],
  ['a Date with tag: 1', () => Object.assign(new Date(0), { tag: 1 })],
  ['a Map with tag: 1', () => Object.assign(new Map([[1, 2]]), { tag: 1 })],
  ['a Buffer with tag: 1', () => Object.assign(Buffer.from([1]), { tag: 1 })],
  ['/a/g with lastIndex 2', () => {
    const r = /a/g;
    r.lastIndex = 2;
    return r;
  }],
  ["/a/gimsuy", () => /a/gimsuy],
  // functions and symbols
  ['() => 1', () => () => 1],
  ['async function', () => async function named() {}],
  ['{ fn: () => 1 }', () => ({ fn: () => 1 })],
  ["Symbol('v')", () => Symbol('v')],
  ["{ s: Symbol('v') }", () => ({ s: Symbol('v') })],
  ['{ [Symbol()]: 1 }', () => ({ [Symbol('k')]: 1 })],
  // numbers, bigints, strings, dates, typed arrays
  ['-0', () => -0],
  ['{ z: -0 }', () => ({ z: -0 })],
  ['Map { -0 => 1 }', () => new Map([[-0, 1]])],
  ['NaN', () => NaN],
  ['[Infinity, -Infinity]', () => [Infinity, -Infinity]],
  ['2**53 + 2', () => 2 ** 53 + 2],
  ['Number.MIN_VALUE', () => Number.MIN_VALUE],
  ['1n << 4000n', () => 1n << 4000n],
  ['-(1n << 64n)', () => -(1n << 64n)],
  ['BigInt64Array [-(2n**63n)]', () => BigInt64Array.of(-(2n ** 63n))],
  ['Float32Array [NaN, -0]', () => new Float32Array([NaN, -0])],
  ['Uint8ClampedArray [255]', () => Uint8ClampedArray.of(255)],
  ['a Uint8Array view at offset 4', () => new Uint8Array(new ArrayBuffer(16), 4, 8).fill(3)],
  ['a Uint8Array over a SharedArrayBuffer', () => new Uint8Array(new SharedArrayBuffer(8)).fill(9)],
  ["'\\uD800'", () => '\uD800'],
  ["'a\\0b'", () => 'a\0b'],
  ["'\\uFFFF\\uFEFF'", () => '\uFFFF\uFEFF'],
  ["'𝄞' x 1000", () => '𝄞'.repeat(1_000)],
  ['new Date(NaN)', () => new Date(NaN)],
  ['new Date(8.64e15)', () => new Date(8.64e15)],
  ['undefined', () => undefined],
  ['null', () => null],
  ['{ u: undefined }', () => ({ u: undefined })],
  ['Map { {a: 1} => 1 } (object key)', () => new Map([[{ a: 1 }, 1]])],
];

export const hostileValue: fc.Arbitrary<ValueArg> = fc.oneof(
  { weight: 4, arbitrary: storableCandidate.map((v) => value(describe(v), () => v)) },
  { weight: 5, arbitrary: fc.constantFrom(...EXOTIC.map(([label, make, readable]) => value(label, make, readable ?? true))) },
);

/** Arguments of a memoized function: anything, including what cannot be part of a key. */
export const hostileArgs: fc.Arbitrary<ValueArg[]> = fc.array(hostileValue, { maxLength: 3 });

// ---- keys ----

const VALID_KEYS = ['k', 'key:1', 'ü', '𝄞', 'a\0b', ' ', '\t\n', '__proto__', 'constructor', 'toString', '0', 'NaN', '\uFFFF', '\uFEFF', 'e\u0301', '\u202Eabc', 'memo'];

export const hostileKey: fc.Arbitrary<Arg> = fc.oneof(
  { weight: 16, arbitrary: fc.constantFrom(...VALID_KEYS.map((k) => arg(JSON.stringify(k), () => k))) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom('x', 'é', '€', '𝄞'), fc.constantFrom(-1, 0, 1)).map(([unit, delta]) =>
      arg(`${JSON.stringify(unit)}... of (key limit${delta < 0 ? ' - 1' : delta > 0 ? ' + 1' : ''}) bytes`, (ctx) => {
        const bytes = ctx.keyLimit + delta;
        const size = Buffer.byteLength(unit);
        return unit.repeat(Math.floor(bytes / size)) + 'x'.repeat(bytes % size);
      }),
    ),
  },
  {
    weight: 3,
    arbitrary: constants([
      ["''", () => ''],
      ["'\\uD800'", () => '\uD800'],
      ["'a\\uDFFF'", () => 'a\uDFFF'],
      ["'\\uDC00\\uD800'", () => '\uDC00\uD800'],
      ["'x' x 10000", () => 'x'.repeat(10_000)],
      ["'x' x 1 MiB", () => 'x'.repeat(MB)],
      ['42', () => 42],
      ['-0', () => -0],
      ['NaN', () => NaN],
      ["new String('k')", () => new String('k')],
      ["{ toString: () => 'k' }", () => ({ toString: () => 'k' })],
      ["['k']", () => ['k']],
      ["Buffer.from('k')", () => Buffer.from('k')],
      ["Proxy of new String('k')", () => new Proxy(new String('k'), {})],
    ]),
  },
  { weight: 2, arbitrary: junk },
);

/** The documented rule: a non-empty, well-formed string of at most `limit` UTF-8 bytes. */
export function isValidKey(key: unknown, limit: number): key is string {
  return typeof key === 'string' && key.length > 0 && key.isWellFormed() && Buffer.byteLength(key) <= limit;
}

// ---- functions ----

export type FnKind = 'value' | 'async value' | 'undefined' | 'throws' | 'throws 42' | 'rejects';
export const fnKind: fc.Arbitrary<FnKind> = fc.constantFrom<FnKind>('value', 'async value', 'undefined', 'throws', 'throws 42', 'rejects');

export const hostileFn: fc.Arbitrary<FnSpec> = fc.oneof(
  { weight: 6, arbitrary: fnKind.map((kind) => ({ kind, arg: arg(`fn ${kind}`, () => undefined) })) },
  { weight: 1, arbitrary: junk.filter((j) => j.label !== '() => 5').map((j) => ({ kind: 'junk' as const, arg: j })) },
);

/** A memoize `key` option: returns a string (a good or bad key part), a non-string, or throws; or is not a function. */
export type KeyFnKind = { kind: 'string'; part: Arg } | { kind: 'non-string'; part: Arg } | { kind: 'throws' } | { kind: 'not a function'; part: Arg };
export const keyFn: fc.Arbitrary<KeyFnKind> = fc.oneof(
  hostileString.filter((s) => s.label.startsWith("'") || s.label.startsWith('"')).map((part): KeyFnKind => ({ kind: 'string', part })),
  junk.filter((j) => !j.label.startsWith("'")).map((part): KeyFnKind => ({ kind: 'non-string', part })),
  fc.constant<KeyFnKind>({ kind: 'throws' }),
  junk.filter((j) => j.label !== 'undefined' && j.label !== '() => 5').map((part): KeyFnKind => ({ kind: 'not a function', part })),
);

export function keyFnLabel(k: KeyFnKind): string {
  switch (k.kind) {
    case 'string': return `() => ${k.part.label}`;
    case 'non-string': return `() => ${k.part.label} (not a string)`;
    case 'throws': return '() => { throw }';
    case 'not a function': return k.part.label;
  }
}

// ---- calls ----

export type ReadHow = 'get' | 'getSync' | 'has' | 'peer get' | 'peer getSync';
export type FactoryName = 'createCache' | 'memoryTier' | 'lmdbTier' | 'barrier' | 'xfetch' | 'serveStale' | 'timeouts' | 'coalesce' | 'ttl' | 'redisTier';
export type FnSpec = { kind: FnKind; arg: Arg } | { kind: 'junk'; arg: Arg };
export type CloseHow = 'close()' | '[Symbol.asyncDispose]()' | 'close() during a compute that never settles';

/** Marks the key functions the test makes, so the checker knows what they return. */
export const KEY_FN_KIND = Symbol('key fn kind');

export type Command =
  | { t: 'set'; key: Arg; value: ValueArg; options: OptionsArg | undefined }
  | { t: 'read'; how: ReadHow; key: Arg }
  | { t: 'delete'; key: Arg }
  | { t: 'clear' }
  | { t: 'compute'; key: Arg; fn: FnSpec; value: ValueArg; options: OptionsArg | undefined }
  | { t: 'hang'; abortable: boolean; pipeline: number }
  | { t: 'burst'; n: number; hang: boolean; value: ValueArg }
  | { t: 'memoize'; fn: FnSpec; anonymous: boolean; value: ValueArg; options: OptionsArg | undefined; calls: ValueArg[][] }
  | { t: 'memo call'; index: number; args: ValueArg[] }
  | { t: 'stats' }
  | { t: 'listen'; method: 'on' | 'off'; name: Arg; listener: Arg }
  | { t: 'close'; how: CloseHow }
  | { t: 'factory'; factory: FactoryName; args: Arg[] };

const listArgs = (args: readonly Arg[]): string => args.map((a) => a.label).join(', ');
const optionsLabel = (o: OptionsArg | undefined): string => (o === undefined ? '' : `, ${o.label}`);
const fnLabel = (fn: FnSpec): string => (fn.kind === 'junk' ? fn.arg.label : `fn ${fn.kind}`);

export function commandLabel(c: Command): string {
  switch (c.t) {
    case 'set': return `set(${c.key.label}, ${c.value.label}${optionsLabel(c.options)})`;
    case 'read': return c.how.startsWith('peer') ? `peer.${c.how.slice(5)}(${c.key.label})` : `${c.how}(${c.key.label})`;
    case 'delete': return `delete(${c.key.label})`;
    case 'clear': return 'clear()';
    case 'compute': return `compute(${c.key.label}, ${fnLabel(c.fn)}${c.fn.kind === 'value' || c.fn.kind === 'async value' ? ` returning ${c.value.label}` : ''}${optionsLabel(c.options)})`;
    case 'hang': return `compute(<new key>, fn that never settles${c.abortable ? ' but rejects on abort' : ' and ignores its signal'}, { policies: ${HANG_PIPELINES[c.pipeline]?.[0] ?? '?'} })`;
    case 'burst': return `${c.n} concurrent computes of one new key, ${c.hang ? `fn that never settles, { policies: ${HANG_PIPELINES[0]![0]} }` : `async fn returning ${c.value.label}`}`;
    case 'memoize': return `memoize(${c.anonymous ? 'anonymous ' : ''}${fnLabel(c.fn)}${c.fn.kind === 'value' || c.fn.kind === 'async value' ? ` returning ${c.value.label}` : ''}${optionsLabel(c.options)}) then called with ${c.calls.map((args) => `(${listArgs(args)})`).join(', ') || 'nothing'}`;
    case 'memo call': return `memoized function #${c.index} called with (${listArgs(c.args)})`;
    case 'stats': return 'stats()';
    case 'listen': return `${c.method}(${c.name.label}, ${c.listener.label})`;
    case 'close': return c.how;
    case 'factory': return `${c.factory}(${listArgs(c.args)})`;
  }
}

function command(c: Command): Command {
  return printable(commandLabel(c), c);
}

const keyFnArg: fc.Arbitrary<Arg> = keyFn.map((k) =>
  arg(keyFnLabel(k), (ctx) => {
    let made: unknown;
    switch (k.kind) {
      case 'string': case 'non-string': {
        const part = k.part.make(ctx);
        made = (): unknown => part;
        break;
      }
      case 'throws':
        made = (): never => {
          throw ctx.thrownByCallback(new CallbackError('memoize key'));
        };
        break;
      case 'not a function':
        return k.part.make(ctx);
    }
    Object.defineProperty(made, KEY_FN_KIND, { value: k.kind });
    return made;
  }),
);

// Per-call durations are often sound, so that calls get past validation and store something.
const duration: fc.Arbitrary<Arg> = fc.oneof(
  { weight: 2, arbitrary: constants([['1000', () => 1_000], ['60000', () => 60_000], ['600000', () => 600_000]]) },
  { weight: 3, arbitrary: hostileScalar() },
);
const memoName: fc.Arbitrary<Arg> = fc.oneof({ weight: 2, arbitrary: constants([["'user'", () => 'user'], ["'page'", () => 'page']]) }, { weight: 3, arbitrary: hostileString });
const setOptions = hostileOptions({ ttl: duration, maxAge: duration });
const computeOptions = hostileOptions({ ttl: duration, maxAge: duration, policies: hostilePolicies });
const memoizeOptions = hostileOptions({ name: memoName, key: keyFnArg, ttl: duration, maxAge: duration, policies: hostilePolicies });
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 2 });

const EVENT_NAMES: ReadonlyArray<readonly [string, () => unknown]> = [
  ["'background-error'", () => 'background-error'], ["'refresh'", () => 'refresh'], ["'evict'", () => 'evict'],
  ["'tier-error'", () => 'tier-error'], ["'no-such-event'", () => 'no-such-event'], ["'__proto__'", () => '__proto__'],
];
const LISTENERS: ReadonlyArray<readonly [string, (ctx: Ctx) => unknown]> = [
  ['() => {}', () => () => {}],
  ['a listener that throws', (ctx) => () => {
    throw ctx.thrownByCallback(new CallbackError('listener'));
  }],
];

const factoryCall: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: optionalArgs(cacheOptions).map((args) => command({ t: 'factory', factory: 'createCache', args })) },
  { weight: 2, arbitrary: optionalArgs(memoryOptions).map((args) => command({ t: 'factory', factory: 'memoryTier', args })) },
  { weight: 3, arbitrary: optionalArgs(lmdbOptions).map((args) => command({ t: 'factory', factory: 'lmdbTier', args })) },
  { weight: 2, arbitrary: optionalArgs(barrierOptions).map((args) => command({ t: 'factory', factory: 'barrier', args })) },
  { weight: 2, arbitrary: optionalArgs(xfetchOptions).map((args) => command({ t: 'factory', factory: 'xfetch', args })) },
  { weight: 2, arbitrary: optionalArgs(serveStaleOptions).map((args) => command({ t: 'factory', factory: 'serveStale', args })) },
  { weight: 2, arbitrary: optionalArgs(timeoutsOptions).map((args) => command({ t: 'factory', factory: 'timeouts', args })) },
  { weight: 1, arbitrary: fc.array(junk, { maxLength: 2 }).map((args) => command({ t: 'factory', factory: 'coalesce', args })) },
  { weight: 1, arbitrary: fc.array(junk, { maxLength: 2 }).map((args) => command({ t: 'factory', factory: 'ttl', args })) },
  { weight: 2, arbitrary: optionalArgs(redisOptions).map((args) => command({ t: 'factory', factory: 'redisTier', args })) },
);

/** One call of the public surface with hostile arguments. */
export const hostileCommand: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ key: hostileKey, value: hostileValue, options: maybe(setOptions) }).map((r) => command({ t: 'set', ...r })) },
  {
    weight: 4,
    arbitrary: fc.record({ how: fc.constantFrom<ReadHow>('get', 'getSync', 'has', 'peer get', 'peer getSync'), key: hostileKey }).map((r) => command({ t: 'read', ...r })),
  },
  { weight: 2, arbitrary: hostileKey.map((key) => command({ t: 'delete', key })) },
  { weight: 1, arbitrary: fc.constant(command({ t: 'clear' })) },
  { weight: 6, arbitrary: fc.record({ key: hostileKey, fn: hostileFn, value: hostileValue, options: maybe(computeOptions) }).map((r) => command({ t: 'compute', ...r })) },
  { weight: 1, arbitrary: fc.record({ abortable: fc.boolean(), pipeline: fc.nat({ max: HANG_PIPELINES.length - 1 }) }).map((r) => command({ t: 'hang', ...r })) },
  { weight: 1, arbitrary: fc.record({ n: fc.integer({ min: 1, max: 24 }), hang: fc.boolean(), value: hostileValue }).map((r) => command({ t: 'burst', ...r })) },
  {
    weight: 3,
    arbitrary: fc
      .record({ fn: hostileFn, anonymous: fc.boolean(), value: hostileValue, options: maybe(memoizeOptions), calls: fc.array(hostileArgs, { minLength: 1, maxLength: 3 }) })
      .map((r) => command({ t: 'memoize', ...r })),
  },
  { weight: 1, arbitrary: fc.record({ index: fc.nat({ max: 3 }), args: hostileArgs }).map((r) => command({ t: 'memo call', ...r })) },
  { weight: 1, arbitrary: fc.constant(command({ t: 'stats' })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ method: fc.constantFrom<'on' | 'off'>('on', 'off'), name: fc.oneof(constants(EVENT_NAMES), hostileString), listener: fc.oneof(constants(LISTENERS), junk) })
      .map((r) => command({ t: 'listen', ...r })),
  },
  { weight: 1, arbitrary: fc.constantFrom<CloseHow>('close()', '[Symbol.asyncDispose]()', 'close() during a compute that never settles').map((how) => command({ t: 'close', how })) },
  { weight: 6, arbitrary: factoryCall },
);

/** How each run's main cache is set up: its namespace, ttl and pipeline (all well formed). */
export interface RunSetup {
  readonly namespace: string;
  readonly ttl: number;
  readonly pipeline: number;
}

export const runSetup: fc.Arbitrary<RunSetup> = fc
  .record({
    namespace: fc.constantFrom('', 'ns', 'ü-𝄞', 'a:b', '0'),
    ttl: fc.oneof({ weight: 6, arbitrary: fc.constant(60_000) }, { weight: 1, arbitrary: fc.constant(1) }),
    pipeline: fc.nat({ max: MAIN_PIPELINES.length - 1 }),
  })
  .map((s) => printable(`main cache { namespace: ${JSON.stringify(s.namespace)}, ttl: ${s.ttl}, policies: ${MAIN_PIPELINES[s.pipeline]?.[0] ?? '?'} }`, s));

