import type { RequestKind } from '../../generated/prisma/client.js';
import type { RequestOptions } from '../onboarding.input.js';
import { AppProtocolStep } from './app-protocol.step.js';
import { MeshStep } from './mesh.step.js';
import { MetricsStep } from './metrics.step.js';
import { NamespaceRemovalStep } from './namespace-removal.step.js';
import { NamespaceStep } from './namespace.step.js';
import { PrerequisitesStep } from './prerequisites.step.js';
import { RestartStep } from './restart.step.js';
import type { OnboardingStep, StepName } from './step.js';
import { VerifyStep } from './verify.step.js';

const STEPS: Partial<Record<StepName, OnboardingStep>> = {
  prerequisites: new PrerequisitesStep(),
  mesh: new MeshStep(),
  namespace: new NamespaceStep(),
  metrics: new MetricsStep(),
  'app-protocol': new AppProtocolStep(),
  restart: new RestartStep(),
  verify: new VerifyStep(),
  'namespace-removal': new NamespaceRemovalStep(),
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
  return steps.filter((s): s is StepName => s !== false).filter((s) => STEPS[s] !== undefined);
}

export function stepByName(name: string): OnboardingStep {
  const step = STEPS[name as StepName];
  if (!step) throw new Error(`no handler for step "${name}"`);
  return step;
}
