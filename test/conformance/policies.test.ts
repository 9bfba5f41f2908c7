// Every built-in policy, and README's example, passes the policy conformance suite, over memory
// alone and over memory and LMDB (where the lease lives in the file other processes share).
import { after } from 'node:test';
import { barrier, coalesce, lmdbTier, memoryTier, serveStale, timeouts, ttl, xfetch, type Policy } from '../../src/index.js';
import { runPolicyConformance } from '../../src/testing/index.js';
import { tempDir } from '../helpers/tmp.js';
import { impatientBarrier } from '../fixtures/readme-policy.js';

const dirs: Array<{ cleanup: () => void }> = [];
after(() => dirs.forEach((d) => d.cleanup()));

const overLmdb = () => {
  const dir = tempDir('herdcache-policy-conformance');
  dirs.push(dir);
  return { tiers: [memoryTier(), lmdbTier({ path: dir.path })] };
};

const policies: Array<[string, () => Policy]> = [
  ['ttl()', () => ttl()],
  ['coalesce()', () => coalesce()],
  ['barrier()', () => barrier()],
  ['xfetch()', () => xfetch()],
  ['serveStale()', () => serveStale({ maxAge: 60_000 })],
  ["serveStale({ onCold: 'throw' })", () => serveStale({ maxAge: 60_000, onCold: 'throw' })],
  ['timeouts({ soft, hard })', () => timeouts({ soft: 2_000, hard: 5_000 })],
  ["README's impatientBarrier", () => impatientBarrier(50)],
];
for (const [name, make] of policies) {
  runPolicyConformance(name, make);
  runPolicyConformance(`${name} over LMDB`, make, { tiers: overLmdb });
}
