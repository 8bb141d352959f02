import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Job, Queue, Worker } from 'bullmq';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { RedisService } from '../redis/redis.service.js';

export const ONBOARDING_QUEUE = 'onboarding';

/** The payload carries ids only; Postgres holds the request. */
export interface RunRequestJob {
  requestId: string;
}

/**
 * BullMQ carries work; it is not the record. The job id is the request id, so enqueueing
 * twice (API + sweeper) is a no-op while the job exists.
 */
@Injectable()
export class QueueService implements OnModuleDestroy {
  private queue?: Queue<RunRequestJob>;
  private readonly workers: Worker[] = [];

  constructor(
    private readonly redis: RedisService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private get onboarding(): Queue<RunRequestJob> {
    this.queue ??= new Queue<RunRequestJob>(ONBOARDING_QUEUE, {
      connection: this.redis.create(),
      prefix: this.config.queuePrefix,
      defaultJobOptions: {
        removeOnComplete: true,
        removeOnFail: true,
        // Only infrastructure failures (Postgres away) fail a job; step errors are handled inside.
        attempts: 10,
        backoff: { type: 'exponential', delay: 500 },
      },
    });
    return this.queue;
  }

  async enqueue(requestId: string): Promise<void> {
    await this.onboarding.add('run-request', { requestId }, { jobId: requestId });
  }

  /** Drops a waiting job (a cancelled request); an active one finishes by itself. */
  async remove(requestId: string): Promise<void> {
    await this.onboarding.remove(requestId);
  }

  async has(requestId: string): Promise<boolean> {
    return (await this.onboarding.getJob(requestId)) !== undefined;
  }

  async depth(): Promise<Record<string, number>> {
    return this.onboarding.getJobCounts('waiting', 'active', 'delayed', 'failed');
  }

  startWorker(handler: (job: Job<RunRequestJob>) => Promise<void>): Worker<RunRequestJob> {
    const worker = new Worker<RunRequestJob>(ONBOARDING_QUEUE, handler, {
      connection: this.redis.create(),
      prefix: this.config.queuePrefix,
      concurrency: this.config.workerConcurrency,
    });
    worker.on('error', () => undefined);
    this.workers.push(worker);
    return worker;
  }

  async ping(): Promise<void> {
    await this.redis.client.ping();
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.close()));
    await this.queue?.close().catch(() => undefined);
  }
}
