// Owns the failed-authentication budget per client address (AUTH_FAILURES_PER_MINUTE): counted in Redis
// so every API instance shares it, with a local memory of blocked addresses so a blocked address is
// refused before any token lookup and without a Redis round trip.
import { Inject, Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { RedisService } from '../redis/redis.service.js';

@Injectable()
export class AuthFailureLimiter {
  private readonly limiter?: RateLimiterRedis;
  /** address → when its block ends (ms). Bounded: an address evicted early is caught again by Redis. */
  private readonly blocked: LRUCache<string, number>;

  constructor(redis: RedisService, @Inject(APP_CONFIG) config: AppConfig) {
    const points = config.auth.failuresPerMinute;
    this.blocked = new LRUCache({ max: config.auth.cacheMaxEntries });
    if (points > 0) {
      this.limiter = new RateLimiterRedis({
        storeClient: redis.client,
        keyPrefix: `${config.queuePrefix}:authfail`,
        points,
        duration: 60,
        insuranceLimiter: new RateLimiterMemory({ points, duration: 60 }),
      });
    }
  }

  /** Seconds until `address` may try again (0 = it may). */
  blockedFor(address: string): number {
    const until = this.blocked.get(address);
    if (until === undefined) return 0;
    const ms = until - Date.now();
    if (ms > 0) return Math.ceil(ms / 1000);
    this.blocked.delete(address);
    return 0;
  }

  /** Throws RATE_LIMITED while `address` is over its budget. */
  assertAllowed(address: string): void {
    const seconds = this.blockedFor(address);
    if (seconds > 0) throw tooMany(seconds);
  }

  /** Counts one failure; throws RATE_LIMITED when it was one too many. */
  async failed(address: string): Promise<void> {
    if (!this.limiter) return;
    try {
      await this.limiter.consume(address);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const ms = Math.max(1000, err.msBeforeNext);
      this.blocked.set(address, Date.now() + ms, { ttl: ms });
      throw tooMany(Math.ceil(ms / 1000));
    }
  }
}

function tooMany(retryAfterSeconds: number): DomainError {
  return new DomainError(
    'RATE_LIMITED',
    `too many failed authentications from this address; retry in ${retryAfterSeconds}s`,
    {
      details: { retryAfterSeconds },
    },
  );
}
