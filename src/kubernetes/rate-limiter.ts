// K8S_QPS/K8S_BURST per cluster, like client-go's QPS + burst, so a large batch cannot flood an API server:
// rate-limiter-flexible's limiters, shared by every process through Redis (taken a few calls at a time, each lease
// valid until its window ends) or kept per process; EveryLimiter chains them (the namespace view's share of a
// cluster's budget, taken from within it).
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

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

/** One grant: until when it is valid, what the rate window had left, and what the burst had left when it paid. */
interface Grant {
  windowEnds: number;
  remaining: number;
  /** Set when the rate window was used up and the burst paid for the grant: the burst's points left after it. */
  burstLeft?: number;
}

/** A limiter's answer to one ask: a Grant with the time left in its window instead of when that ends. */
type Answer = Omit<Grant, 'windowEnds'> & { msBeforeNext: number };

/**
 * Waits until `limiter` grants `points` calls; waiters spread over the first `jitterMs` of the next window (so
 * that many waiters do not all ask at its first instant; one process's lease loop is one waiter, and a wide spread
 * would leave the start of each window unused: 50 ms of jitter cost a lease loop 2 % of the budget). Answers when
 * the granted window ends, by the clock of this process: the granting command's send time + the window's time
 * left, which is never later than the store's own end of that window. A store error is not caught here: the Redis
 * limiters answer a failed command from their `insuranceLimiter`.
 */
async function consume(
  limiter: { consume(key: string, points?: number): Promise<Answer> },
  points = 1,
  jitterMs = 50,
): Promise<Grant> {
  for (;;) {
    const sent = Date.now();
    try {
      const { msBeforeNext, ...granted } = await limiter.consume('calls', points);
      return { windowEnds: sent + Math.max(0, msBeforeNext), ...granted };
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      await new Promise((r) => setTimeout(r, err.msBeforeNext + Math.random() * jitterMs));
    }
  }
}

/**
 * rate-limiter-flexible's BurstyRateLimiter (the rate window first; when it is used up, the burst), answering
 * also what the burst had left when it paid: BurstyRateLimiter answers only the rate window's figures, so a lease
 * loop could not tell a grant from the burst from one from the window. Rejects with the rate window's
 * RateLimiterRes (its wait, shortened to the burst's when that is sooner), as BurstyRateLimiter does.
 */
class BurstyLimiter {
  constructor(
    private readonly rate: RateLimiterAbstract,
    private readonly burst: RateLimiterAbstract,
  ) {}

  async consume(key: string, points = 1): Promise<Answer> {
    let refused: RateLimiterRes;
    try {
      const r = await this.rate.consume(key, points);
      return { msBeforeNext: r.msBeforeNext, remaining: r.remainingPoints };
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      refused = err;
    }
    try {
      const b = await this.burst.consume(key, points);
      return {
        msBeforeNext: Math.min(refused.msBeforeNext, b.msBeforeNext),
        remaining: refused.remainingPoints,
        burstLeft: b.remainingPoints,
      };
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      // A refusal is a RateLimiterRes, not an Error, as rate-limiter-flexible's limiters reject (consume tells them
      // from a store's failure by that).
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      throw new RateLimiterRes(
        refused.remainingPoints,
        Math.min(refused.msBeforeNext, err.msBeforeNext),
        refused.consumedPoints,
        refused.isFirstInDuration,
      );
    }
  }
}

/** The budget of this process alone (K8S_RATE_LIMIT_SCOPE=process, or no Redis at all). */
export class LocalRateLimiter implements CallLimiter {
  readonly rate: RateLimiterMemory;
  readonly burst: RateLimiterMemory;
  private readonly limiter: BurstyLimiter;

  constructor(qps: number, burst: number) {
    const w = windows(qps, burst);
    this.rate = new RateLimiterMemory(w.rate);
    this.burst = new RateLimiterMemory(w.burst);
    this.limiter = new BurstyLimiter(this.rate, this.burst);
  }

  async take(): Promise<void> {
    await consume(this.limiter);
  }
}

/** Each call waits for every limiter in turn: e.g. a share of a budget (the first) taken from within it. */
export class EveryLimiter implements CallLimiter {
  constructor(private readonly limiters: readonly CallLimiter[]) {}

  async take(): Promise<void> {
    for (const limiter of this.limiters) await limiter.take();
  }
}

/** At most this many calls are taken from the shared budget in one Redis command. */
const MAX_LEASE = 10;
/** A lease loop's spread over the start of the next window (one waiter per process; see consume). */
const LEASE_JITTER_MS = 5;

/**
 * The most calls taken from the shared budget at once: a tenth of the window's points, 1 to MAX_LEASE (K8S_QPS=50 →
 * 5, K8S_QPS ≥ 100 → 10, K8S_QPS < 20 → 1: a small budget is not held by one process).
 */
function fullLease(qps: number): number {
  return Math.max(1, Math.min(MAX_LEASE, Math.floor(windows(qps, 0).rate.points / 10)));
}

/**
 * The same budget shared by every process that talks to one cluster (API and worker replicas), through
 * Redis. While Redis is unreachable each process falls back to its own budget at the full rate: the
 * Redis limiters' `insuranceLimiter`s when a command fails, the same limiters directly while the client
 * is not connected (so no call waits for a command timeout).
 */
export class SharedRateLimiter implements CallLimiter {
  private readonly limiter: BurstyLimiter;
  private readonly fallback: LocalRateLimiter;
  /** Calls leased from the shared budget and not used yet, and until when (the end of their rate window). */
  private leased = 0;
  private leasedUntil = 0;
  private leasing = false;
  /** Calls this process took in the current lease's window. */
  private calls = 0;
  /** What the window had left after this process's last lease (0 once it leased from the burst). */
  private remaining = 0;
  /** What the burst had left after this process's last lease, when the burst paid for it (else undefined). */
  private burstLeft?: number;
  private readonly waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private readonly lease: number;
  private readonly windowMs: number;

  constructor(
    private readonly store: { client: unknown; ready: () => boolean },
    keyPrefix: string,
    budget: { qps: number; burst: number },
  ) {
    const w = windows(budget.qps, budget.burst);
    this.fallback = new LocalRateLimiter(budget.qps, budget.burst);
    const redis = (opts: { points: number; duration: number }, prefix: string, insurance: RateLimiterAbstract) =>
      new RateLimiterRedis({ storeClient: store.client, keyPrefix: prefix, ...opts, insuranceLimiter: insurance });
    this.limiter = new BurstyLimiter(
      redis(w.rate, keyPrefix, this.fallback.rate),
      redis(w.burst, `${keyPrefix}:burst`, this.fallback.burst),
    );
    this.lease = fullLease(budget.qps);
    this.windowMs = w.rate.duration * 1000;
  }

  take(): Promise<void> {
    // Not connected: don't wait for a command timeout on every call.
    if (!this.store.ready()) return this.fallback.take();
    if (this.leased > 0 && Date.now() < this.leasedUntil) {
      this.leased--;
      this.calls++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.renew();
    });
  }

  /**
   * One Redis command takes a lease (nextLeaseSize) for the callers waiting (one lease at a time per process;
   * callers that come meanwhile wait for it). What they do not use is kept until the end of the rate window it came
   * from, never longer: the budget counted it in that window, so the shared rate still never exceeds K8S_QPS (+ the
   * burst). The cost: calls leased and not used before the window ends are lost to it. Connected but a command fails
   * (a timeout on a connection that went silent): the insurance limiters answer.
   */
  private renew(): void {
    if (this.leasing || this.waiters.length === 0) return;
    this.leasing = true;
    const size = this.nextLeaseSize();
    consume(this.limiter, size, LEASE_JITTER_MS)
      .then(
        ({ windowEnds, remaining, burstLeft }) => {
          this.remaining = remaining;
          this.burstLeft = burstLeft;
          let left = size;
          while (left > 0 && this.waiters.length > 0) {
            this.waiters.shift()!.resolve();
            this.calls++;
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

  /**
   * Within a window it has used up a lease in (it is busy): the full lease, but no more than the window had left
   * (asking more than is left would count the ask in full and strand the rest). Once the window is used up and the
   * burst pays, no more than the burst had left after the last lease (at least 1: the ask that finds it empty waits
   * for the next window), rather than one call per lease and two Redis commands per call for the whole burst.
   * At the start of a window: as many calls as it took in the window before (at least the callers waiting),
   * so a process that calls now and then (an API replica's occasional read) takes what it uses and leaves the rest
   * to the others. A new window's lease starts its count of calls.
   */
  private nextLeaseSize(): number {
    const now = Date.now();
    if (now < this.leasedUntil) {
      const left = this.remaining > 0 || this.burstLeft === undefined ? this.remaining : this.burstLeft;
      return Math.max(1, Math.min(this.lease, left));
    }
    // A new window: the last one's calls say what this one may need; after a quiet window, nothing.
    const before = now < this.leasedUntil + this.windowMs ? this.calls : 0;
    this.calls = 0;
    return Math.min(this.lease, Math.max(this.waiters.length, before, 1));
  }
}
