// Fair use of a worker's slots across clusters. One queue carries every cluster's requests in arrival order,
// so without a rule a slow cluster (or one answering 503s, its steps retrying) fills every slot and the other
// clusters' requests wait behind it. The rule: while requests of several clusters are waiting or running, a
// worker runs at most its fair share of WORKER_CONCURRENCY for one cluster (concurrency ÷ clusters with work,
// rounded up); a job over the share goes back to the queue (delayed a moment) and the slot takes the next one.
// With one cluster at work there is no limit (nothing to be fair to). Applied by QueueService.startWorker.

import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { PrismaService } from '../database/prisma.service.js';

/** How long the count of clusters with work is reused. */
const CLUSTERS_TTL_MS = 1000;
/** How long a job over its cluster's share stays out of the queue. */
export const DEFER_MS = 200;

@Injectable()
export class ClusterShare {
  private readonly running = new Map<string, number>();
  private clusters = { count: 1, at: 0 };

  constructor(
    private readonly prisma: PrismaService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Takes a slot for the request's cluster, or returns undefined when the cluster already has its share
   * (the caller puts the job back). The returned function gives the slot back. `known`: the cluster the job
   * carries; read from the request only when the producer did not know it.
   */
  async enter(requestId: string, known?: string): Promise<(() => void) | undefined> {
    const cluster =
      known ??
      (await this.prisma.onboardingRequest.findUnique({ where: { id: requestId }, select: { cluster: true } }))
        ?.cluster ??
      '';
    const share = this.share(await this.clustersWithWork());
    // Read and taken with no await in between: jobs starting together see each other's slots.
    const running = this.running.get(cluster) ?? 0;
    if (running >= share) return undefined;
    this.running.set(cluster, running + 1);
    return () => {
      const left = (this.running.get(cluster) ?? 1) - 1;
      if (left > 0) this.running.set(cluster, left);
      else this.running.delete(cluster);
    };
  }

  share(clusters: number): number {
    return Math.max(1, Math.ceil(this.config.workerConcurrency / Math.max(1, clusters)));
  }

  /** Clusters with QUEUED or RUNNING requests (index on status), read at most once a second. */
  private async clustersWithWork(): Promise<number> {
    if (Date.now() - this.clusters.at < CLUSTERS_TTL_MS) return this.clusters.count;
    const rows = await this.prisma.$queryRaw<{ n: number }[]>`
      SELECT count(DISTINCT cluster)::int AS n FROM onboarding_request WHERE status IN ('QUEUED', 'RUNNING')`;
    this.clusters = { count: rows[0]?.n ?? 1, at: Date.now() };
    return this.clusters.count;
  }
}
