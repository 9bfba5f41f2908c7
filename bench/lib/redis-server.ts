/**
 * A throwaway redis-server for the cross-machine bench: the tests' helper (a free loopback port,
 * no persistence, killed if the process exits first), behind the bench's own message.
 */
import { redisServerInstalled, startRedisServer as start, type RedisServer } from '../../test/helpers/redis-server.js';

export { redisServerInstalled, type RedisServer };

/** What the bench prints when redis-server is missing. */
export const REDIS_SERVER_MISSING = 'redis-server not installed (apt-get install -y redis-server)';

/** Starts redis-server on a free loopback port; resolves once it answers PING. */
export async function startRedisServer(): Promise<RedisServer> {
  if (!redisServerInstalled()) throw new Error(REDIS_SERVER_MISSING);
  return start();
}
