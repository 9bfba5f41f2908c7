// Machine-wide leases: the LMDB file's lease records at their expiry boundary, and the link
// fallback's rules for combining the file's store with the link store of a full disk. The
// combinator is driven here with two small in-memory stores that can be told to fail, because
// what it decides depends only on what each store answers; the real stores, on a really full
// disk, are in test/multiprocess/faults.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Lease, LeaseGrant, LeaseStore } from '../../src/core/tier.js';
import { acquireEnvironment, releaseEnvironment, type LmdbEnvironment } from '../../src/tiers/lmdb/env.js';
import { lmdbLeaseStore, withLinkFallback } from '../../src/tiers/lmdb/leases.js';
import { manualClock } from '../helpers/clock.js';
import { tempDir } from '../helpers/tmp.js';

describe('lmdbLeaseStore', () => {
  const dir = tempDir('herdcache-leases');
  const clock = manualClock(10_000);
  const announced: string[] = [];
  let env: LmdbEnvironment;
  let leases: LeaseStore;

  before(() => {
    env = acquireEnvironment(dir.path, 16 * 1024 * 1024);
    leases = lmdbLeaseStore(() => env.coordination.get(), clock, (_coordination, key) => announced.push(key));
  });
  after(async () => {
    await releaseEnvironment(env);
    dir.cleanup();
  });

  it('a lease is held until just before its expiry; at it, another caller takes it over', async () => {
    const first = await leases.acquire('k', 'first', 100);
    assert.deepEqual(first, { acquired: true, lease: { key: 'k', token: 'first', expiresAt: 10_100 }, tookOver: false });
    clock.advance(99);
    assert.deepEqual(await leases.acquire('k', 'second', 100), { acquired: false, holder: { key: 'k', token: 'first', expiresAt: 10_100 } });
    assert.deepEqual(leases.holder('k'), { key: 'k', token: 'first', expiresAt: 10_100 });
    clock.advance(1);
    assert.equal(leases.holder('k'), undefined, 'at its expiry the lease has no holder');
    assert.deepEqual(await leases.acquire('k', 'second', 100), { acquired: true, lease: { key: 'k', token: 'second', expiresAt: 10_200 }, tookOver: true });
  });

  it('only the holder releases, and each release is announced', async () => {
    await leases.acquire('r', 'owner', 1_000);
    announced.length = 0;
    assert.equal(await leases.release('r', 'intruder'), false);
    assert.deepEqual(announced, [], 'a refused release announces nothing');
    assert.equal(await leases.release('r', 'owner'), true);
    assert.deepEqual(announced, ['r']);
    assert.equal(leases.holder('r'), undefined);
    assert.equal(await leases.release('r', 'owner'), false, 'released once');
  });
});

/** A lease store in memory whose acquire can be made to throw, recording its calls. */
function memoryStore(name: string, clock: () => number) {
  const held = new Map<string, Lease>();
  const calls: string[] = [];
  const store = {
    failAcquire: undefined as Error | undefined,
    failRelease: undefined as Error | undefined,
    calls,
    held,
    scope: 'machine' as const,
    async acquire(key: string, token: string, ttl: number): Promise<LeaseGrant> {
      calls.push(`${name}.acquire`);
      if (store.failAcquire !== undefined) throw store.failAcquire;
      const current = held.get(key);
      if (current !== undefined && current.expiresAt > clock()) return { acquired: false, holder: current };
      const lease = { key, token, expiresAt: clock() + ttl };
      held.set(key, lease);
      return { acquired: true, lease, tookOver: current !== undefined };
    },
    async release(key: string, token: string): Promise<boolean> {
      calls.push(`${name}.release`);
      if (store.failRelease !== undefined) throw store.failRelease;
      if (held.get(key)?.token !== token) return false;
      held.delete(key);
      return true;
    },
    async holder(key: string): Promise<Lease | undefined> {
      calls.push(`${name}.holder`);
      const current = held.get(key);
      return current !== undefined && current.expiresAt > clock() ? current : undefined;
    },
  };
  return store;
}

describe('withLinkFallback', () => {
  function setup(canFallBack = true) {
    const clock = manualClock(0);
    const file = memoryStore('file', clock);
    const links = memoryStore('links', clock);
    const fallbacks: unknown[] = [];
    const leases = withLinkFallback(file, links, (error) => fallbacks.push(error), () => canFallBack);
    return { clock, file, links, fallbacks, leases };
  }
  const someone = (key: string): Lease => ({ key, token: 'someone', expiresAt: 1_000 });

  it('takes the file lease when no link holds the key, and looks at the links again after', async () => {
    const { file, links, leases, fallbacks } = setup();
    const grant = await leases.acquire('k', 'me', 100);
    assert.deepEqual(grant, { acquired: true, lease: { key: 'k', token: 'me', expiresAt: 100 }, tookOver: false });
    assert.deepEqual([...file.calls, ...links.calls].sort(), ['file.acquire', 'links.holder', 'links.holder']);
    assert.deepEqual(fallbacks, []);
  });

  it('a link holder refuses the caller before the file is asked', async () => {
    const { file, links, leases } = setup();
    links.held.set('k', someone('k'));
    assert.deepEqual(await leases.acquire('k', 'me', 100), { acquired: false, holder: someone('k') });
    assert.deepEqual(file.calls, []);
  });

  it("the file's refusal is the answer", async () => {
    const { file, leases } = setup();
    file.held.set('k', someone('k'));
    assert.deepEqual(await leases.acquire('k', 'me', 100), { acquired: false, holder: someone('k') });
  });

  it('a link taken while the file lease was being taken wins: the file lease is given back', async () => {
    const { file, links, leases } = setup();
    const acquire = file.acquire.bind(file);
    file.acquire = async (key, token, ttl) => {
      const grant = await acquire(key, token, ttl);
      links.held.set(key, someone(key)); // another process, whose commit found no page
      return grant;
    };
    assert.deepEqual(await leases.acquire('k', 'me', 100), { acquired: false, holder: someone('k') });
    assert.equal(file.held.has('k'), false, 'the file lease was given back');
  });

  it('a commit that fails falls back to a link, reported, unless falling back is off', async () => {
    const off = setup(false);
    off.file.failAcquire = new Error('MDB_MAP_FULL');
    await assert.rejects(off.leases.acquire('k', 'me', 100), /MDB_MAP_FULL/);
    assert.deepEqual(off.fallbacks, []);
    assert.deepEqual(off.links.calls, ['links.holder']);

    const { file, links, leases, fallbacks } = setup();
    file.failAcquire = new Error('MDB_MAP_FULL');
    assert.deepEqual(await leases.acquire('k', 'me', 100), { acquired: true, lease: { key: 'k', token: 'me', expiresAt: 100 }, tookOver: false });
    assert.deepEqual(fallbacks, [file.failAcquire]);
    assert.equal(links.held.get('k')?.token, 'me');
  });

  it('a link taken while the file shows a holder is given back; a refused link is the answer', async () => {
    const { file, links, leases } = setup();
    file.failAcquire = new Error('full');
    file.held.set('k', someone('k'));
    assert.deepEqual(await leases.acquire('k', 'me', 100), { acquired: false, holder: someone('k') });
    assert.equal(links.held.has('k'), false, 'the link was given back');

    const acquire = links.acquire.bind(links);
    links.acquire = async (key, token, ttl) => {
      links.held.set(key, someone(key));
      return acquire(key, token, ttl);
    };
    assert.deepEqual(await leases.acquire('j', 'me', 100), { acquired: false, holder: someone('j') });
  });

  it('a lease that cannot be given back is left to expire, without an error', async () => {
    const { file, links, leases } = setup();
    file.failAcquire = new Error('full');
    file.failRelease = new Error('full');
    links.failRelease = new Error('gone');
    file.held.set('k', someone('k'));
    assert.deepEqual(await leases.acquire('k', 'me', 100), { acquired: false, holder: someone('k') });
  });

  it('a release goes to both stores: true if either held it; a failed file release counts only when no link was released', async () => {
    const { file, links, leases } = setup();
    file.held.set('f', { key: 'f', token: 'me', expiresAt: 100 });
    links.held.set('l', { key: 'l', token: 'me', expiresAt: 100 });
    assert.equal(await leases.release('f', 'me'), true);
    assert.equal(await leases.release('l', 'me'), true);
    assert.equal(await leases.release('none', 'me'), false);
    file.failRelease = new Error('full');
    links.held.set('l', { key: 'l', token: 'me', expiresAt: 100 });
    assert.equal(await leases.release('l', 'me'), true, 'the link was released: the failed file release does not matter');
    await assert.rejects(leases.release('none', 'me'), /full/);
    links.failRelease = new Error('gone');
    await assert.rejects(leases.release('none', 'me'), /full/, 'the file error, not the link error');
    file.failRelease = undefined;
    file.held.set('f', { key: 'f', token: 'me', expiresAt: 100 });
    assert.equal(await leases.release('f', 'me'), true, 'a failed link release does not hide the file release');
  });

  it('the holder is the link holder first, else the file holder', async () => {
    const { file, links, leases } = setup();
    assert.equal(await leases.holder('k'), undefined);
    file.held.set('k', { key: 'k', token: 'file', expiresAt: 100 });
    assert.equal((await leases.holder('k'))?.token, 'file');
    links.held.set('k', { key: 'k', token: 'link', expiresAt: 100 });
    assert.equal((await leases.holder('k'))?.token, 'link');
    assert.equal(leases.scope, 'machine');
  });
});
