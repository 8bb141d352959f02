import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { selectorMatches } from '../../../kubernetes/label-selector.js';
import { expectsSidecar, isInjectedPod } from '../../../mesh/osm.js';
import type { StepRequest } from '../step.js';

// Shared by restart and verify: which Deployments a request targets and whether their pods
// look the way the request wants (sidecar in after onboarding, out after offboarding).

/** The namespace's injection setting once this request has done its namespace step. */
export function desiredInjection(request: StepRequest): 'enabled' | 'disabled' | null {
  return request.kind === 'ONBOARD' ? request.options.sidecarInjection : null;
}

export function podsOf(deployment: V1Deployment, pods: V1Pod[]): V1Pod[] {
  return pods.filter(
    (p) =>
      !p.metadata?.deletionTimestamp &&
      p.status?.phase !== 'Succeeded' &&
      p.status?.phase !== 'Failed' &&
      selectorMatches(deployment.spec?.selector, p.metadata?.labels),
  );
}

/** Pods whose sidecar state differs from what the request wants for their Deployment. */
export function mismatchedPods(deployment: V1Deployment, pods: V1Pod[], request: StepRequest): V1Pod[] {
  const want = expectsSidecar(deployment.spec?.template ?? {}, desiredInjection(request));
  return podsOf(deployment, pods).filter((p) => isInjectedPod(p) !== want);
}
