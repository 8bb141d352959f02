import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { DelayedError, Job, Queue, Worker } from 'bullmq';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { RedisService, type RedisClient } from '../redis/redis.service.js';
import { BoundedProducer } from './bounded-producer.js';
import { ClusterShare } from './cluster-share.js';
import { superviseWorker, type SupervisedWorker } from './supervised-worker.js';

export const ONBOARDING_QUEUE = 'onboarding';
/** How long a producer call (enqueue, remove, a job or count read) waits for Redis before it fails. */
export const PRODUCER_TIMEOUT_MS = 2000;

/**
 * The payload carries the request id, and its cluster when the producer knows it (a request's cluster never
 * changes; it spares the worker a read before it takes a slot, see ClusterShare). Postgres holds the request.
 */
export interface RunRequestJob {
  requestId: string;
  cluster?: string;
}

const jobData = (requestId: string, cluster?: string): RunRequestJob =>
  cluster ? { requestId, cluster } : { requestId };

/**
 * BullMQ carries work; it is not the record. The job id is the request id, so enqueueing
 * twice (API + sweeper) is a no-op while the job exists.
 */
@Injectable()
export class QueueService implements OnModuleDestroy {
  private readonly logger = new Logger(QueueService.name);
  private queue?: Queue<RunRequestJob>;
  /** The queue's calls, bounded by PRODUCER_TIMEOUT_MS (bounded-producer.ts). */
  private bounded?: BoundedProducer;
  private readonly consumers: SupervisedWorker<RunRequestJob>[] = [];

  /** Workers replaced because their fetch loop stalled (osm_onboarding_worker_replacements_total). */
  get workerReplacements(): number {
    return this.consumers.reduce((n, c) => n + c.replacements, 0);
  }

  constructor(
    private readonly redis: RedisService,
    private readonly share: ClusterShare,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Jobs this process took and put back because their cluster had used its share, per cluster (MetricsService). */
  readonly deferrals = new Map<string, number>();

  private get onboarding(): Queue<RunRequestJob> {
    if (this.queue) return this.queue;
    // The producer side fails fast while Redis is away (the row is committed; the sweeper enqueues later).
    const connection = this.redis.create({ commandTimeout: PRODUCER_TIMEOUT_MS });
    this.bounded = new BoundedProducer(connection, PRODUCER_TIMEOUT_MS);
    this.queue = new Queue<RunRequestJob>(ONBOARDING_QUEUE, {
      connection,
      prefix: this.config.queuePrefix,
      defaultJobOptions: {
        removeOnComplete: true,
        removeOnFail: true,
        // Only infrastructure failures (Postgres away) fail a job; step errors are handled inside.
        attempts: 10,
        backoff: { type: 'exponential', delay: 500 },
      },
    });
    // Without a listener BullMQ prints every reconnect failure with its stack; readiness reports Redis instead.
    this.queue.on('error', (err) => this.warnOnce(err));
    return this.queue;
  }

  /**
   * A producer call, bounded by PRODUCER_TIMEOUT_MS (bounded-producer.ts: BullMQ waits for its connection's first
   * ready without a timeout, so an API whose Redis was away before its first enqueue would wait for the whole
   * outage). A call that gave up leaves no command to run later; one sent on a ready connection that answers late
   * is dropped: a job added late has a deterministic id (the sweeper's add of the same request is a no-op) and the
   * runner's compare-and-swap claim makes a job of a finished request a no-op.
   */
  private produce<T>(call: (queue: Queue<RunRequestJob>) => Promise<T>): Promise<T> {
    const queue = this.onboarding;
    return this.bounded!.run(() => call(queue));
  }

  /** `front`: a request already in flight (handed back on shutdown) goes ahead of the backlog. */
  async enqueue(requestId: string, opts: { front?: boolean; cluster?: string } = {}): Promise<void> {
    const data = jobData(requestId, opts.cluster);
    await this.produce((q) => q.add('run-request', data, { jobId: requestId, lifo: opts.front === true }));
  }

  /**
   * Re-enqueues a request whose worker died (stale heartbeat, or its job taken but never claimed).
   * Its own job may still sit in Redis as "active" until BullMQ notices the lost lock (30-60 s), so
   * this one gets a job id of its own, derived from `token` (the stale heartbeat): the sweepers of
   * all workers agree on it, so it is added once. If that job was itself taken by a worker that died
   * too (active since before `staleBefore`), a successor id is used. The runner's compare-and-swap
   * claim makes any leftover job a no-op.
   */
  async enqueueResume(requestId: string, token: number, staleBefore: number, cluster?: string): Promise<boolean> {
    let jobId = `${requestId}-resume-${token}`;
    for (let hop = 0; hop < 10; hop++) {
      const job = await this.produce((q) => q.getJob(jobId));
      if (!job) {
        // LIFO: a request that was interrupted mid-way resumes ahead of the backlog of new ones.
        await this.produce((q) => q.add('run-request', jobData(requestId, cluster), { jobId, lifo: true }));
        return true;
      }
      const dead =
        job.processedOn !== undefined &&
        job.processedOn < staleBefore &&
        (await this.produce(() => job.getState())) === 'active';
      if (!dead) return false; // waiting, delayed or running: it will (or does) run
      jobId = `${jobId}-${job.processedOn}`;
    }
    return false;
  }

  /** Drops a waiting job (a cancelled request); an active one finishes by itself. */
  async remove(requestId: string): Promise<void> {
    await this.produce((q) => q.remove(requestId));
  }

  async has(requestId: string): Promise<boolean> {
    return (await this.produce((q) => q.getJob(requestId))) !== undefined;
  }

  /** The request's own job: its state, and when a worker took it (active jobs). */
  async job(requestId: string): Promise<{ state: string; processedOn?: number } | undefined> {
    const job = await this.produce((q) => q.getJob(requestId));
    if (!job) return undefined;
    return { state: await this.produce(() => job.getState()), processedOn: job.processedOn };
  }

  async depth(): Promise<Record<string, number>> {
    return this.produce((q) => q.getJobCounts('waiting', 'active', 'delayed', 'failed'));
  }

  /**
   * Runs `handler` per job, within its cluster's budget of slots (cluster-share.ts); over it, the job waits.
   * The worker's concurrency follows the clusters at work (ClusterShare.slots), re-read as each job starts.
   * `outlier`: whether a cluster is an outlier now (served last while others have work).
   * A worker whose fetch loop stalls (supervised-worker.ts: jobs waiting WORKER_STALL_MS while it runs and takes
   * none) is closed and replaced by a new one on a new connection.
   */
  startWorker(
    handler: (job: Job<RunRequestJob>) => Promise<void>,
    opts: { outlier?: (cluster: string) => boolean } = {},
  ): SupervisedWorker<RunRequestJob> {
    if (opts.outlier) this.share.judgeOutliersWith(opts.outlier);
    const consumer: SupervisedWorker<RunRequestJob> = superviseWorker<RunRequestJob>({
      stallMs: this.config.workerStallMs,
      process: async (job, token) => {
        const { leave, deferMs } = await this.share.enter(job.data.requestId, job.data.cluster);
        consumer.current.concurrency = this.share.slots();
        if (!leave) {
          const cluster = job.data.cluster ?? 'unknown';
          this.deferrals.set(cluster, (this.deferrals.get(cluster) ?? 0) + 1);
          // Not a failed attempt: BullMQ keeps attemptsMade, and the job stays in Redis (delayed), so the
          // sweeper, which looks for QUEUED requests without a job, leaves it alone.
          await job.moveToDelayed(Date.now() + deferMs, token);
          throw new DelayedError();
        }
        try {
          await handler(job);
        } finally {
          leave();
        }
      },
      queue: this.onboarding,
      create: (fair) => this.newWorker(fair),
      warn: (message) => this.logger.warn(message),
    });
    this.consumers.push(consumer);
    return consumer;
  }

  private newWorker(fair: (job: Job<RunRequestJob>, token?: string) => Promise<unknown>): {
    worker: Worker<RunRequestJob>;
    connection: RedisClient;
  } {
    const connection = this.redis.create();
    const worker: Worker<RunRequestJob> = new Worker<RunRequestJob>(ONBOARDING_QUEUE, fair, {
      connection,
      prefix: this.config.queuePrefix,
      concurrency: this.config.workerConcurrency,
      autorun: false,
    });
    worker.on('error', (err) => this.warnOnce(err));
    // Sized for the backlog before the first fetch: once every slot is taken, BullMQ reads a raised concurrency
    // only when a job ends, so a worker started at one cluster's budget behind slow requests would stay there.
    void this.share
      .clustersWithWork()
      .then(() => (worker.concurrency = this.share.slots()))
      .catch(() => undefined)
      .then(() => worker.run())
      .catch((err: Error) => this.warnOnce(err));
    return { worker, connection };
  }

  private lastWarning = 0;
  private warnOnce(err: Error): void {
    if (Date.now() - this.lastWarning < 30_000) return;
    this.lastWarning = Date.now();
    this.logger.warn(
      `queue: Redis unavailable (${err.message}); requests stay QUEUED in Postgres and are enqueued when it is back`,
    );
  }

  async ping(): Promise<void> {
    await this.redis.client.ping();
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.allSettled(this.consumers.map((c) => c.close()));
    await this.queue?.close().catch(() => undefined);
  }
}
