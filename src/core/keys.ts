import { createHash } from 'node:crypto';
import { InvalidKeyError } from './errors.js';
import { arrayElement, HOLE, MAX_DEPTH, plainEntries, plainKind, withCause, type Refuse } from './storable.js';

/**
 * The prefix that places a key inside a namespace on the shared tiers. It starts with the
 * namespace's length, so that ("a", "b:c") and ("a:b", "c") can never meet.
 *
 * @example
 * ```ts
 * namespacePrefix('users'); // '5:users:'
 * namespacePrefix('');      // '0::'
 * ```
 */
export function namespacePrefix(namespace: string): string {
  return `${namespace.length}:${namespace}:`;
}

/** A length as namespacePrefix writes it: decimal digits, no sign and no leading zero. */
const CANONICAL_LENGTH = /^(?:0|[1-9][0-9]*)$/;

/**
 * The namespace prefix a storage key starts with (see {@link namespacePrefix}), or '' when the
 * key was not made by it: what a clear of a namespace covers.
 *
 * @example
 * ```ts
 * namespaceOf('5:users:42'); // '5:users:'
 * namespaceOf('plain');      // ''
 * ```
 */
export function namespaceOf(storageKey: string): string {
  const colon = storageKey.indexOf(':');
  // Ten digits cover any string a process can hold.
  if (colon < 1 || colon > 10) return '';
  const digits = storageKey.slice(0, colon);
  // Only the decimal form namespacePrefix writes: Number() would also read '+1', ' 1', '0x1', '1e0'.
  if (!CANONICAL_LENGTH.test(digits)) return '';
  const end = colon + 1 + Number(digits);
  return storageKey[end] === ':' ? storageKey.slice(0, end + 1) : '';
}

/**
 * Throws {@link InvalidKeyError} unless `key` is a non-empty string of at most `maxBytes` UTF-8
 * bytes. Cheap for short keys: the byte length is only measured when it could matter.
 *
 * @example
 * ```ts
 * assertKey('user:1', 1_900); // ok
 * assertKey('', 1_900);       // throws InvalidKeyError
 * ```
 */
export function assertKey(key: unknown, maxBytes: number): asserts key is string {
  if (typeof key !== 'string') throw new InvalidKeyError(`a key must be a string, got ${key === null ? 'null' : typeof key}`);
  if (key.length === 0) throw new InvalidKeyError('a key must not be empty', key);
  if (!key.isWellFormed()) throw new InvalidKeyError('a key must be well-formed text: a lone UTF-16 surrogate would be stored as U+FFFD and meet other keys', key);
  if (key.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(key, 'utf8');
    if (bytes > maxBytes) {
      throw new InvalidKeyError(`the key is ${bytes} bytes long, over the limit of ${maxBytes} bytes for these tiers and namespace: hash long keys`, key.slice(0, 64));
    }
  }
}

/**
 * A canonical text for memoize arguments: object keys are sorted, so `{ a, b }` and `{ b, a }`
 * give the same key, and every type is tagged, so `1` and `'1'` never meet. The same arguments
 * give the same text in every process. Only plain data has a canonical form: primitives, plain
 * objects, arrays, Map, Set, Date, RegExp, Buffer and typed arrays, as `assertStorable`
 * accepts them (holes, `-0` and lone surrogates included, since they have a text of their own).
 * Anything else (functions, symbols, Proxies, class instances such as Errors, Promises, boxed
 * primitives, WeakMaps; null-prototype objects; extra, hidden or accessor properties; cycles;
 * more than {@link MAX_DEPTH} levels) would give distinct arguments one text, and is refused
 * with {@link InvalidKeyError} naming the argument path.
 *
 * @example
 * ```ts
 * canonicalArgs([{ b: 2, a: 1 }]) === canonicalArgs([{ a: 1, b: 2 }]); // true
 * canonicalArgs([new Error('x')]); // throws InvalidKeyError: memoize argument [0]: not plain data ...
 * ```
 */
export function canonicalArgs(args: readonly unknown[]): string {
  const at = { path: '' };
  try {
    return canonical(args, '', 0, new Set(), at);
  } catch (err) {
    if (err instanceof InvalidKeyError) throw err;
    // Kept for a stack already deep when memoize is called, and for globals patched to throw.
    const reason = err instanceof RangeError ? 'it is nested too deeply' : `reading it threw: ${err instanceof Error ? err.message : String(err)}`;
    throw withCause(keyError(at.path, `${reason}: pass { key } to derive the key`), err);
  }
}

function keyError(path: string, reason: string): InvalidKeyError {
  return new InvalidKeyError(`${path === '' ? 'memoize arguments' : `memoize argument ${path}`}: ${reason}`);
}

const refuse: Refuse = (path, reason) => {
  throw keyError(path, reason);
};

// plainKind explains what storing would do; the part before its advice names the problem.
const noCanonicalForm: Refuse = (path, reason) => {
  const problem = reason.split('; ')[0] ?? reason;
  throw keyError(path, `not plain data (${problem}), so it has no canonical form: pass plain data, or { key } to derive the key`);
};

function canonical(value: unknown, path: string, depth: number, seen: Set<object>, at: { path: string }): string {
  at.path = path;
  switch (typeof value) {
    case 'string': return JSON.stringify(value);
    case 'number': return Object.is(value, -0) ? 'n-0' : `n${String(value)}`;
    case 'bigint': return `b${value.toString()}`;
    case 'boolean': return value ? 't' : 'f';
    case 'undefined': return 'u';
    case 'function': case 'symbol':
      return refuse(path, `a ${typeof value} argument cannot be part of a memoize key: pass { key } to derive one`);
  }
  if (value === null) return 'z';
  const obj = value as object;
  const kind = plainKind(obj, path, noCanonicalForm);
  // The builtins' own methods and getters: plainKind refused own properties that could shadow them.
  if (kind === 'date') return `d${(obj as Date).getTime()}`;
  if (kind === 'regexp') return `r${String(obj)}`;
  if (kind === 'bytes') {
    const view = obj as Uint8Array;
    return `x${view.constructor.name}:${Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64')}`;
  }
  if (depth > MAX_DEPTH) refuse(path, `it is nested more than ${MAX_DEPTH} levels deep: pass { key } to derive the key`);
  if (seen.has(obj)) refuse(path, 'a memoize argument contains a cycle');
  seen.add(obj);
  let out: string;
  if (kind === 'array') {
    const array = obj as readonly unknown[];
    const items: string[] = [];
    // Holes are spelled out, so that [] and [,] do not meet.
    for (let i = 0; i < array.length; i++) {
      const item = arrayElement(array, i, path, noCanonicalForm);
      items.push(item === HOLE ? 'h' : canonical(item, `${path}[${i}]`, depth + 1, seen, at));
    }
    out = `[${items.join(',')}]`;
  } else if (kind === 'map') {
    const items: string[] = [];
    let i = 0;
    for (const [k, v] of obj as Map<unknown, unknown>) {
      items.push(`${canonical(k, `${path}<key ${i}>`, depth + 1, seen, at)}=>${canonical(v, `${path}<value ${i}>`, depth + 1, seen, at)}`);
      i++;
    }
    out = `M{${items.sort().join(',')}}`;
  } else if (kind === 'set') {
    const items: string[] = [];
    let i = 0;
    for (const v of obj as Set<unknown>) items.push(canonical(v, `${path}<${i++}>`, depth + 1, seen, at));
    out = `S{${items.sort().join(',')}}`;
  } else {
    const entries = plainEntries(obj, path, noCanonicalForm).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    out = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v, path === '' ? k : `${path}.${k}`, depth + 1, seen, at)}`).join(',')}}`;
  }
  seen.delete(obj);
  return out;
}

/**
 * The cache key of a memoized call: `memo:<name>:<sha256 of the canonical arguments>`, short
 * and fixed-length whatever the arguments.
 *
 * @example
 * ```ts
 * memoizeKey('landing', ['en', { page: 1 }]); // 'memo:landing:Jx3...'
 * ```
 */
export function memoizeKey(name: string, args: readonly unknown[]): string {
  return `memo:${name}:${createHash('sha256').update(canonicalArgs(args)).digest('base64url')}`;
}
