// Owns plans (`/plan`, dry runs, a batch's plans): every step's `plan` against the live cluster, writing nothing, each
// in its turn (plan-turns.ts) and within its deadline (PLAN_TIMEOUT_MS); and the reads a batch's plans share.
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { ClusterGateway } from '../kubernetes/cluster-gateway.js';
import { CallAbandoned, KubeError } from '../kubernetes/kube-error.js';
import { MeshDiscoveryService } from '../kubernetes/mesh-discovery.service.js';
import { PLAN_LISTED_KINDS } from '../kubernetes/cluster-client.js';
import { PREFETCH_MIN_TARGETS, ReadShare } from '../kubernetes/read-share.js';
import type { NormalizedRequest } from './request-validator.js';
import type { Change, Diagnostic, StepContext } from './steps/step.js';
import { plannedSteps, stepByName } from './steps/step-registry.js';
import { classify } from './step-failure.js';
import { PlanTurns } from './plan-turns.js';

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
   * Plans computed at once (PLAN_CONCURRENCY); the others wait, fairly across clusters (plan-turns.ts). A plan holds
   * its namespace's lists while it runs (a namespace of 2,000 pods: tens of MB), so plans of large namespaces sent
   * together would otherwise take the process past its heap limit.
   */
  private readonly turns: PlanTurns;

  constructor(
    private readonly gateway: ClusterGateway,
    private readonly mesh: MeshDiscoveryService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.turns = new PlanTurns(config.planConcurrency);
  }

  /**
   * `reads`: GET answers shared with other plans (a batch's, sharedReads); a plan's steps share theirs in any case
   * (the namespace, its Deployments and pods are read by more than one step). A plan waits at most PLAN_TIMEOUT_MS
   * for its turn, then has PLAN_TIMEOUT_MS to finish; past either it is refused with CLUSTER_UNAVAILABLE (503,
   * Retry-After), its turn is freed at once and its calls are cut (ClusterClient.until): whatever they would still
   * have answered is not waited for.
   */
  async plan(req: NormalizedRequest, options: PlanOptions = {}): Promise<OnboardingPlan> {
    const ms = this.config.planTimeoutMs;
    const release = await this.turns.take(req.cluster, ms);
    if (!release) {
      throw planUnavailable(req.cluster, `no plan turn came free within ${ms} ms (other plans are slow)`);
    }
    const stop = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        stop.abort();
        reject(planUnavailable(req.cluster, `the cluster did not answer the plan's reads within ${ms} ms`));
      }, ms);
    });
    const work = this.planNow(req, options, stop.signal);
    // Past the deadline the plan's own failure (its calls cut: CallAbandoned) is no one's to hear.
    work.catch(() => undefined);
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
      release();
    }
  }

  private async planNow(
    req: NormalizedRequest,
    { requestId = 'plan', createdAt = new Date(), reads = new ReadShare() }: PlanOptions,
    signal: AbortSignal,
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
      kube: this.gateway.client(req.cluster).sharingReads(reads).until(signal),
      mesh: this.mesh,
      earlier: [],
      tuning: this.config.tuning,
      dryRun: true,
    };
    const steps: PlannedStep[] = [];
    for (const name of plannedSteps(req.kind, req.options)) {
      if (signal.aborted) throw new CallAbandoned(`plan of ${req.cluster}/${req.namespace}`);
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
    const fetches: Promise<boolean>[] = [];
    // Bounded as a plan is: a kind whose list is not read by then is read per namespace, by each plan in its turn.
    const stop = AbortSignal.timeout(this.config.planTimeoutMs);
    const unlessAbandoned = (fetch: Promise<boolean>) =>
      fetch.catch((err: unknown) => {
        if (err instanceof CallAbandoned) return false;
        throw err;
      });
    for (const [cluster, namespaces] of byCluster) {
      if (namespaces.length < PREFETCH_MIN_TARGETS) continue;
      const client = this.gateway.client(cluster).until(stop);
      fetches.push(unlessAbandoned(reads.prefetchNamespaces(client, namespaces)));
      for (const kind of PLAN_LISTED_KINDS) fetches.push(unlessAbandoned(reads.prefetch(client, kind, namespaces)));
    }
    await Promise.all(fetches);
    return reads;
  }
}

/** When a refused plan may be tried again: a cluster slow enough to miss a plan's deadline is not back in a second. */
const PLAN_RETRY_AFTER_S = 5;

/** A plan refused for time (its turn, or the cluster's answers): 503 with Retry-After, as an unreachable cluster. */
function planUnavailable(cluster: string, why: string): DomainError {
  return new DomainError('CLUSTER_UNAVAILABLE', `cluster ${cluster}: plan not made: ${why}`, {
    field: 'cluster',
    hint: 'try again later; PLAN_TIMEOUT_MS bounds a plan',
    details: { reason: 'TIMEOUT', retryAfterSeconds: PLAN_RETRY_AFTER_S },
  });
}
