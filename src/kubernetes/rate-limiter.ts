// K8S_QPS/K8S_BURST per cluster, like client-go's QPS + burst, so a large batch cannot flood an API server:
// rate-limiter-flexible's limiters, shared by every process through Redis (taken a few calls at a time, each lease
// valid until its window ends) or kept per process.
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
 * Waits until `limiter` grants `points` calls; waiters spread over the first part of the next window. Answers when
 * the granted window ends, by the clock of this process: the granting command's send time + the window's time
 * left, which is never later than the store's own end of that window. A store error is not caught here: the Redis
 * limiters answer a failed command from their `insuranceLimiter`.
 */
async function consume(
  limiter: { consume(key: string, points?: number): Promise<RateLimiterRes | null> },
  points = 1,
): Promise<{ windowEnds: number }> {
  for (;;) {
    const sent = Date.now();
    try {
      const granted = await limiter.consume('calls', points);
      return { windowEnds: sent + Math.max(0, granted?.msBeforeNext ?? 0) };
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

  async take(): Promise<void> {
    await consume(this.limiter);
  }
}

/** At most this many calls are taken from the shared budget in one Redis command. */
const MAX_LEASE = 10;

/**
 * Calls taken from the shared budget at once: a tenth of the window's points, 1 to MAX_LEASE (K8S_QPS=50 → 5,
 * K8S_QPS ≥ 100 → 10, K8S_QPS < 20 → 1: a small budget is not held by one process).
 */
export function leaseSize(qps: number): number {
  return Math.max(1, Math.min(MAX_LEASE, Math.floor(windows(qps, 0).rate.points / 10)));
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
  /** Calls leased from the shared budget and not used yet, and until when (the end of their rate window). */
  private leased = 0;
  private leasedUntil = 0;
  private leasing = false;
  private readonly waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  readonly lease: number;

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
    this.lease = leaseSize(budget.qps);
  }

  take(): Promise<void> {
    // Not connected: don't wait for a command timeout on every call.
    if (!this.store.ready()) return this.fallback.take();
    if (this.leased > 0 && Date.now() < this.leasedUntil) {
      this.leased--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.renew();
    });
  }

  /**
   * One Redis command takes `lease` calls for the callers waiting (one lease at a time per process; callers that
   * come meanwhile wait for it). What they do not use is kept until the end of the rate window it came from, never
   * longer: the budget counted it in that window, so the shared rate still never exceeds K8S_QPS (+ the burst).
   * The cost: up to `lease - 1` calls of a window may go unused when a process leases and then goes quiet. Connected
   * but a command fails (a timeout on a connection that went silent): the insurance limiters answer.
   */
  private renew(): void {
    if (this.leasing || this.waiters.length === 0) return;
    this.leasing = true;
    consume(this.limiter, this.lease)
      .then(
        ({ windowEnds }) => {
          let left = this.lease;
          while (left > 0 && this.waiters.length > 0) {
            this.waiters.shift()!.resolve();
            left--;
          }
          this.leased = left;
          this.leasedUntil = windowEnds;
        },
        (err: unknown) => {
          for (const w of this.waiters.splice(0)) w.reject(err);
        },
      )
      .finally(() => {
        this.leasing = false;
        this.renew();
      });
  }
}
