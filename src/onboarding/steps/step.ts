import type { ClusterClient, PatchType } from '../../kubernetes/cluster-client.js';
import type { MeshDiscoveryService } from '../../mesh/mesh-discovery.service.js';
import type { RequestOptions } from '../onboarding.input.js';

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

/** One Kubernetes write a step would make (plan) or made (apply), exactly as sent. */
export interface Change {
  action: 'patch' | 'create' | 'update' | 'delete';
  target: { apiVersion: string; kind: string; namespace?: string; name: string };
  patchType?: PatchType;
  body?: unknown;
}

export interface Diagnostic {
  code: string;
  level: 'error' | 'warning' | 'info';
  message: string;
  object?: string;
  hint?: string;
}

export interface StepPlan {
  /** Empty when the cluster already is in the desired state. */
  changes: Change[];
  summary: string;
  /** The relevant part of each object before the change, for audit and reversal. */
  before?: unknown;
  diagnostics?: Diagnostic[];
  facts?: Record<string, unknown>;
}

export interface StepOutcome extends StepPlan {
  result: 'CHANGED' | 'UNCHANGED';
  after?: unknown;
}

export interface StepRequest {
  id: string;
  kind: 'ONBOARD' | 'OFFBOARD';
  cluster: string;
  namespace: string;
  meshName: string;
  options: RequestOptions;
}

export interface StepContext {
  request: StepRequest;
  kube: ClusterClient;
  mesh: MeshDiscoveryService;
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
}

/**
 * Observe → diff → act. Running it twice leaves the same state and reports "UNCHANGED"
 * the second time. `beforeWrite` lets the runner record the intent (with the
 * before-image) ahead of the first write.
 */
export async function applyStep(
  step: OnboardingStep,
  ctx: StepContext,
  beforeWrite?: (plan: StepPlan) => Promise<void>,
): Promise<StepOutcome> {
  const plan = await step.plan(ctx);
  if (plan.changes.length === 0) return { ...plan, result: 'UNCHANGED' };
  await beforeWrite?.(plan);
  const { after } = await step.execute(ctx, plan);
  return { ...plan, result: 'CHANGED', after };
}
