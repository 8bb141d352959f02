import { BurstyRateLimiter, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

// Client-side token bucket per cluster, like client-go's QPS + burst, so a large batch
// cannot flood an API server.
export class TokenBucket implements CallLimiter {
  private tokens: number;
  private last = performance.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly qps: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(): Promise<void> {
    // Chain waiters so tokens are granted in arrival order.
    const next = this.queue.then(() => this.waitForToken());
    this.queue = next;
    return next;
  }

  private async waitForToken(): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - this.tokens) / this.qps) * 1000)));
    }
  }
}

/** What a cluster client waits on before each call. */
export interface CallLimiter {
  take(): Promise<void>;
}

/**
 * The same budget shared by every process that talks to one cluster (API and worker replicas),
 * through Redis: K8S_QPS calls per second plus a burst of K8S_BURST that refills over a minute
 * (so the sustained rate is at most K8S_QPS + K8S_BURST/60). While Redis is unreachable each
 * process falls back to its own token bucket at the full rate.
 */
export class SharedRateLimiter implements CallLimiter {
  private readonly limiter: BurstyRateLimiter;
  private readonly fallback: TokenBucket;

  constructor(
    private readonly store: { client: unknown; ready: () => boolean },
    keyPrefix: string,
    qps: number,
    burst: number,
  ) {
    // Whole points per window: 0.5 QPS = 1 call per 2 s.
    const duration = Math.max(1, Math.ceil(1 / qps));
    const points = Math.max(1, Math.floor(qps * duration));
    this.limiter = new BurstyRateLimiter(
      new RateLimiterRedis({ storeClient: store.client, keyPrefix, points, duration }),
      new RateLimiterRedis({ storeClient: store.client, keyPrefix: `${keyPrefix}:burst`, points: burst, duration: 60 }),
    );
    this.fallback = new TokenBucket(qps, burst);
  }

  async take(): Promise<void> {
    for (;;) {
      // Not connected: don't wait for a command timeout on every call.
      if (!this.store.ready()) return this.fallback.take();
      try {
        await this.limiter.consume('calls');
        return;
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) return this.fallback.take(); // Redis away
        // Spread the waiters over the first part of the next window instead of all at its start.
        await new Promise((r) => setTimeout(r, err.msBeforeNext + Math.random() * 50));
      }
    }
  }
}
