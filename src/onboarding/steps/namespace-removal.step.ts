import { IGNORE_LABEL, METRICS_ANNOTATION, MONITORED_BY_LABEL, SIDECAR_INJECTION_ANNOTATION } from '../../mesh/osm.js';
import { assertOffboardable, namespaceImage } from '../../mesh/namespace-rules.js';
import { preconditioned, readNamespace } from './kit/namespaces.js';
import type { Change, OnboardingStep, StepContext, StepPlan } from './step.js';

/**
 * `osm namespace remove <ns> --mesh-name <mesh>`: removes the same two labels and two
 * annotations as the CLI, with the namespace's resourceVersion as the patch's precondition (the CLI has none).
 * Existing sidecars stay until the pods are recreated.
 */
export class NamespaceRemovalStep implements OnboardingStep {
  readonly name = 'namespace-removal' as const;
  readonly title = 'Remove the namespace from the mesh';

  async plan({ request, kube }: StepContext): Promise<StepPlan> {
    const ns = await readNamespace(kube, request.namespace);
    const labels = ns.metadata?.labels ?? {};
    const annotations = ns.metadata?.annotations ?? {};
    const owner = labels[MONITORED_BY_LABEL];
    const before = {
      labels: { [MONITORED_BY_LABEL]: owner ?? null, [IGNORE_LABEL]: labels[IGNORE_LABEL] ?? null },
      annotations: {
        [SIDECAR_INJECTION_ANNOTATION]: annotations[SIDECAR_INJECTION_ANNOTATION] ?? null,
        [METRICS_ANNOTATION]: annotations[METRICS_ANNOTATION] ?? null,
      },
      resourceVersion: ns.metadata?.resourceVersion,
    };
    if (owner === undefined) {
      return { changes: [], before, summary: `Namespace [${request.namespace}] already does not belong to any mesh` };
    }
    assertOffboardable(ns, request);
    const change: Change = {
      action: 'patch',
      target: { apiVersion: 'v1', kind: 'Namespace', name: request.namespace },
      patchType: 'strategic',
      body: {
        metadata: {
          labels: { [MONITORED_BY_LABEL]: null, [IGNORE_LABEL]: null },
          annotations: { [SIDECAR_INJECTION_ANNOTATION]: null, [METRICS_ANNOTATION]: null },
        },
      },
    };
    return {
      changes: [change],
      before,
      summary: `remove namespace ${request.namespace} from mesh ${request.meshName}`,
    };
  }

  async execute({ kube, request }: StepContext, plan: StepPlan): Promise<{ after: unknown }> {
    // The resourceVersion the plan read is the patch's precondition (preconditioned, kit/namespaces.ts).
    const body = preconditioned(plan.changes[0].body as { metadata?: object }, plan.before);
    const ns = await kube.patchNamespace(request.namespace, body, 'strategic');
    return { after: namespaceImage(ns) };
  }
}
