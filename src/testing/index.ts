/*
 * herdcache/testing: the conformance suites the built-in tiers and policies pass, exported so a
 * third-party tier or policy can prove itself the same way. They register node:test suites;
 * import them from a test file run with `node --test`.
 */
export { runTierConformance, type MakeTier, type TierFixture } from './tier-conformance.js';
export { runPolicyConformance, type PolicyTiers } from './policy-conformance.js';
export { manualClock, type ManualClock } from './clock.js';
