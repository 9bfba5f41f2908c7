import { memoryTier } from '../../src/tiers/memory/tier.js';
import { runTierConformance } from '../../src/testing/tier-conformance.js';

runTierConformance('memoryTier (entries bound)', () => ({ tier: memoryTier({ maxEntries: 1_000 }) }));
runTierConformance('memoryTier (bytes bound)', () => ({ tier: memoryTier({ maxBytes: 1024 * 1024 }) }));
