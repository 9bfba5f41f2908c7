// The Redis tier runs the same conformance suite as every other tier, against a real redis-server.
import { after, before, describe } from 'node:test';
import { redisTier } from '../../src/tiers/redis/tier.js';
import { runTierConformance } from '../../src/testing/tier-conformance.js';
import { redisSkip, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

describe('redisTier conformance on a real redis-server', { skip: redisSkip() }, () => {
  let server: RedisServer | undefined;
  let run = 0;
  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    await server?.stop();
  });

  // Each test gets its own key prefix and channel: an empty tier, whatever earlier tests left.
  runTierConformance('redisTier', () => ({ tier: redisTier({ url: server!.url, keyPrefix: `conformance-${++run}:` }) }));
});
