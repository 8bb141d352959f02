import type { RequestKind } from '../../generated/prisma/client.js';
import type { RequestOptions } from '../onboarding.input.js';
import { ApiServerAccessRemovalStep } from './api-server-access-removal.step.js';
import { ApiServerAccessStep } from './api-server-access.step.js';
import { AppProtocolStep } from './app-protocol.step.js';
import { MeshStep } from './mesh.step.js';
import { MetricsStep } from './metrics.step.js';
import { NamespaceRemovalStep } from './namespace-removal.step.js';
import { NamespaceStep } from './namespace.step.js';
import { PolicyCleanupStep } from './policy-cleanup.step.js';
import { PrerequisitesStep } from './prerequisites.step.js';
import { RestartStep } from './restart.step.js';
import { TrafficPolicyStep } from './traffic-policy.step.js';
import type { OnboardingStep, StepName } from './step.js';
import { VerifyStep } from './verify.step.js';

// Every StepName has exactly one handler (the type makes a missing one a compile error).
const STEPS: Record<StepName, OnboardingStep> = {
  prerequisites: new PrerequisitesStep(),
  mesh: new MeshStep(),
  'api-server-access': new ApiServerAccessStep(),
  'traffic-policy': new TrafficPolicyStep(),
  namespace: new NamespaceStep(),
  metrics: new MetricsStep(),
  'app-protocol': new AppProtocolStep(),
  restart: new RestartStep(),
  verify: new VerifyStep(),
  'namespace-removal': new NamespaceRemovalStep(),
  'policy-cleanup': new PolicyCleanupStep(),
  'api-server-access-removal': new ApiServerAccessRemovalStep(),
};

/**
 * The ordered steps of a request, chosen from its options; stored as step runs when the
 * request is created, so a plan, the progress stream and the audit trail all show them.
 */
export function plannedSteps(kind: RequestKind, o: RequestOptions): StepName[] {
  const restart = o.restart.mode !== 'none';
  const steps: (StepName | false)[] =
    kind === 'ONBOARD'
      ? [
          o.prerequisites.enabled && 'prerequisites',
          'mesh',
          o.apiServerAccess !== null && 'api-server-access',
          o.trafficPolicy !== null && 'traffic-policy',
          'namespace',
          o.metrics && 'metrics',
          o.appProtocols.length > 0 && 'app-protocol',
          restart && 'restart',
          'verify',
        ]
      : [
          'namespace-removal',
          o.deleteOwnedPolicies && 'policy-cleanup',
          o.removeApiServerExclusion && 'api-server-access-removal',
          restart && 'restart',
          restart && 'verify',
        ];
  return steps.filter((s): s is StepName => s !== false);
}

export function stepByName(name: string): OnboardingStep {
  const step = (STEPS as Record<string, OnboardingStep | undefined>)[name];
  if (!step) throw new Error(`no handler for step "${name}"`);
  return step;
}
