// Owns the failed-authentication budget per client address (AUTH_FAILURES_PER_MINUTE): counted in Redis
// so every API instance shares it, with a local memory of blocked addresses so a blocked address is
// refused before any token lookup and without a Redis round trip. The instance that blocks an address
// tells every other one over Redis pub/sub, so each refuses it at once too; one that missed the message
// (started later, Redis away) learns it at that address's next failure, from the shared count.
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { RedisService } from '../redis/redis.service.js';

/** Longest block a message may announce: the budget's window (one minute) and some slack. */
const MAX_BLOCK_MS = 120_000;
/** Longer than any address (an IPv6 address with a zone is well under this). */
const MAX_ADDRESS_LENGTH = 256;

@Injectable()
export class AuthFailureLimiter implements OnModuleInit {
  private readonly limiter?: RateLimiterRedis;
  /** This process's own count: Redis's stand-in when a command fails, and at once while Redis is not connected. */
  private insurance?: RateLimiterMemory;
  /** address → when its block ends (ms). Bounded: an address evicted early is caught again by Redis. */
  private readonly blocked: LRUCache<string, number>;
  /** Where blocks are announced: `{"address": "…", "ms": …}`, ms the block has left when sent. */
  private readonly channel: string;
  private subscribed = false;

  constructor(
    private readonly redis: RedisService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    const points = config.auth.failuresPerMinute;
    this.blocked = new LRUCache({ max: config.auth.cacheMaxEntries });
    this.channel = `${config.queuePrefix}:authfail:blocked`;
    if (points > 0 && config.auth.mode !== 'none') {
      this.limiter = new RateLimiterRedis({
        storeClient: redis.client,
        keyPrefix: `${config.queuePrefix}:authfail`,
        points,
        duration: 60,
        insuranceLimiter: (this.insurance = new RateLimiterMemory({ points, duration: 60 })),
      });
    }
  }

  onModuleInit(): void {
    this.subscribe();
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

  /** Counts one failure; throws RATE_LIMITED when it was one too many, and tells the other instances. */
  async failed(address: string): Promise<void> {
    if (!this.limiter) return;
    // A subscription that failed at start (Redis away) is tried again.
    this.subscribe();
    try {
      // Not connected: no command waits for its timeout (RedisService.available); this process counts alone.
      await (this.redis.available() ? this.limiter : this.insurance!).consume(address);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const ms = Math.max(1000, err.msBeforeNext);
      this.block(address, ms);
      // Not awaited: the caller's 429 does not wait for Redis; a lost message costs the other instances one
      // failure each (they learn the block from the shared count).
      const message = JSON.stringify({ address, ms });
      void this.redis.publish(this.channel, message).catch(() => undefined);
      throw tooMany(Math.ceil(ms / 1000));
    }
  }

  private block(address: string, ms: number): void {
    const until = Date.now() + ms;
    if ((this.blocked.get(address) ?? 0) >= until) return;
    this.blocked.set(address, until, { ttl: ms });
  }

  private subscribe(): void {
    if (!this.limiter || this.subscribed) return;
    this.subscribed = true;
    this.redis.subscribe(this.channel, (message) => this.onBlocked(message)).catch(() => (this.subscribed = false));
  }

  /** Another instance (or this one) blocked an address: refuse it here too, for as long. */
  private onBlocked(message: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    const { address, ms } = (parsed ?? {}) as { address?: unknown; ms?: unknown };
    if (typeof address !== 'string' || address.length === 0 || address.length > MAX_ADDRESS_LENGTH) return;
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) return;
    this.block(address, Math.min(ms, MAX_BLOCK_MS));
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
