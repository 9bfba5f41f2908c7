// Key handling: namespace prefixes that cannot collide, key validation in UTF-8 bytes, and
// memoize keys that are the same in every process whatever the key order of the arguments.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { assertKey, canonicalArgs, memoizeKey, namespacePrefix } from '../../src/core/keys.js';
import { InvalidKeyError } from '../../src/index.js';

describe('namespacePrefix', () => {
  it('starts with the namespace length so that no (namespace, key) pair meets another', () => {
    assert.equal(namespacePrefix(''), '0::');
    assert.equal(namespacePrefix('users'), '5:users:');
    assert.notEqual(namespacePrefix('a') + 'b:c', namespacePrefix('a:b') + 'c');
  });

  it('never collides over many tricky namespace/key splits', () => {
    const parts = ['', 'a', 'b', ':', '1', '1:', ':a', 'a:b', '0::', '\u00e9'];
    const seen = new Map<string, string>();
    for (const ns of parts) {
      for (const k1 of parts) {
        for (const k2 of parts) {
          const key = k1 + k2;
          if (key === '') continue;
          const storage = namespacePrefix(ns) + key;
          const pair = JSON.stringify([ns, key]);
          const other = seen.get(storage);
          assert.ok(other === undefined || other === pair, `${pair} and ${other} both map to ${storage}`);
          seen.set(storage, pair);
        }
      }
    }
  });
});

describe('assertKey', () => {
  it('accepts non-empty strings up to the limit in UTF-8 bytes', () => {
    assert.doesNotThrow(() => assertKey('k', 1));
    assert.doesNotThrow(() => assertKey('x'.repeat(100), 100));
    assert.doesNotThrow(() => assertKey('\u00e9'.repeat(50), 100));
    assert.doesNotThrow(() => assertKey('\u{1F600}'.repeat(25), 100));
    assert.doesNotThrow(() => assertKey('x'.repeat(10_000), Number.POSITIVE_INFINITY));
  });

  it('counts multi-byte characters in bytes, not characters', () => {
    assert.throws(() => assertKey('x'.repeat(101), 100), InvalidKeyError);
    assert.throws(() => assertKey('\u00e9'.repeat(51), 100), /102 bytes/);
    assert.throws(() => assertKey('\u65e5'.repeat(34), 100), /102 bytes/);
    assert.throws(() => assertKey('\u{1F600}'.repeat(26), 100), /104 bytes/);
  });

  it('refuses non-strings and the empty string with E_INVALID_KEY', () => {
    for (const bad of [undefined, null, 0, {}, [], Symbol('s'), 1n]) {
      assert.throws(() => assertKey(bad, 100), (err: unknown) => err instanceof InvalidKeyError && err.code === 'E_INVALID_KEY' && /must be a string/.test(err.message));
    }
    assert.throws(() => assertKey('', 100), /must not be empty/);
    assert.throws(() => assertKey(null, 100), /must be a string, got null$/);
    assert.throws(() => assertKey(7, 100), /must be a string, got number$/);
  });

  it('refuses a lone UTF-16 surrogate, which would be stored as U+FFFD and meet other keys', () => {
    for (const lone of ['\ud800', 'a\udc00b']) {
      assert.throws(() => assertKey(lone, 100), (err: unknown) => err instanceof InvalidKeyError && /well-formed text: a lone UTF-16 surrogate/.test(err.message));
    }
    assert.doesNotThrow(() => assertKey('\ud83d\ude00', 100), 'a surrogate pair is fine');
  });
});

describe('memoize keys', () => {
  it('ignore the key order of objects, at any depth, but not the order of arrays', () => {
    const a = canonicalArgs([{ b: 2, a: 1, nested: { y: [1, 2], x: null } }, 'tail']);
    const b = canonicalArgs([{ nested: { x: null, y: [1, 2] }, a: 1, b: 2 }, 'tail']);
    assert.equal(a, b);
    assert.notEqual(canonicalArgs([[1, 2]]), canonicalArgs([[2, 1]]));
    assert.equal(memoizeKey('f', [{ b: 2, a: 1 }]), memoizeKey('f', [{ a: 1, b: 2 }]));
  });

  it('tell apart values that print alike', () => {
    const distinct: unknown[][] = [
      [1], ['1'], [1n], [true], ['true'], [null], [undefined], [[]], [{}], [''],
      [0], [-0], [Number.NaN], ['NaN'],
      [{ a: undefined }], [{ a: null }],
      [new Date(0)], [0, 0], [[0, 0]],
      [new Map([['a', 1]])], [{ a: 1 }], [new Set([1])], [[1]],
      [new Uint8Array([1])], [Buffer.from([1])], [new Int8Array([1])],
      ['a,b'], ['a', 'b'], [['a', 'b']],
      [/a/g], ['/a/g'],
    ];
    const keys = distinct.map((args) => canonicalArgs(args));
    assert.equal(new Set(keys).size, keys.length, keys.join('\n'));
  });

  it('keep their exact format, so that keys stay the same across processes and releases', () => {
    // Every tag of the canonical form once: a change here changes every memoize key in use.
    const args = ['s', 1, -0, 2n, true, false, undefined, null, [1, , 'x'], new Date(5), /a/g, new Uint8Array([1, 2]), new Map([['k', 1]]), new Set(['v']), { b: { c: 1 }, a: [] }];
    assert.equal(canonicalArgs(args), '["s",n1,n-0,b2,t,f,u,z,[n1,h,"x"],d5,r/a/g,xUint8Array:AQI=,M{"k"=>n1},S{"v"},{"a":[],"b":{"c":n1}}]');
    assert.equal(memoizeKey('f', [1]), `memo:f:${createHash('sha256').update('[n1]').digest('base64url')}`);
  });

  it('name where an argument that cannot be keyed sits', () => {
    assert.throws(() => canonicalArgs([{ a: { b: () => 1 } }]), (err: unknown) => err instanceof InvalidKeyError && err.message.startsWith('memoize argument [0].a.b: a function argument'));
    assert.throws(() => canonicalArgs([[{ s: Symbol('x') }]]), (err: unknown) => err instanceof InvalidKeyError && err.message.startsWith('memoize argument [0][0].s: a symbol argument'));
  });

  it('are independent of Map and Set insertion order', () => {
    assert.equal(canonicalArgs([new Map([['a', 1], ['b', 2]])]), canonicalArgs([new Map([['b', 2], ['a', 1]])]));
    assert.equal(canonicalArgs([new Set([1, 2])]), canonicalArgs([new Set([2, 1])]));
  });

  it('include the name, have a fixed length and differ per name', () => {
    const key = memoizeKey('landing', ['en', { page: 1 }]);
    assert.match(key, /^memo:landing:[A-Za-z0-9_-]{43}$/);
    assert.equal(memoizeKey('landing', ['x'.repeat(10_000)]).length, key.length);
    assert.notEqual(memoizeKey('a', [1]), memoizeKey('b', [1]));
  });

  it('refuse arguments that cannot be keyed, saying what to do', () => {
    assert.throws(() => canonicalArgs([() => 1]), (err: unknown) => err instanceof InvalidKeyError && /pass \{ key \}/.test(err.message));
    assert.throws(() => canonicalArgs([{ s: Symbol('x') }]), InvalidKeyError);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    assert.throws(() => canonicalArgs([cyclic]), /cycle/);
    // A shared (not cyclic) object may appear twice.
    const shared = { a: 1 };
    assert.doesNotThrow(() => canonicalArgs([shared, { again: shared }]));
  });

  it('are the same in another process (no per-process salt, no insertion-order dependence)', () => {
    const args = [{ lang: 'en', filters: { tag: ['x', 'y'], since: new Date(5) }, n: 2n }, 7];
    const script = `
      import { memoizeKey } from ${JSON.stringify(new URL('../../src/core/keys.js', import.meta.url).href)};
      process.stdout.write(memoizeKey('search', [{ n: 2n, filters: { since: new Date(5), tag: ['x', 'y'] }, lang: 'en' }, 7]));
    `;
    const fromChild = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(fromChild, memoizeKey('search', args));
  });
});
