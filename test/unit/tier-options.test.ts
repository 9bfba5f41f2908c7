// The options of the LMDB and Redis tiers, read the way a user meets them: each refusal names the
// option and says what is wanted, each default is the documented one, and values that are only
// rounded are rounded the documented way. Messages are asserted whole because they are the
// instructions a user follows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { InvalidOptionError } from '../../src/core/errors.js';
import { LMDB_DEFAULTS, LMDB_MAX_BYTES, resolveLmdbOptions, type LmdbTierOptions } from '../../src/tiers/lmdb/options.js';
import { REDIS_DEFAULTS, resolveRedisOptions, type RedisTierOptions } from '../../src/tiers/redis/options.js';

/** Asserts `run` throws InvalidOptionError for `option` with exactly `message` after the option. */
function refusal(run: () => unknown, option: string, message: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(error)}`);
    assert.equal(error.option, option);
    assert.equal(error.message, `${option}: ${message}`);
    return true;
  });
}

/** Runs `work` with HERDCACHE_DIR set to `value` (unset for undefined), restoring it after. */
function withHerdcacheDir<T>(value: string | undefined, work: () => T): T {
  const saved = process.env['HERDCACHE_DIR'];
  if (value === undefined) delete process.env['HERDCACHE_DIR'];
  else process.env['HERDCACHE_DIR'] = value;
  try {
    return work();
  } finally {
    if (saved === undefined) delete process.env['HERDCACHE_DIR'];
    else process.env['HERDCACHE_DIR'] = saved;
  }
}

const positiveMs = (got: string): string => `must be a positive finite number of milliseconds, got ${got}`;
const timerLimit = (got: number): string => `is waited for by a timer, which cannot wait longer than 2147483647 ms (about 24.8 days), got ${got}`;

describe('lmdbTier options', () => {
  it('refuses each bad option, naming it and saying what it must be', () => {
    const resolve = (options: LmdbTierOptions): unknown => resolveLmdbOptions({ path: '/tmp/never-opened', ...options });
    refusal(() => resolveLmdbOptions({ path: '' }), 'lmdbTier.path', 'must be a non-empty directory path, got ""');
    refusal(() => resolveLmdbOptions({ path: 7 as never }), 'lmdbTier.path', 'must be a non-empty directory path, got 7');
    refusal(() => resolveLmdbOptions({ path: '/tmp/a\0b' }), 'lmdbTier.path', 'must not contain a NUL character');
    refusal(() => resolve({ maxBytes: 0 }), 'lmdbTier.maxBytes', 'must be a positive finite number of bytes, got 0');
    refusal(() => resolve({ maxBytes: -1 }), 'lmdbTier.maxBytes', 'must be a positive finite number of bytes, got -1');
    refusal(() => resolve({ maxBytes: Number.POSITIVE_INFINITY }), 'lmdbTier.maxBytes', 'must be a positive finite number of bytes, got Infinity');
    refusal(() => resolve({ maxBytes: '5' as never }), 'lmdbTier.maxBytes', 'must be a positive finite number of bytes, got "5"');
    refusal(() => resolve({ maxBytes: LMDB_MAX_BYTES + 1 }), 'lmdbTier.maxBytes', `is mapped at twice its size, and at most ${LMDB_MAX_BYTES} bytes (16 TiB) can be: got ${LMDB_MAX_BYTES + 1}`);
    refusal(() => resolve({ syncInterval: 0 }), 'lmdbTier.syncInterval', positiveMs('0'));
    refusal(() => resolve({ syncInterval: 2 ** 31 }), 'lmdbTier.syncInterval', timerLimit(2 ** 31));
    refusal(() => resolve({ sweepInterval: Number.NaN }), 'lmdbTier.sweepInterval', positiveMs('NaN'));
    refusal(() => resolve({ sweepInterval: 2 ** 31 }), 'lmdbTier.sweepInterval', timerLimit(2 ** 31));
    refusal(() => resolveLmdbOptions(5 as never), 'lmdbTier', 'options must be an object, got 5');
  });

  it('accepts the bounds themselves', () => {
    const resolved = resolveLmdbOptions({ path: '/tmp/p', maxBytes: LMDB_MAX_BYTES, syncInterval: 2 ** 31 - 1, sweepInterval: 1 });
    assert.deepEqual(resolved, { path: '/tmp/p', maxBytes: 2 ** 44, syncInterval: 2 ** 31 - 1, sweepInterval: 1 });
    assert.equal(resolveLmdbOptions({ path: '/tmp/p', maxBytes: 0.5 }).maxBytes, 0.5, 'any positive bound is taken as given');
  });

  it('defaults to 1 GiB, a 20 ms sync and a 1 s sweep, in HERDCACHE_DIR or else ./.herdcache', () => {
    assert.deepEqual(LMDB_DEFAULTS, { maxBytes: 1024 ** 3, syncInterval: 20, sweepInterval: 1_000 });
    const unset = withHerdcacheDir(undefined, () => resolveLmdbOptions(undefined));
    assert.deepEqual(unset, { path: './.herdcache', maxBytes: 1024 ** 3, syncInterval: 20, sweepInterval: 1_000 });
    assert.equal(withHerdcacheDir('', () => resolveLmdbOptions({})).path, './.herdcache', 'an empty HERDCACHE_DIR counts as unset');
    assert.equal(withHerdcacheDir('/var/cache/app', () => resolveLmdbOptions({})).path, '/var/cache/app');
    assert.equal(withHerdcacheDir('/var/cache/app', () => resolveLmdbOptions({ path: '/given' })).path, '/given', 'a given path wins');
  });
});

describe('redisTier options', () => {
  const resolve = (options: RedisTierOptions): unknown => resolveRedisOptions(options);
  const number = (option: string, got: string): [string, string] => [`redisTier.${option}`, `must be a positive finite number, got ${got}`];

  it('refuses each bad option, naming it and saying what it must be', () => {
    const template = new Redis({ lazyConnect: true });
    try {
      refusal(() => resolve({ url: '' }), 'redisTier.url', 'must be a non-empty string such as redis://127.0.0.1:6379');
      refusal(() => resolve({ url: 6379 as never }), 'redisTier.url', 'must be a non-empty string such as redis://127.0.0.1:6379');
      refusal(() => resolve({ url: 'redis://x', client: template }), 'redisTier.url', 'was given together with client: pass one of them');
      const notClient = 'must be an ioredis client (new Redis(...))';
      refusal(() => resolve({ client: {} as never }), 'redisTier.client', notClient);
      refusal(() => resolve({ client: null as never }), 'redisTier.client', notClient);
      refusal(() => resolve({ client: 'redis://x' as never }), 'redisTier.client', notClient);
      refusal(() => resolve({ client: new Proxy(template, {}) }), 'redisTier.client', notClient);
      const throwing = Object.create(null, { duplicate: { get: () => { throw new Error('trap'); } } }) as never;
      refusal(() => resolve({ client: throwing }), 'redisTier.client', notClient);
      refusal(() => resolve({ keyPrefix: 3 as never }), 'redisTier.keyPrefix', 'must be a string');
      refusal(() => resolve({ channel: '' }), 'redisTier.channel', 'must be a non-empty string');
      refusal(() => resolve({ channel: 9 as never }), 'redisTier.channel', 'must be a non-empty string');
      refusal(() => resolve({ breaker: { failures: 1.5 } }), 'redisTier.breaker.failures', 'must be a whole number, got 1.5');
      refusal(() => resolve({ breaker: { failures: 0 } }), ...number('breaker.failures', '0'));
      refusal(() => resolve({ breaker: { failures: Number.POSITIVE_INFINITY } }), ...number('breaker.failures', 'Infinity'));
      refusal(() => resolve({ breaker: { failures: '5' as never } }), ...number('breaker.failures', '"5"'));
      refusal(() => resolve({ breaker: { cooldown: -1 } }), 'redisTier.breaker.cooldown', positiveMs('-1'));
      refusal(() => resolve({ breaker: { cooldown: 2 ** 31 } }), 'redisTier.breaker.cooldown', timerLimit(2 ** 31));
      refusal(() => resolve({ breaker: 5 as never }), 'redisTier.breaker', 'options must be an object, got 5');
      refusal(() => resolve({ commandTimeout: 0 }), 'redisTier.commandTimeout', positiveMs('0'));
      refusal(() => resolve({ commandTimeout: 2 ** 31 }), 'redisTier.commandTimeout', timerLimit(2 ** 31));
      refusal(() => resolve({ connectTimeout: Number.NaN }), 'redisTier.connectTimeout', positiveMs('NaN'));
      refusal(() => resolve({ changeStreamLength: 0 }), ...number('changeStreamLength', '0'));
      refusal(() => resolve({ changeStreamLength: Number.NaN }), ...number('changeStreamLength', 'NaN'));
      refusal(() => resolve({ repairLimit: -3 }), ...number('repairLimit', '-3'));
      refusal(() => resolve([] as never), 'redisTier', 'options must be an object, got an array');
    } finally {
      template.disconnect();
    }
  });

  it('fills in the documented defaults, the channel after the key prefix', () => {
    assert.deepEqual(REDIS_DEFAULTS, {
      url: 'redis://127.0.0.1:6379', commandTimeout: 250, connectTimeout: 2_000, keyPrefix: 'herdcache:',
      breakerFailures: 5, breakerCooldown: 1_000, changeStreamLength: 100_000, repairLimit: 10_000,
    });
    assert.deepEqual(resolveRedisOptions({}), {
      url: 'redis://127.0.0.1:6379', client: undefined, commandTimeout: 250, connectTimeout: 2_000, keyPrefix: 'herdcache:',
      channel: 'herdcache:invalidations', breakerFailures: 5, breakerCooldown: 1_000, changeStreamLength: 100_000, repairLimit: 10_000,
    });
    assert.equal(resolveRedisOptions({ keyPrefix: 'app:' }).channel, 'app:invalidations');
    assert.equal(resolveRedisOptions({ keyPrefix: '' }).channel, 'invalidations', 'an empty prefix is allowed');
    assert.equal(resolveRedisOptions({ keyPrefix: 'app:', channel: 'bus' }).channel, 'bus');
  });

  it('keeps what is given, rounds counts up, and takes no url with a client', () => {
    const template = new Redis({ lazyConnect: true });
    try {
      const given = resolveRedisOptions({
        url: 'redis://cache:6380/2', commandTimeout: 2 ** 31 - 1, connectTimeout: 1, keyPrefix: 'k:', channel: 'c',
        breaker: { failures: 1, cooldown: 7 }, changeStreamLength: 2.1, repairLimit: 0.5,
      });
      assert.deepEqual(given, {
        url: 'redis://cache:6380/2', client: undefined, commandTimeout: 2 ** 31 - 1, connectTimeout: 1, keyPrefix: 'k:', channel: 'c',
        breakerFailures: 1, breakerCooldown: 7, changeStreamLength: 3, repairLimit: 1,
      });
      const withClient = resolveRedisOptions({ client: template });
      assert.equal(withClient.client, template);
      assert.equal(withClient.url, undefined, 'the client says where to connect');
    } finally {
      template.disconnect();
    }
  });
});
