// The step contract: what a step gets (StepContext), what it returns (StepPlan, StepOutcome), and applyStep,
// which ties plan and execute together so every apply re-observes and writes only the drift, and runPreflights.
import type { V1Deployment } from '@kubernetes/client-node';
import { DomainError } from '../../common/domain-error.js';
import type { ClusterClient } from '../../kubernetes/cluster-client.js';
import type { MeshDiscoveryService } from '../../kubernetes/mesh-discovery.service.js';
import type { Change, Diagnostic } from '../../mesh/change.js';
import type { RequestOptions } from '../onboarding.input.js';

export type { Change, Diagnostic } from '../../mesh/change.js';

export type StepName =
  | 'prerequisites'
  | 'mesh'
  | 'api-server-access'
  | 'traffic-policy'
  | 'namespace'
  | 'metrics'
  | 'app-protocol'
  | 'restart'
  | 'verify'
  | 'namespace-removal'
  | 'policy-cleanup'
  | 'api-server-access-removal';

export interface StepPlan {
  /** Empty when the cluster already is in the desired state. */
  changes: Change[];
  summary: string;
  /** The relevant part of each object before the change, for audit and reversal. */
  before?: unknown;
  diagnostics?: Diagnostic[];
  facts?: Record<string, unknown>;
  /**
   * What `execute` still has to wait for although the plan writes nothing (e.g. the rollouts an earlier attempt of a
   * retried restart step started): applyStep runs `execute` for it, and the result stays UNCHANGED.
   */
  pending?: string;
}

export interface StepOutcome extends StepPlan {
  result: 'CHANGED' | 'UNCHANGED';
  after?: unknown;
}

export interface StepRequest {
  id: string;
  createdAt: Date;
  kind: 'ONBOARD' | 'OFFBOARD';
  cluster: string;
  namespace: string;
  meshName: string;
  options: RequestOptions;
}

/** What earlier steps of the same request did (a restart waits after a fresh label: docs/osm-edge.md#injector-race). */
export interface EarlierStep {
  name: StepName;
  result: 'CHANGED' | 'UNCHANGED' | null;
  finishedAt: Date | null;
  /** The objects it wrote (in a plan: would write); a restart re-injects pods after a MeshConfig change. */
  changes?: Change['target'][];
}

export interface StepTuning {
  /** Pause between labelling a namespace and restarting its pods: the injector's informer lags. */
  restartSettleMs: number;
  /** How often verify and a bounded rollout poll the cluster. */
  pollMs: number;
  /** Upper bound for one batch of restarted Deployments to roll out. */
  rolloutTimeoutMs: number;
}

/**
 * Objects a step of this run read (or watched) moments ago, which a later step of the same run uses instead of
 * reading them again: restart leaves the namespace's Deployments (the rolled-out ones as last watched) for
 * verify's first look. Each entry is taken once; a resumed request (another process) starts without them.
 */
export interface SeenObjects {
  deployments?: V1Deployment[];
}

export interface StepContext {
  request: StepRequest;
  kube: ClusterClient;
  mesh: MeshDiscoveryService;
  earlier: EarlierStep[];
  tuning: StepTuning;
  /** Absent in contexts built by hand (tests, tools): every step then reads what it needs. */
  seen?: SeenObjects;
  /** A plan/dry-run: read only, never wait. */
  dryRun?: boolean;
}

/**
 * A step is a reconciler: `plan` only reads the cluster and says what it would write;
 * `execute` writes exactly that plan. `applyStep` ties them together, so every apply
 * re-observes first and writes only the drift.
 */
export interface OnboardingStep {
  readonly name: StepName;
  readonly title: string;
  plan(ctx: StepContext): Promise<StepPlan>;
  execute(ctx: StepContext, plan: StepPlan): Promise<{ after?: unknown }>;
  /**
   * Read-only: throws what this step's plan would refuse whatever the steps before it write (an SMI object that is
   * not ours, a namespace another mesh monitors, a Service or Deployment the request names that is missing). The
   * runner calls it for the steps still to come before a request's first write (runPreflights), so that a refusal
   * found late does not leave the cluster half changed: the MeshConfig's exclusion list written, the namespace not.
   * Absent: the step refuses nothing that depends on the cluster, or only before its own first write.
   */
  preflight?(ctx: StepContext): Promise<void>;
}

/**
 * Before a request's first write: each later step's preflight, in order. A refusal is thrown as the later step's
 * own code, its message naming that step, so the step about to write fails instead and nothing is written.
 */
export async function runPreflights(later: OnboardingStep[], ctx: StepContext): Promise<void> {
  for (const step of later) {
    if (!step.preflight) continue;
    try {
      await step.preflight(ctx);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      throw new DomainError(err.code, `${step.title}, checked before the first write: ${err.message}`, err.options);
    }
  }
}

export interface ApplyHooks {
  /** Sees every fresh plan (the runner compares it with a stored dry-run plan). */
  planned?: (plan: StepPlan) => Promise<void>;
  /** Runs ahead of the first write (the runner records the intent with the before-image). */
  beforeWrite?: (plan: StepPlan) => Promise<void>;
}

/**
 * Observe → diff → act. Running it twice leaves the same state and reports "UNCHANGED"
 * the second time.
 */
export async function applyStep(step: OnboardingStep, ctx: StepContext, hooks: ApplyHooks = {}): Promise<StepOutcome> {
  const plan = await step.plan(ctx);
  await hooks.planned?.(plan);
  if (plan.changes.length === 0) {
    if (!plan.pending) return { ...plan, result: 'UNCHANGED' };
    const { after } = await step.execute(ctx, plan);
    return { ...plan, result: 'UNCHANGED', after };
  }
  await hooks.beforeWrite?.(plan);
  const { after } = await step.execute(ctx, plan);
  return { ...plan, result: 'CHANGED', after };
}
