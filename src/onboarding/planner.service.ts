import { Inject, Injectable } from '@nestjs/common';
import pLimit from 'p-limit';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { ClusterGateway } from '../kubernetes/cluster-gateway.js';
import { KubeError } from '../kubernetes/kube-error.js';
import { MeshDiscoveryService } from '../kubernetes/mesh-discovery.service.js';
import { PLAN_LISTED_KINDS } from '../kubernetes/cluster-client.js';
import { PREFETCH_MIN_TARGETS, ReadShare } from '../kubernetes/read-share.js';
import type { NormalizedRequest } from './request-validator.js';
import type { Change, Diagnostic, StepContext } from './steps/step.js';
import { plannedSteps, stepByName } from './steps/step-registry.js';
import { classify } from './step-failure.js';

export interface PlannedStep {
  name: string;
  title: string;
  /** The exact writes the step would send now (object, patch type, body). */
  changes: Change[];
  summary: string;
  before: unknown;
  diagnostics: Diagnostic[];
  facts: Record<string, unknown>;
  /** Set when the step would refuse (a precondition) or could not read the cluster. */
  error: { code: string; message: string; hint?: string } | null;
}

export interface OnboardingPlan {
  kind: 'ONBOARD' | 'OFFBOARD';
  cluster: string;
  namespace: string;
  meshName: string;
  options: unknown;
  steps: PlannedStep[];
  diagnostics: Diagnostic[];
  /** True when a step would refuse: applying now would fail. */
  blocked: boolean;
}

/**
 * Dry-run: every step's `plan` in order, against the live cluster, writing nothing. Later
 * steps plan for the state the request wants (e.g. restart assumes the namespace is
 * labelled), so the plan lists every write the apply would make if nothing changes between.
 */
export interface PlanOptions {
  requestId?: string;
  createdAt?: Date;
  reads?: ReadShare;
}

@Injectable()
export class PlannerService {
  /**
   * Plans computed at once (PLAN_CONCURRENCY); the others wait in order. A plan holds its namespace's lists while it
   * runs (a namespace of 2,000 pods: tens of MB), so plans of large namespaces sent together would otherwise take
   * the process past its heap limit.
   */
  private readonly turn: ReturnType<typeof pLimit>;

  constructor(
    private readonly gateway: ClusterGateway,
    private readonly mesh: MeshDiscoveryService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.turn = pLimit(config.planConcurrency);
  }

  /**
   * `reads`: GET answers shared with other plans (a batch's, sharedReads); a plan's steps share theirs in any case
   * (the namespace, its Deployments and pods are read by more than one step).
   */
  plan(req: NormalizedRequest, options: PlanOptions = {}): Promise<OnboardingPlan> {
    return this.turn(() => this.planNow(req, options));
  }

  private async planNow(
    req: NormalizedRequest,
    { requestId = 'plan', createdAt = new Date(), reads = new ReadShare() }: PlanOptions,
  ): Promise<OnboardingPlan> {
    const ctx: StepContext = {
      request: {
        id: requestId,
        createdAt,
        kind: req.kind,
        cluster: req.cluster,
        namespace: req.namespace,
        meshName: req.meshName,
        options: req.options,
      },
      kube: this.gateway.client(req.cluster).sharingReads(reads),
      mesh: this.mesh,
      earlier: [],
      tuning: this.config.tuning,
      dryRun: true,
    };
    const steps: PlannedStep[] = [];
    for (const name of plannedSteps(req.kind, req.options)) {
      const step = stepByName(name);
      let changes: Change['target'][] = [];
      try {
        const p = await step.plan(ctx);
        changes = p.changes.map((c) => c.target);
        steps.push({
          name,
          title: step.title,
          changes: p.changes,
          summary: p.summary,
          before: p.before ?? null,
          diagnostics: p.diagnostics ?? [],
          facts: p.facts ?? {},
          error: null,
        });
      } catch (err) {
        if (!(err instanceof DomainError) && !(err instanceof KubeError)) throw err;
        // A Kubernetes failure under the code (and hint) the worker's step would fail with.
        const failure = classify(err);
        const code = failure.code;
        const diagnostics = (err instanceof DomainError && (err.options.details?.diagnostics as Diagnostic[])) || [];
        steps.push({
          name,
          title: step.title,
          changes: [],
          summary: err.message,
          before: null,
          diagnostics,
          facts: {},
          error: { code, message: err.message, hint: failure.hint },
        });
      }
      // Later steps plan as if this one had made its planned writes (a restart after a MeshConfig change).
      ctx.earlier.push({ name, result: null, finishedAt: null, changes });
    }
    return {
      kind: req.kind,
      cluster: req.cluster,
      namespace: req.namespace,
      meshName: req.meshName,
      options: req.options,
      steps,
      diagnostics: steps.flatMap((s) => s.diagnostics),
      blocked: steps.some((s) => s.error !== null),
    };
  }

  /**
   * Reads for a batch's plans: in a cluster with PREFETCH_MIN_TARGETS targets or more, the kinds a plan lists in its
   * namespace, and the namespaces themselves, are listed cluster-wide a page at a time and cut per namespace
   * (ReadShare.prefetch), when that takes fewer calls than a list per namespace. 500 targets take about 10 calls
   * instead of 3,500, and plan against one moment of the cluster.
   */
  async sharedReads(targets: readonly Pick<NormalizedRequest, 'cluster' | 'namespace'>[]): Promise<ReadShare> {
    const reads = new ReadShare();
    const byCluster = new Map<string, string[]>();
    for (const t of targets) {
      const namespaces = byCluster.get(t.cluster) ?? [];
      namespaces.push(t.namespace);
      byCluster.set(t.cluster, namespaces);
    }
    const fetches = [];
    for (const [cluster, namespaces] of byCluster) {
      if (namespaces.length < PREFETCH_MIN_TARGETS) continue;
      const client = this.gateway.client(cluster);
      fetches.push(reads.prefetchNamespaces(client, namespaces));
      for (const kind of PLAN_LISTED_KINDS) fetches.push(reads.prefetch(client, kind, namespaces));
    }
    await Promise.all(fetches);
    return reads;
  }
}
