import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Worker } from 'bullmq';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { PrismaService } from '../database/prisma.service.js';
import { QueueService, RunRequestJob } from '../queue/queue.service.js';
import { RequestRunner } from './request-runner.service.js';

/**
 * The worker role: consumes the BullMQ queue and sweeps Postgres for requests the queue
 * lost (Redis wiped, enqueue failed after commit) or whose worker died (stale heartbeat).
 */
@Injectable()
export class OnboardingWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OnboardingWorker.name);
  private worker?: Worker<RunRequestJob>;
  private sweepTimer?: NodeJS.Timeout;

  constructor(
    private readonly queue: QueueService,
    private readonly runner: RequestRunner,
    private readonly prisma: PrismaService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.role === 'api') return;
    this.worker = this.queue.startWorker(async (job) => {
      await this.runner.run(job.data.requestId);
    });
    if (this.config.sweepIntervalMs > 0) {
      this.sweepTimer = setInterval(() => void this.sweep().catch(() => undefined), this.config.sweepIntervalMs);
      void this.sweep().catch(() => undefined);
    }
    this.logger.log(`worker ${this.runner.workerId} consuming (concurrency ${this.config.workerConcurrency})`);
  }

  /** Re-enqueues what Postgres says is unfinished; the job id makes this a no-op for live jobs. */
  async sweep(): Promise<number> {
    const stale = new Date(Date.now() - 3 * this.config.heartbeatMs);
    const settled = new Date(Date.now() - Math.min(this.config.sweepIntervalMs, 5000));
    const candidates = await this.prisma.onboardingRequest.findMany({
      where: {
        OR: [
          { status: 'QUEUED', updatedAt: { lt: settled } },
          { status: 'RUNNING', OR: [{ heartbeatAt: null }, { heartbeatAt: { lt: stale } }] },
        ],
      },
      select: { id: true },
      take: 500,
    });
    let enqueued = 0;
    for (const { id } of candidates) {
      if (!(await this.queue.has(id))) {
        await this.queue.enqueue(id);
        enqueued += 1;
      }
    }
    if (enqueued) this.logger.warn(`sweeper re-enqueued ${enqueued} request(s) missing from the queue`);
    return enqueued;
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.sweepTimer);
    // Lets the running steps finish; unfinished requests are resumed by the next worker.
    await this.worker?.close();
  }
}
