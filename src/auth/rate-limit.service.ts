import { Inject, Injectable } from '@nestjs/common';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { RedisService } from '../redis/redis.service.js';
import type { Actor } from './actor.js';

/**
 * Calls per caller per minute, shared by every API instance through Redis (an in-memory
 * limiter takes over while Redis is unreachable). Over the limit: 429 with Retry-After.
 */
@Injectable()
export class RateLimitService {
  private readonly limiter?: RateLimiterRedis;
  /** This process's own count: Redis's stand-in when a command fails, and at once while Redis is not connected. */
  private readonly insurance?: RateLimiterMemory;

  constructor(
    private readonly redis: RedisService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    const points = config.rateLimitPerMinute;
    if (points > 0) {
      this.insurance = new RateLimiterMemory({ points, duration: 60 });
      this.limiter = new RateLimiterRedis({
        storeClient: redis.client,
        keyPrefix: `${config.queuePrefix}:ratelimit`,
        points,
        duration: 60,
        insuranceLimiter: this.insurance,
      });
    }
  }

  async consume(actor: Actor): Promise<void> {
    if (!this.limiter) return;
    try {
      // Not connected: no command waits for its timeout (RedisService.available).
      await (this.redis.available() ? this.limiter : this.insurance!).consume(actor.id);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const retryAfterSeconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      throw new DomainError('RATE_LIMITED', `too many requests from ${actor.id}; retry in ${retryAfterSeconds}s`, {
        details: { retryAfterSeconds },
      });
    }
  }
}
