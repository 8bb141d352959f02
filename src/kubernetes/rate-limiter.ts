// K8S_QPS/K8S_BURST per cluster, like client-go's QPS + burst, so a large batch cannot flood an API server:
// rate-limiter-flexible's limiters, shared by every process through Redis or kept per process.
import {
  BurstyRateLimiter,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';

/** What a cluster client waits on before each call. */
export interface CallLimiter {
  take(): Promise<void>;
}

/**
 * K8S_QPS calls per second plus a burst of K8S_BURST that refills over a minute (so the sustained rate is at
 * most K8S_QPS + K8S_BURST/60). Whole points per window: 0.5 QPS = 1 call per 2 s.
 */
function windows(qps: number, burst: number) {
  const duration = Math.max(1, Math.ceil(1 / qps));
  return {
    rate: { points: Math.max(1, Math.floor(qps * duration)), duration },
    burst: { points: burst, duration: 60 },
  };
}

/**
 * Waits until `limiter` grants one call; waiters spread over the first part of the next window. A store error is
 * not caught here: the Redis limiters answer a failed command from their `insuranceLimiter`.
 */
async function consume(limiter: { consume(key: string): Promise<unknown> }) {
  for (;;) {
    try {
      await limiter.consume('calls');
      return;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      await new Promise((r) => setTimeout(r, err.msBeforeNext + Math.random() * 50));
    }
  }
}

/** The budget of this process alone (K8S_RATE_LIMIT_SCOPE=process, or no Redis at all). */
export class LocalRateLimiter implements CallLimiter {
  readonly rate: RateLimiterMemory;
  readonly burst: RateLimiterMemory;
  private readonly limiter: BurstyRateLimiter;

  constructor(qps: number, burst: number) {
    const w = windows(qps, burst);
    this.rate = new RateLimiterMemory(w.rate);
    this.burst = new RateLimiterMemory(w.burst);
    this.limiter = new BurstyRateLimiter(this.rate, this.burst);
  }

  take(): Promise<void> {
    return consume(this.limiter);
  }
}

/**
 * The same budget shared by every process that talks to one cluster (API and worker replicas), through
 * Redis. While Redis is unreachable each process falls back to its own budget at the full rate: the
 * Redis limiters' `insuranceLimiter`s when a command fails, the same limiters directly while the client
 * is not connected (so no call waits for a command timeout).
 */
export class SharedRateLimiter implements CallLimiter {
  private readonly limiter: BurstyRateLimiter;
  private readonly fallback: LocalRateLimiter;

  constructor(
    private readonly store: { client: unknown; ready: () => boolean },
    keyPrefix: string,
    budget: { qps: number; burst: number },
  ) {
    const w = windows(budget.qps, budget.burst);
    this.fallback = new LocalRateLimiter(budget.qps, budget.burst);
    const redis = (opts: { points: number; duration: number }, prefix: string, insurance: RateLimiterAbstract) =>
      new RateLimiterRedis({ storeClient: store.client, keyPrefix: prefix, ...opts, insuranceLimiter: insurance });
    this.limiter = new BurstyRateLimiter(
      redis(w.rate, keyPrefix, this.fallback.rate),
      redis(w.burst, `${keyPrefix}:burst`, this.fallback.burst),
    );
  }

  take(): Promise<void> {
    // Not connected: don't wait for a command timeout on every call.
    if (!this.store.ready()) return this.fallback.take();
    // Connected but a command fails (a timeout on a connection that went silent): the insurance limiters answer.
    return consume(this.limiter);
  }
}
