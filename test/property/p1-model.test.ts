// Property 1 in one process: random sequences of get / getSync / set / delete / compute / clear
// and clock steps agree with a Map-with-expiry model on every tier configuration.
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { manualClock } from '../helpers/clock.js';
import { propertyParams } from '../helpers/fc.js';
import { tempDir } from '../helpers/tmp.js';
import { cacheFor, TIER_CONFIGS, type TierConfig } from './configs.js';
import { CacheModel, engineCommands, type RealSystem } from './model.js';

/** The cache's own ttl; per-call ttls of 1, 10 and 1 000 ms are generated around it. */
const TTL = 100;

async function agreesWithModel(config: TierConfig): Promise<void> {
  const dir = tempDir('herdcache-p1');
  const clock = manualClock();
  const cache = cacheFor(config, dir.path, clock, { ttl: TTL });
  try {
    await fc.assert(
      fc.asyncProperty(fc.commands(engineCommands(), { maxCommands: 40, size: 'medium' }), async (commands) => {
        const setup = async (): Promise<{ model: CacheModel; real: RealSystem }> => {
          await cache.clear();
          return { model: new CacheModel(clock, TTL), real: { cache, clock } };
        };
        await fc.asyncModelRun(setup, commands);
      }),
      propertyParams({ numRuns: 100 }),
    );
  } finally {
    await cache.close();
    dir.cleanup();
  }
}

describe('P1 engine against a model (one process, manual clock)', () => {
  for (const config of TIER_CONFIGS) {
    it(`P1 ${config}: every get/getSync/compute agrees with a Map-with-expiry model through set, delete, clear and clock steps`, async () => {
      await agreesWithModel(config);
    });
  }
});
