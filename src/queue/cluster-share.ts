// Fair use of a worker's slots across clusters: each cluster has a slot budget of its own. One queue carries
// every cluster's requests in arrival order, so without a rule a slow cluster (or one answering 503s, its steps
// retrying) fills every slot and the other clusters' requests wait behind it. The rule: a worker runs at most
// WORKER_CONCURRENCY requests of one cluster (its budget), and its slots grow with the clusters at work —
// WORKER_CONCURRENCY × clusters with QUEUED or RUNNING requests, up to WORKER_MAX_CONCURRENCY — so the slots a
// slow cluster holds are its own and never come out of a healthy cluster's. A job over its cluster's budget goes
// back to the queue (delayed DEFER_MS) and the slot takes the next one. Only past WORKER_MAX_CONCURRENCY ÷
// WORKER_CONCURRENCY clusters do they share: each then gets ⌈WORKER_MAX_CONCURRENCY ÷ clusters⌉. With one cluster
// at work it has the whole worker (WORKER_CONCURRENCY slots, as before the rule).
//
// Why a budget per cluster rather than an equal share of a fixed pool (the rule before 2026-12-04, ⌈concurrency ÷
// clusters⌉ of WORKER_CONCURRENCY): a slot of a slow cluster mostly waits on its API server (or on a retry's
// backoff) and costs the worker next to nothing, yet in a fixed pool it is a slot a healthy cluster cannot have;
// with 8 slots and 10 clusters the 8 healthy ones got 8/10 of what they had alone. The real bounds of a cluster
// are its K8S_QPS budget (per cluster, shared through Redis) and the machine's CPU, not the number of promises a
// worker keeps in flight; WORKER_MAX_CONCURRENCY is the guard on the worker's memory and Postgres pool.
// Applied by QueueService.startWorker, which also sets the BullMQ worker's concurrency to slots() at each job.

import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { PrismaService } from '../database/prisma.service.js';

/** How long the count of clusters with work is reused. */
const CLUSTERS_TTL_MS = 1000;
/** How long a job over its cluster's budget stays out of the queue. */
export const DEFER_MS = 200;

@Injectable()
export class ClusterShare {
  private readonly running = new Map<string, number>();
  /** Per cluster with work: its QUEUED + RUNNING requests (all workers'), as last read. */
  private work = new Map<string, number>();
  private workAt = 0;

  constructor(
    private readonly prisma: PrismaService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Takes a slot for the request's cluster, or returns undefined when the cluster already has its budget
   * (the caller puts the job back). The returned function gives the slot back. `known`: the cluster the job
   * carries; read from the request only when the producer did not know it.
   */
  async enter(requestId: string, known?: string): Promise<(() => void) | undefined> {
    const cluster =
      known ??
      (await this.prisma.onboardingRequest.findUnique({ where: { id: requestId }, select: { cluster: true } }))
        ?.cluster ??
      '';
    const budget = this.budget(await this.clustersWithWork());
    // Read and taken with no await in between: jobs starting together see each other's slots.
    const running = this.running.get(cluster) ?? 0;
    if (running >= budget) return undefined;
    this.running.set(cluster, running + 1);
    return () => {
      const left = (this.running.get(cluster) ?? 1) - 1;
      if (left > 0) this.running.set(cluster, left);
      else this.running.delete(cluster);
    };
  }

  /** The most requests of one cluster a worker runs while `clusters` clusters have work. */
  budget(clusters: number): number {
    const { workerConcurrency, workerMaxConcurrency } = this.config;
    return Math.max(1, Math.min(workerConcurrency, Math.ceil(workerMaxConcurrency / Math.max(1, clusters))));
  }

  /**
   * The worker's slots: each cluster with work counts for its budget or its QUEUED + RUNNING requests, whichever
   * is fewer (a cluster with one request leaves no idle slot to cycle the others' deferred jobs through), up to
   * WORKER_MAX_CONCURRENCY; never below WORKER_CONCURRENCY.
   */
  slots(): number {
    const { workerConcurrency, workerMaxConcurrency } = this.config;
    const budget = this.budget(this.work.size);
    let sum = 0;
    for (const n of this.work.values()) sum += Math.min(budget, n);
    return Math.min(workerMaxConcurrency, Math.max(workerConcurrency, sum));
  }

  /** Clusters with QUEUED or RUNNING requests (index on status) and how many each, read at most once a second. */
  async clustersWithWork(): Promise<number> {
    if (Date.now() - this.workAt < CLUSTERS_TTL_MS) return this.work.size;
    const rows = await this.prisma.$queryRaw<{ cluster: string; n: number }[]>`
      SELECT cluster, count(*)::int AS n FROM onboarding_request WHERE status IN ('QUEUED', 'RUNNING')
       GROUP BY cluster`;
    this.work = new Map(rows.map((r) => [r.cluster, r.n]));
    this.workAt = Date.now();
    return this.work.size;
  }
}
