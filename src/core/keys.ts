import { createHash } from 'node:crypto';
import { InvalidKeyError, NotSerializableError } from './errors.js';

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
  if (colon < 1 || colon > 10) return '';
  const length = Number(storageKey.slice(0, colon));
  if (!Number.isSafeInteger(length)) return '';
  const end = colon + 1 + length;
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
 * give the same text in every process.
 *
 * @example
 * ```ts
 * canonicalArgs([{ b: 2, a: 1 }]) === canonicalArgs([{ a: 1, b: 2 }]); // true
 * ```
 */
export function canonicalArgs(args: readonly unknown[]): string {
  return canonical(args, '', new Set());
}

function canonical(value: unknown, path: string, seen: Set<object>): string {
  switch (typeof value) {
    case 'string': return JSON.stringify(value);
    case 'number': return Object.is(value, -0) ? 'n-0' : `n${String(value)}`;
    case 'bigint': return `b${value.toString()}`;
    case 'boolean': return value ? 't' : 'f';
    case 'undefined': return 'u';
    case 'function': case 'symbol':
      throw new NotSerializableError(path, `a ${typeof value} argument cannot be part of a memoize key: pass { key } to derive one`);
  }
  if (value === null) return 'z';
  const obj = value as object;
  if (seen.has(obj)) throw new NotSerializableError(path, 'a memoize argument contains a cycle');
  seen.add(obj);
  let out: string;
  // Holes are spelled out: map() would skip them, and [] and [,] would meet.
  if (Array.isArray(obj)) out = `[${Array.from({ length: obj.length }, (_, i) => (i in obj ? canonical(obj[i], `${path}[${i}]`, seen) : 'h')).join(',')}]`;
  else if (obj instanceof Date) out = `d${obj.getTime()}`;
  else if (obj instanceof RegExp) out = `r${String(obj)}`;
  else if (ArrayBuffer.isView(obj)) out = `x${obj.constructor.name}:${Buffer.from(obj.buffer, obj.byteOffset, obj.byteLength).toString('base64')}`;
  else if (obj instanceof Map) out = `M{${[...obj].map(([k, v]) => `${canonical(k, path, seen)}=>${canonical(v, path, seen)}`).sort().join(',')}}`;
  else if (obj instanceof Set) out = `S{${[...obj].map((v) => canonical(v, path, seen)).sort().join(',')}}`;
  else {
    const record = obj as Record<string, unknown>;
    out = `{${Object.keys(record).sort().map((k) => `${JSON.stringify(k)}:${canonical(record[k], path === '' ? k : `${path}.${k}`, seen)}`).join(',')}}`;
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
