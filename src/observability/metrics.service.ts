// Prometheus metrics of this process: every counter and histogram the service exports, in one registry.
import { Injectable, OnModuleInit } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { QueueService } from '../queue/queue.service.js';

/** Prometheus metrics of this process (API and worker each expose their own). */
@Injectable()
export class MetricsService implements OnModuleInit {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'osm_onboarding_requests_total',
    help:
      'Onboarding/offboarding requests by kind and status reached (QUEUED/PLANNED on creation, then the final ' +
      'status)',
    labelNames: ['kind', 'status'] as const,
    registers: [this.registry],
  });

  readonly steps = new Histogram({
    name: 'osm_onboarding_step_duration_seconds',
    help: 'Step runs by step, outcome (CHANGED, UNCHANGED, FAILED) and duration',
    labelNames: ['step', 'result'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  readonly kubeCalls = new Histogram({
    name: 'osm_onboarding_kube_request_duration_seconds',
    help: 'Kubernetes API calls by cluster, verb, resource and HTTP code',
    labelNames: ['cluster', 'verb', 'resource', 'code'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
    registers: [this.registry],
  });

  readonly queueWait = new Histogram({
    name: 'osm_onboarding_queue_wait_seconds',
    help: 'Time from a request being queued to a worker starting it',
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
    registers: [this.registry],
  });

  readonly subscriptions = new Gauge({
    name: 'osm_onboarding_progress_subscriptions',
    help: 'Open progress streams (GraphQL subscriptions and SSE) on this instance',
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Histogram({
    name: 'osm_onboarding_webhook_delivery_duration_seconds',
    help: 'Webhook delivery attempts by event type and outcome (delivered, retrying, failed) and their duration',
    labelNames: ['event', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  /** Jobs put back because their cluster had used its share of this worker (QueueService.deferrals). */
  private readonly deferralsExported = new Map<string, number>();
  readonly jobsDeferred = new Counter({
    name: 'osm_onboarding_jobs_deferred_total',
    help: 'Requests a worker took and put back in the queue, by cluster, because the cluster had used its share of it',
    labelNames: ['cluster'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [cluster, seen] of this.queue.deferrals) {
        const exported = this.deferralsExported.get(cluster) ?? 0;
        if (seen > exported) this.jobsDeferred.inc({ cluster }, seen - exported);
        this.deferralsExported.set(cluster, seen);
      }
    },
  });

  /** Outlier clusters (kubernetes/cluster-health.ts), as this worker judges them. */
  readonly clusterOutlier = new Gauge({
    name: 'osm_onboarding_cluster_outlier',
    help: '1 while this worker serves the cluster last (its calls fail or are slow against the other clusters), else 0',
    labelNames: ['cluster'] as const,
    registers: [this.registry],
  });

  /** The API's namespace informer (onboarding/namespace-informer.ts), per cluster it has started for. */
  readonly informerSynced = new Gauge({
    name: 'osm_onboarding_namespace_informer_synced',
    help: "1 when the API's namespace view of a cluster is in sync (request-time checks read memory), else 0",
    labelNames: ['cluster'] as const,
    registers: [this.registry],
  });

  readonly informerNamespaces = new Gauge({
    name: 'osm_onboarding_namespace_informer_namespaces',
    help: "Namespaces in the API's namespace view of a cluster",
    labelNames: ['cluster'] as const,
    registers: [this.registry],
  });

  private readonly queueDepth = new Gauge({
    name: 'osm_onboarding_queue_jobs',
    help: 'BullMQ jobs by state',
    labelNames: ['state'] as const,
    registers: [this.registry],
    collect: async () => {
      try {
        const counts = await this.queue.depth();
        for (const [state, n] of Object.entries(counts)) this.queueDepth.set({ state }, n);
      } catch {
        /* Redis away: readiness reports it */
      }
    },
  });

  /** Per queue: how to read its worker replacements, and how many were exported. */
  private readonly replacementSources = new Map<string, { read: () => number; exported: number }>();
  private readonly workerReplacements = new Counter({
    name: 'osm_onboarding_worker_replacements_total',
    help: 'BullMQ workers this process replaced, by queue, because their fetch loop stalled',
    labelNames: ['queue'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [queue, source] of this.replacementSources) {
        const seen = source.read();
        if (seen > source.exported) this.workerReplacements.inc({ queue }, seen - source.exported);
        source.exported = seen;
      }
    },
  });

  constructor(private readonly queue: QueueService) {
    this.countWorkerReplacements('onboarding', () => queue.workerReplacements);
  }

  /** Where a queue's worker replacements are read (QueueService's, the webhook dispatcher's). */
  countWorkerReplacements(queue: string, read: () => number): void {
    this.replacementSources.set(queue, { read, exported: 0 });
  }

  onModuleInit(): void {
    // The event-loop delay histogram samples with a libuv timer; prom-client's 10 ms wakes an idle process 100 times
    // a second (about 1 % of a core in an idle worker, measured). At 100 ms a scrape every 15 s still covers 150.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
  }

  /** One Kubernetes API call (the cluster gateway reports each one: kubernetes/kube-call-metrics.ts). */
  observeKubeCall(r: { cluster: string; verb: string; resource: string; status: number | 'error'; ms: number }): void {
    this.kubeCalls.observe(
      { cluster: r.cluster, verb: r.verb, resource: r.resource, code: String(r.status) },
      r.ms / 1000,
    );
  }
}
