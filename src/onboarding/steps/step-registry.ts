import type { RequestKind } from '../../generated/prisma/client.js';
import type { RequestOptions } from '../onboarding.input.js';
import { MeshStep } from './mesh.step.js';
import { NamespaceRemovalStep } from './namespace-removal.step.js';
import { NamespaceStep } from './namespace.step.js';
import type { OnboardingStep, StepName } from './step.js';

const STEPS: Partial<Record<StepName, OnboardingStep>> = {
  mesh: new MeshStep(),
  namespace: new NamespaceStep(),
  'namespace-removal': new NamespaceRemovalStep(),
};

/** The ordered steps of a request; stored as step runs when the request is created. */
export function plannedSteps(kind: RequestKind, _options: RequestOptions): StepName[] {
  return kind === 'ONBOARD' ? ['mesh', 'namespace'] : ['namespace-removal'];
}

export function stepByName(name: string): OnboardingStep {
  const step = STEPS[name as StepName];
  if (!step) throw new Error(`no handler for step "${name}"`);
  return step;
}
