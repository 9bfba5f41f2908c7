import { lmdbTier } from '../../src/tiers/lmdb/tier.js';
import { tempDir } from '../helpers/tmp.js';
import { runTierConformance } from '../../src/testing/tier-conformance.js';

runTierConformance('lmdbTier', () => {
  const dir = tempDir('herdcache-conformance');
  return { tier: lmdbTier({ path: dir.path }), cleanup: dir.cleanup };
});
