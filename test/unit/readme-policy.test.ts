// README's "Write your own policy" example (test/fixtures/readme-policy.ts, the same text as
// README's code block, which this checks), used from two caches that share one LMDB file, so the
// lease it takes is the one other processes see.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { createCache, errors, type Policy } from '../../src/index.js';
import { impatientBarrier } from '../fixtures/readme-policy.js';
import { deferred, until } from '../fixtures/policy-support.js';
import { tempDir } from '../helpers/tmp.js';


const dirs: Array<{ cleanup: () => void }> = [];
after(() => dirs.forEach((d) => d.cleanup()));

/** Two caches on one LMDB file: what two processes of one machine share. */
function twoProcesses(policy: () => Policy) {
  const dir = tempDir('readme-policy');
  dirs.push(dir);
  return [1, 2].map(() => createCache({ ttl: 60_000, lmdb: { path: dir.path }, policies: [policy()] })) as [ReturnType<typeof createCache>, ReturnType<typeof createCache>];
}

/** Starts a compute of 'page' in `a` that holds the key's lease until `release()`; resolves once it runs. */
async function heldByA(a: ReturnType<typeof createCache>) {
  const gate = deferred();
  let runs = 0;
  const first = a.compute('page', async () => { runs++; await gate.promise; return 'from a'; });
  await until(() => runs === 1, 'a computes under the lease');
  return { first, release: () => gate.resolve(), runs: () => runs };
}

describe("README's policy example", () => {
  it('is the code README shows', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const shown = /## Write your own policy[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    const source = readFileSync(new URL('../../../test/fixtures/readme-policy.ts', import.meta.url), 'utf8');
    const tested = /\/\/ README example starts\n([\s\S]*?)\/\/ README example ends\n/.exec(source)?.[1];
    assert.ok(shown !== undefined && tested !== undefined, 'both the README block and the marked code are there');
    assert.equal(shown, tested.replace("from '../../src/index.js'", "from 'herdcache'"));
  });

  it('waiters get the holder\'s value when it comes in time, and nobody computes twice', async () => {
    const [a, b] = twoProcesses(() => impatientBarrier(10_000));
    try {
      const held = await heldByA(a);
      let runsOfB = 0;
      const second = b.compute('page', () => { runsOfB++; return 'from b'; });
      held.release();
      assert.deepEqual(await Promise.all([held.first, second]), ['from a', 'from a']);
      assert.equal(held.runs() + runsOfB, 1);
      assert.deepEqual(b.stats().policies, { 'impatient-barrier': { gaveUp: 0 } });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a waiter past its patience computes for itself and counts it', async () => {
    const [a, b] = twoProcesses(() => impatientBarrier(50));
    try {
      const held = await heldByA(a);
      assert.equal(await b.compute('page', () => 'from b'), 'from b');
      assert.deepEqual(b.stats().policies, { 'impatient-barrier': { gaveUp: 1 } });
      held.release();
      assert.equal(await held.first, 'from a');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('is refused outside serveStale, like barrier, from its traits alone', async () => {
    const { serveStale } = await import('../../src/index.js');
    assert.throws(() => createCache({ memory: {}, lmdb: false, policies: [impatientBarrier(50), serveStale({ maxAge: 120_000 })] }), (error: unknown) => {
      assert.ok(error instanceof errors.PolicyConflictError);
      assert.equal(error.message, 'impatient-barrier + serveStale: impatient-barrier would treat a stale value as a miss before serveStale could serve it: put serveStale first');
      return true;
    });
  });
});
