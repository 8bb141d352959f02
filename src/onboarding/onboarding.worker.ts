import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleDestroy,
} from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { PrismaService } from '../database/prisma.service.js';
import { ClusterHealth } from '../kubernetes/cluster-health.js';
import { QueueService, type RunRequestJob } from '../queue/queue.service.js';
import type { SupervisedWorker } from '../queue/supervised-worker.js';
import { RequestRunner } from './request-runner.service.js';

/**
 * The worker role: consumes the BullMQ queue and sweeps Postgres for requests the queue
 * lost (Redis wiped, enqueue failed after commit) or whose worker died (stale heartbeat).
 */
@Injectable()
export class OnboardingWorker implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger(OnboardingWorker.name);
  private worker?: SupervisedWorker<RunRequestJob>;
  private sweepTimer?: NodeJS.Timeout;
  /** Where the next sweep pass continues (undefined: from the oldest). */
  private sweepCursor?: { createdAt: Date; id: string };
  private draining?: Promise<void>;
  /** Requests this worker gave back on shutdown; their jobs are gone once the worker closed. */
  private readonly released = new Set<string>();

  constructor(
    private readonly queue: QueueService,
    private readonly runner: RequestRunner,
    private readonly prisma: PrismaService,
    private readonly health: ClusterHealth,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The queue's consumer (undefined on an API-only process). */
  get consumer(): SupervisedWorker<RunRequestJob> | undefined {
    return this.worker;
  }

  onApplicationBootstrap(): void {
    if (this.config.role === 'api') return;
    this.worker = this.queue.startWorker(
      async (job) => {
        const outcome = await this.runner.run(job.data.requestId);
        if (outcome === 'released') this.released.add(job.data.requestId);
      },
      { outlier: (cluster) => this.health.isOutlier(cluster) },
    );
    if (this.config.sweepIntervalMs > 0) {
      this.sweepTimer = setInterval(() => void this.sweep().catch(() => undefined), this.config.sweepIntervalMs);
      void this.sweep().catch(() => undefined);
    }
    const { workerConcurrency, workerMaxConcurrency } = this.config;
    this.logger.log(
      `worker ${this.runner.workerId} consuming (${workerConcurrency} per cluster, up to ${workerMaxConcurrency})`,
    );
  }

  /**
   * Re-enqueues what Postgres says is unfinished: QUEUED requests missing from Redis (the job id
   * is the request id, so a live job makes this a no-op) or whose job a dead worker took, and
   * RUNNING ones whose heartbeat is stale.
   */
  async sweep(): Promise<number> {
    if (this.draining) return 0;
    const stale = new Date(Date.now() - 3 * this.config.heartbeatMs);
    const settled = new Date(Date.now() - Math.min(this.config.sweepIntervalMs, 5000));
    // At most SWEEP_BATCH_SIZE per pass, oldest first, continuing where the last pass stopped: with a
    // backlog larger than one batch (after Redis lost its data, say) every request is reached in
    // turn, instead of the same oldest ones being checked on every pass.
    const after = this.sweepCursor;
    const candidates = await this.prisma.onboardingRequest.findMany({
      where: {
        OR: [
          { status: 'QUEUED', updatedAt: { lt: settled } },
          { status: 'RUNNING', OR: [{ heartbeatAt: null }, { heartbeatAt: { lt: stale } }] },
        ],
        ...(after
          ? {
              AND: [
                { OR: [{ createdAt: { gt: after.createdAt } }, { createdAt: after.createdAt, id: { gt: after.id } }] },
              ],
            }
          : {}),
      },
      select: { id: true, status: true, heartbeatAt: true, createdAt: true, cluster: true },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: this.config.sweepBatchSize,
    });
    this.sweepCursor = candidates.length === this.config.sweepBatchSize ? candidates[candidates.length - 1] : undefined;
    let queued = 0;
    let resumed = 0;
    const missing: { id: string; cluster: string }[] = [];
    for (const { id, status, heartbeatAt, cluster } of candidates) {
      if (status === 'RUNNING') {
        if (await this.queue.enqueueResume(id, heartbeatAt?.getTime() ?? 0, stale.getTime(), cluster)) resumed += 1;
        continue;
      }
      const job = await this.queue.job(id);
      if (!job) missing.push({ id, cluster });
      else if (job.state === 'active' && job.processedOn !== undefined && job.processedOn < stale.getTime()) {
        // Taken by a worker that died before it could claim the request: BullMQ would notice the
        // lost lock only after 30-60 s.
        if (await this.queue.enqueueResume(id, job.processedOn, stale.getTime(), cluster)) resumed += 1;
      }
    }
    if (missing.length) {
      // A worker may have claimed and finished a request between the read above and its job check (a finished
      // job is removed): only what is still QUEUED now lacks a job.
      const still = await this.prisma.onboardingRequest.findMany({
        where: { id: { in: missing.map((m) => m.id) }, status: 'QUEUED' },
        select: { id: true },
      });
      const queuedIds = new Set(still.map((r) => r.id));
      for (const { id, cluster } of missing.filter((m) => queuedIds.has(m.id))) {
        await this.queue.enqueue(id, { cluster });
        queued += 1;
      }
    }
    if (queued) this.logger.warn(`sweeper re-enqueued ${queued} queued request(s) missing from Redis`);
    if (resumed) this.logger.warn(`sweeper re-enqueued ${resumed} running request(s) with a stale heartbeat`);
    return queued + resumed;
  }

  /**
   * Shutdown: take no new job, let every running request finish its current step (the runner
   * then gives it back as QUEUED), and put those requests back on the queue for the next worker.
   * Idempotent; SIGTERM handling and Nest's shutdown hook both end up here.
   */
  drain(): Promise<void> {
    this.draining ??= (async () => {
      clearInterval(this.sweepTimer);
      this.runner.stopAfterCurrentStep();
      await this.worker?.close();
      for (const id of this.released) {
        await this.queue
          .enqueue(id, { front: true })
          .catch((err) =>
            this.logger.warn(
              `request ${id} released but not re-enqueued (the sweeper will): ${(err as Error).message}`,
            ),
          );
      }
      if (this.released.size) this.logger.log(`released ${this.released.size} request(s) to the next worker`);
    })();
    return this.draining;
  }

  // Nest destroys modules before its shutdown hooks: drain first, while Postgres and Redis are still open.
  async onModuleDestroy(): Promise<void> {
    await this.drain();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.drain();
  }
}
