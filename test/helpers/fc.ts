import type { Parameters } from 'fast-check';

/**
 * Property run settings: a fixed seed and few runs by default so `npm test` is fast and
 * replayable; HERDCACHE_PROPERTY_RUNS and HERDCACHE_SEED widen or change them
 * (`npm run test:deep`). A failure prints its seed and path for replay.
 */
export function propertyParams<T>(overrides: Parameters<T> = {}): Parameters<T> {
  const runs = Number(process.env['HERDCACHE_PROPERTY_RUNS'] ?? '') || undefined;
  const seedText = process.env['HERDCACHE_SEED'];
  const seed = seedText === undefined || seedText === '' ? 424242 : Number(seedText);
  return { seed, verbose: 1, ...overrides, ...(runs === undefined ? {} : { numRuns: runs }) };
}
