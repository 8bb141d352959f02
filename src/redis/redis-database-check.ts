// Owns one start-up check of REDIS_URL that the configuration alone cannot make: whether the Redis it names has the
// database its path selects. ioredis sends SELECT when it connects and, when Redis refuses it ("ERR DB index is out
// of range"), only emits an error and goes on in database 0: every key of the service would land there, shared with
// whatever else uses it (an outside audit found the keys of REDIS_URL=redis://…/99 in database 0).
import { ConfigError, type AppConfig } from '../config/config.js';
import { createRedisClient } from './redis.service.js';

/** How long the check waits for Redis; an unreachable Redis is not a configuration error (the service degrades). */
const CHECK_MS = 3000;
const REFUSED_SELECT = /DB index is out of range|invalid DB index/i;

/** Throws a ConfigError naming REDIS_URL when its database does not exist on that Redis; otherwise resolves. */
export async function checkRedisDatabase(config: Pick<AppConfig, 'redisUrl' | 'redis'>): Promise<void> {
  if (config.redis.mode === 'cluster') return; // database 0 only, refused by the configuration otherwise
  const db = new URL(config.redisUrl).pathname.replace(/^\//, '');
  if (db === '' || db === '0') return;
  const client = createRedisClient(config, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: CHECK_MS,
  });
  let refused: Error | undefined;
  client.on('error', (err: Error) => {
    if (REFUSED_SELECT.test(err.message)) refused = err;
  });
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((resolve) => setTimeout(resolve, CHECK_MS).unref()),
    ]);
  } catch {
    // Unreachable, or refused for another reason: the service starts degraded and says so through /readyz.
  } finally {
    client.disconnect();
  }
  if (refused) {
    throw new ConfigError([
      { key: 'REDIS_URL', message: `selects database ${db}, which this Redis does not have (${refused.message})` },
    ]);
  }
}
