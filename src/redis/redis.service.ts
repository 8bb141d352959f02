import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Cluster, Redis, RedisOptions } from 'ioredis';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';

/** A connection to the configured Redis: one server (standalone or found through Sentinel) or a Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * Opens one connection as REDIS_MODE says. REDIS_URL supplies the credentials, TLS (`rediss://`) and,
 * standalone or through Sentinel, the database number; with Sentinel or Cluster its host and port are
 * not used. `options` are per-connection settings (`commandTimeout`, `maxRetriesPerRequest`, ...).
 */
export function createRedisClient(
  config: Pick<AppConfig, 'redisUrl' | 'redis'>,
  options: RedisOptions = {},
  // Cluster only: SSUBSCRIBE through one subscriber connection per shard (sharded pub/sub, Redis 7).
  clusterOptions: { shardedSubscribers?: boolean } = {},
): RedisClient {
  const topology = config.redis;
  if (topology.mode === 'standalone') return new Redis(config.redisUrl, options);
  const url = new URL(config.redisUrl);
  const tls = url.protocol === 'rediss:';
  const auth: RedisOptions = {
    // As ioredis reads a URL: `redis://user:pass@…`, `redis://:pass@…`; percent-escapes decoded.
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    ...(tls ? { tls: {} } : {}),
  };
  if (topology.mode === 'sentinel') {
    return new Redis({
      ...options,
      ...auth,
      db: Number(url.pathname.replace(/^\//, '') || 0),
      sentinels: topology.sentinels,
      name: topology.name,
      sentinelPassword: topology.sentinelPassword,
      // rediss:// = TLS to the sentinels as well as to the master.
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      // Follow +switch-master at once (a subscription on each sentinel) rather than only when the
      // demoted master drops our connections, which Sentinel does seconds later.
      failoverDetector: true,
      // A write that still reaches the demoted master reconnects through Sentinel and is sent again.
      reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    });
  }
  const { commandTimeout, lazyConnect, enableOfflineQueue, retryStrategy, ...redisOptions } = options;
  const cluster = new Cluster(topology.nodes, {
    redisOptions: { ...redisOptions, ...auth, commandTimeout },
    lazyConnect,
    enableReadyCheck: redisOptions.enableReadyCheck,
    ...(clusterOptions.shardedSubscribers ? { shardedSubscribers: true } : {}),
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
    // With TLS, connect to the names given (certificates name hosts), not to addresses resolved first.
    ...(tls
      ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) }
      : {}),
  });
  if (commandTimeout !== undefined) {
    // ioredis starts a command's timeout when a node connection takes it; while no node is connected
    // the Cluster holds commands in its own queue, unbounded. Start the clock here instead, as a
    // standalone client does, so a fail-fast client fails fast when the whole Cluster is away too.
    const send = cluster.sendCommand.bind(cluster);
    cluster.sendCommand = (command, ...rest) => {
      command.setTimeout(commandTimeout);
      return send(command, ...rest);
    };
  }
  return cluster;
}

/** Owns the Redis connections: one for commands/publishing, plus one per subscriber, queue and worker. */
@Injectable()
export class RedisService implements OnModuleDestroy {
  readonly client: RedisClient;
  private readonly extra: RedisClient[] = [];
  private readonly sharded: boolean;
  private subscriber?: RedisClient;
  private readonly channels = new Map<
    string,
    { handlers: Set<(message: string) => void>; subscribed?: Promise<void> }
  >();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    // Request-path commands (publish, rate limit, ping) fail after 1 s instead of queueing while Redis is away.
    this.sharded = config.redis.mode === 'cluster';
    this.client = this.create({ commandTimeout: 1000 });
  }

  /**
   * Whether the command connection is up now. While it is not, a request-path command would wait its whole timeout
   * (1 s) in ioredis's offline queue, on every call: the rate limit and the progress publish ask this first and go
   * without Redis at once (an outside audit measured every call 1 s slower, every POST 2 s, during an outage).
   */
  available(): boolean {
    const status = this.client.status;
    // A Cluster may report "connect" as its connected state (as BullMQ's own wait accepts).
    return status === 'ready' || (status === 'connect' && this.sharded);
  }

  /** Options BullMQ needs (blocking commands must never give up). */
  connectionOptions(): RedisOptions {
    return { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false };
  }

  create(options: RedisOptions = {}, cluster: { shardedSubscribers?: boolean } = {}): RedisClient {
    const redis = createRedisClient(this.config, { ...this.connectionOptions(), ...options }, cluster);
    // Errors surface through readiness and failed commands; ioredis reconnects on its own.
    redis.on('error', () => undefined);
    if (this.client) this.extra.push(redis);
    return redis;
  }

  /**
   * Pub/sub for every channel of this process on one subscriber connection. On a Redis Cluster it is
   * sharded pub/sub (SPUBLISH/SSUBSCRIBE): every message goes through the one shard that owns the
   * channel's slot (the QUEUE_PREFIX hash tag), so a channel's messages arrive in the order they were
   * published; a plain PUBLISH goes to whichever node the client picks and is relayed over the cluster
   * bus, where two messages can overtake each other.
   */
  publish(channel: string, message: string): Promise<unknown> {
    return this.sharded ? this.client.spublish(channel, message) : this.client.publish(channel, message);
  }

  /**
   * Several messages to one channel in one round trip (a pipeline: one write, in order); the first
   * failed command's error rejects.
   */
  async publishAll(channel: string, messages: string[]): Promise<void> {
    if (messages.length === 1) {
      await this.publish(channel, messages[0]);
      return;
    }
    const pipeline = this.client.pipeline();
    for (const m of messages) {
      if (this.sharded) pipeline.spublish(channel, m);
      else pipeline.publish(channel, m);
    }
    const failed = (await pipeline.exec())?.find(([err]) => err)?.[0];
    if (failed) throw failed;
  }

  /** Resolves once Redis confirmed the subscription; a failed one is tried again by the next call. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    if (!this.subscriber) {
      this.subscriber = this.create({}, { shardedSubscribers: this.sharded });
      this.subscriber.on(this.sharded ? 'smessage' : 'message', (ch: string, message: string) => {
        for (const handler of this.channels.get(ch)?.handlers ?? []) handler(message);
      });
    }
    let entry = this.channels.get(channel);
    if (!entry) this.channels.set(channel, (entry = { handlers: new Set() }));
    entry.handlers.add(onMessage);
    if (!entry.subscribed) {
      const subscriber = this.subscriber;
      const subscribed = (this.sharded ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel)).then(
        () => undefined,
      );
      entry.subscribed = subscribed;
      subscribed.catch(() => entry.subscribed === subscribed && (entry.subscribed = undefined));
    }
    return entry.subscribed;
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.allSettled([this.client, ...this.extra].map((r) => r.quit()));
  }
}
