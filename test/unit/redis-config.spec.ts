import { describe, expect, it } from 'vitest';
import type { Cluster, Redis } from 'ioredis';
import { ConfigError, describeRedis, hashTag, loadConfig } from '../../src/config/config.js';
import { createRedisClient } from '../../src/redis/redis.service.js';

/** The issues a ConfigError names, as `KEY: message`. */
function issues(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.key}: ${i.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('Redis topology configuration', () => {
  it('is standalone by default, from REDIS_URL', () => {
    expect(loadConfig({}).redis).toEqual({ mode: 'standalone' });
  });

  it('reads a Sentinel group: sentinels (IPv6 in brackets), master name, sentinel password', () => {
    const c = loadConfig({
      REDIS_MODE: 'sentinel',
      REDIS_SENTINELS: 'sentinel-0:26379, sentinel-1:26380,[fd00::1]:26381',
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
    });
    expect(c.redis).toEqual({
      mode: 'sentinel',
      sentinels: [
        { host: 'sentinel-0', port: 26379 },
        { host: 'sentinel-1', port: 26380 },
        { host: 'fd00::1', port: 26381 },
      ],
      name: 'mymaster',
      sentinelPassword: 'sentinel-secret',
    });
  });

  it('reads a Cluster: seed nodes, and a QUEUE_PREFIX with a hash tag', () => {
    const c = loadConfig({
      REDIS_MODE: 'cluster',
      REDIS_CLUSTER_NODES: 'redis-0:6379,redis-1:6379',
      QUEUE_PREFIX: '{osm-onboarding}',
    });
    expect(c.redis).toEqual({
      mode: 'cluster',
      nodes: [
        { host: 'redis-0', port: 6379 },
        { host: 'redis-1', port: 6379 },
      ],
    });
    expect(c.queuePrefix).toBe('{osm-onboarding}');
  });

  it('refuses an unknown mode and malformed host:port lists, naming the key', () => {
    expect(issues({ REDIS_MODE: 'replicated' })[0]).toMatch(/^REDIS_MODE:/);
    for (const list of [
      'redis-0',
      'redis-0:0',
      'redis-0:70000',
      'redis-0:63a79',
      ',',
      'fd00::1:26379',
      'redis://r:6379',
    ]) {
      const found = issues({ REDIS_MODE: 'cluster', QUEUE_PREFIX: '{q}', REDIS_CLUSTER_NODES: list });
      expect(found, list).toHaveLength(1);
      expect(found[0], list).toMatch(/^REDIS_CLUSTER_NODES: /);
    }
    // Spaces and an empty item between commas are tolerated.
    expect(loadConfig({ REDIS_MODE: 'cluster', QUEUE_PREFIX: '{q}', REDIS_CLUSTER_NODES: ' a:1,,b:2 ' }).redis).toEqual(
      {
        mode: 'cluster',
        nodes: [
          { host: 'a', port: 1 },
          { host: 'b', port: 2 },
        ],
      },
    );
  });

  it('sentinel mode needs the sentinels and the master name', () => {
    expect(issues({ REDIS_MODE: 'sentinel' })).toEqual([
      'REDIS_SENTINELS: is required when REDIS_MODE=sentinel, e.g. sentinel-0:26379,sentinel-1:26379,sentinel-2:26379',
      'REDIS_SENTINEL_NAME: is required when REDIS_MODE=sentinel, e.g. mymaster',
    ]);
  });

  it('cluster mode needs the nodes, a hash tag in QUEUE_PREFIX and database 0', () => {
    expect(issues({ REDIS_MODE: 'cluster', REDIS_URL: 'redis://:pw@redis:6379/3' })).toEqual([
      'REDIS_CLUSTER_NODES: is required when REDIS_MODE=cluster, e.g. redis-0:6379,redis-1:6379,redis-2:6379',
      "QUEUE_PREFIX: must contain a hash tag when REDIS_MODE=cluster, e.g. {osm-onboarding}, so that each queue's " +
        'keys share one slot',
      'REDIS_URL: selects database 3, but Redis Cluster only has database 0',
    ]);
    // `{}` is no hash tag for Redis (the whole key is hashed).
    expect(issues({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'r:6379', QUEUE_PREFIX: '{}osm' })).toEqual([
      "QUEUE_PREFIX: must contain a hash tag when REDIS_MODE=cluster, e.g. {osm}, so that each queue's keys share " +
        'one slot',
    ]);
    expect(issues({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'r:6379', QUEUE_PREFIX: '{}' })[0]).toContain(
      'e.g. {osm-onboarding}',
    );
    expect(
      issues({
        REDIS_MODE: 'sentinel',
        REDIS_SENTINELS: 's:26379',
        REDIS_SENTINEL_NAME: 'm',
        REDIS_URL: 'redis://r/x',
      }),
    ).toEqual(['REDIS_URL: the database (path) must be a number, not "x"']);
    for (const prefix of ['{osm}', 'osm-{prod}', '{osm}:{x}']) {
      expect(
        loadConfig({
          REDIS_MODE: 'cluster',
          REDIS_CLUSTER_NODES: 'r:6379',
          QUEUE_PREFIX: prefix,
          REDIS_URL: 'rediss://r/0',
        }).queuePrefix,
      ).toBe(prefix);
    }
  });

  it('refuses nodes given for another mode (REDIS_MODE forgotten?) rather than ignoring them', () => {
    expect(issues({ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'm' })).toEqual([
      'REDIS_SENTINELS: is only used with REDIS_MODE=sentinel (REDIS_MODE is standalone)',
      'REDIS_SENTINEL_NAME: is only used with REDIS_MODE=sentinel (REDIS_MODE is standalone)',
    ]);
    // A sentinel password alone (a Secret shared with the migration job, which sees no REDIS_MODE) is fine.
    expect(loadConfig({ REDIS_SENTINEL_PASSWORD: 'x' }).redis).toEqual({ mode: 'standalone' });
    expect(
      issues({
        REDIS_MODE: 'sentinel',
        REDIS_SENTINELS: 's:26379',
        REDIS_SENTINEL_NAME: 'm',
        REDIS_CLUSTER_NODES: 'r:6379',
      }),
    ).toEqual(['REDIS_CLUSTER_NODES: is only used with REDIS_MODE=cluster (REDIS_MODE is sentinel)']);
  });

  it('finds the hash tag as Redis does', () => {
    expect(hashTag('{osm}:onboarding:1')).toBe('osm');
    expect(hashTag('prefix-{osm}')).toBe('osm');
    expect(hashTag('{a}{b}')).toBe('a');
    expect(hashTag('{}{b}')).toBeUndefined();
    expect(hashTag('osm-onboarding')).toBeUndefined();
    expect(hashTag('{osm')).toBeUndefined();
    expect(hashTag('osm}{')).toBeUndefined();
  });

  it('describes where Redis is without any password', () => {
    const env = { REDIS_URL: 'rediss://app:url-secret@redis:6379/0' };
    expect(describeRedis(loadConfig(env))).toBe('rediss://app:***@redis:6379/0');
    const sentinel = loadConfig({
      ...env,
      REDIS_MODE: 'sentinel',
      REDIS_SENTINELS: 's0:26379,[fd00::1]:26379',
      REDIS_SENTINEL_NAME: 'm',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
    });
    expect(describeRedis(sentinel)).toBe('sentinel master "m" via s0:26379,[fd00::1]:26379 (tls)');
    const cluster = loadConfig({ ...env, REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'r0:6379', QUEUE_PREFIX: '{q}' });
    expect(describeRedis(cluster)).toBe('cluster via r0:6379 (tls)');
    for (const c of [sentinel, cluster]) expect(describeRedis(c)).not.toMatch(/secret/);
  });
});

describe('Redis clients per topology (built, not connected)', () => {
  const url = 'rediss://app:p%40ss@ignored.example:1/4';

  it('sentinel: the group from the configuration, credentials, database and TLS from REDIS_URL', () => {
    const config = loadConfig({
      REDIS_URL: url,
      REDIS_MODE: 'sentinel',
      REDIS_SENTINELS: 's0:26379',
      REDIS_SENTINEL_NAME: 'm',
      REDIS_SENTINEL_PASSWORD: 'sp',
    });
    const client = createRedisClient(config, {
      lazyConnect: true,
      maxRetriesPerRequest: null,
      commandTimeout: 1000,
    }) as Redis;
    try {
      expect(client.isCluster).toBe(false);
      expect(client.options).toMatchObject({
        sentinels: [{ host: 's0', port: 26379 }],
        name: 'm',
        sentinelPassword: 'sp',
        username: 'app',
        password: 'p@ss',
        db: 4,
        tls: {},
        enableTLSForSentinelMode: true,
        sentinelTLS: {},
        failoverDetector: true,
        maxRetriesPerRequest: null,
        commandTimeout: 1000,
      });
    } finally {
      client.disconnect();
    }
  });

  it('cluster: seed nodes from the configuration, per-node options and credentials in redisOptions', () => {
    const config = loadConfig({
      REDIS_URL: url.replace('/4', ''),
      REDIS_MODE: 'cluster',
      REDIS_CLUSTER_NODES: 'r0:6379,r1:6380',
      QUEUE_PREFIX: '{q}',
    });
    const client = createRedisClient(config, {
      lazyConnect: true,
      maxRetriesPerRequest: null,
      enableReadyCheck: true,
      commandTimeout: 1000,
    }) as Cluster;
    try {
      expect(client.isCluster).toBe(true);
      expect(client.options.redisOptions).toMatchObject({
        username: 'app',
        password: 'p@ss',
        tls: {},
        maxRetriesPerRequest: null,
        commandTimeout: 1000,
      });
      expect(client.options.lazyConnect).toBe(true);
      expect(client.options.enableReadyCheck).toBe(true);
    } finally {
      client.disconnect();
    }
  });

  it('standalone: REDIS_URL as it is', () => {
    const client = createRedisClient(loadConfig({ REDIS_URL: 'redis://:pw@127.0.0.1:6390/2' }), {
      lazyConnect: true,
    }) as Redis;
    try {
      expect(client.options).toMatchObject({ host: '127.0.0.1', port: 6390, password: 'pw', db: 2 });
    } finally {
      client.disconnect();
    }
  });
});
