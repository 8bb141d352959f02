import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Redis, RedisOptions } from 'ioredis';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';

/** Owns the Redis connections: one for commands/publishing, plus one per subscriber. */
@Injectable()
export class RedisService implements OnModuleDestroy {
  readonly client: Redis;
  private readonly extra: Redis[] = [];

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    // Request-path commands (publish, rate limit, ping) fail after 1 s instead of queueing while Redis is away.
    this.client = this.create({ commandTimeout: 1000 });
  }

  /** Options BullMQ needs (blocking commands must never give up). */
  connectionOptions(): RedisOptions {
    return { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false };
  }

  create(options: RedisOptions = {}): Redis {
    const redis = new Redis(this.config.redisUrl, { ...this.connectionOptions(), ...options });
    // Errors surface through readiness and failed commands; ioredis reconnects on its own.
    redis.on('error', () => undefined);
    if (this.client) this.extra.push(redis);
    return redis;
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.allSettled([this.client, ...this.extra].map((r) => r.quit()));
  }
}
