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
//
// Outliers are served last. kubernetes/cluster-health.ts judges each cluster from the worker's calls (they fail,
// or they are far slower than the other clusters'); while a cluster that is not an outlier has work, an outlier's
// budget is CLUSTER_OUTLIER_BUDGET (1) and its jobs over it wait 50 ms per request of its backlog (200 ms to 5 s).
// Its slots cost next to nothing while they wait, but its requests' work (the retries of its failed calls included)
// takes the worker's CPU from the others as much as a healthy cluster's does (docs/operations.md, "Fairness across
// clusters"). Alone at work, or with only outliers at work, an outlier has its whole budget.
// Applied by QueueService.startWorker, which also sets the BullMQ worker's concurrency to slots() at each job.

import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { PrismaService } from '../database/prisma.service.js';

/** How long the count of clusters with work is reused. */
const CLUSTERS_TTL_MS = 1000;
/** How long a job over its cluster's budget stays out of the queue. */
export const DEFER_MS = 200;
/**
 * The same for an outlier's job, per request of its backlog (up to OUTLIER_DEFER_MAX_MS): its one slot frees
 * seldom, and each deferral costs the worker a Redis call.
 */
export const OUTLIER_DEFER_PER_REQUEST_MS = 50;
export const OUTLIER_DEFER_MAX_MS = 5000;

/** A slot (give it back with `leave`), or how long the job should wait before it asks again. */
export type Entry = { leave: () => void; deferMs?: undefined } | { leave?: undefined; deferMs: number };

@Injectable()
export class ClusterShare {
  private readonly running = new Map<string, number>();
  /** Per cluster with work: its QUEUED + RUNNING requests (all workers'), as last read. */
  private work = new Map<string, number>();
  private workAt = 0;
  /** Whether a cluster is an outlier now (set by the worker: QueueService.startWorker). */
  private outlier: (cluster: string) => boolean = () => false;

  constructor(
    private readonly prisma: PrismaService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Tells the share which clusters are outliers now (kubernetes/cluster-health.ts, through the worker). */
  judgeOutliersWith(outlier: (cluster: string) => boolean): void {
    this.outlier = outlier;
  }

  /**
   * Takes a slot for the request's cluster, or says how long to wait when the cluster already has its budget
   * (the caller puts the job back). `known`: the cluster the job carries; read from the request only when the
   * producer did not know it.
   */
  async enter(requestId: string, known?: string): Promise<Entry> {
    const cluster =
      known ??
      (await this.prisma.onboardingRequest.findUnique({ where: { id: requestId }, select: { cluster: true } }))
        ?.cluster ??
      '';
    await this.clustersWithWork();
    const { budget, outlier } = this.budgetOf(cluster);
    // Read and taken with no await in between: jobs starting together see each other's slots.
    const running = this.running.get(cluster) ?? 0;
    if (running >= budget) return { deferMs: outlier ? this.outlierDeferMs(cluster) : DEFER_MS };
    this.running.set(cluster, running + 1);
    return {
      leave: () => {
        const left = (this.running.get(cluster) ?? 1) - 1;
        if (left > 0) this.running.set(cluster, left);
        else this.running.delete(cluster);
      },
    };
  }

  /**
   * A cluster's budget now: CLUSTER_OUTLIER_BUDGET for an outlier while a cluster that is not one has work (with
   * only outliers at work, serving one last would help no one).
   */
  budgetOf(cluster: string): { budget: number; outlier: boolean } {
    const budget = this.budget(this.work.size);
    if (!this.outlier(cluster)) return { budget, outlier: false };
    for (const other of this.work.keys()) {
      if (other !== cluster && !this.outlier(other)) {
        return { budget: Math.min(budget, this.config.clusterOutliers.budget), outlier: true };
      }
    }
    return { budget, outlier: false };
  }

  private outlierDeferMs(cluster: string): number {
    const backlog = this.work.get(cluster) ?? 0;
    return Math.min(OUTLIER_DEFER_MAX_MS, Math.max(DEFER_MS, backlog * OUTLIER_DEFER_PER_REQUEST_MS));
  }

  /** The most requests of one cluster a worker runs while `clusters` clusters have work. */
  budget(clusters: number): number {
    const { workerConcurrency, workerMaxConcurrency } = this.config;
    return Math.max(1, Math.min(workerConcurrency, Math.ceil(workerMaxConcurrency / Math.max(1, clusters))));
  }

  /**
   * The worker's slots: each cluster with work counts for its budget (an outlier's, while others have work) or its
   * QUEUED + RUNNING requests, whichever is fewer (a cluster with one request leaves no idle slot to cycle the
   * others' deferred jobs through), up to WORKER_MAX_CONCURRENCY; never below WORKER_CONCURRENCY.
   */
  slots(): number {
    const { workerConcurrency, workerMaxConcurrency } = this.config;
    let sum = 0;
    for (const [cluster, n] of this.work) sum += Math.min(this.budgetOf(cluster).budget, n);
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
