import { assertNotReserved, assertOnboardable, namespaceImage } from '../../mesh/namespace-rules.js';
import { MONITORED_BY_LABEL, SIDECAR_INJECTION_ANNOTATION } from '../../mesh/osm.js';
import { readNamespace } from './kit/namespaces.js';
import type { Change, OnboardingStep, StepContext, StepPlan } from './step.js';

/**
 * Guide step 4, `osm namespace add <ns> --mesh-name <mesh> [--disable-sidecar-injection]`:
 * the same strategic merge patch as the CLI. Unlike the CLI, a namespace monitored by
 * another mesh is refused instead of silently taken over, and a differing injection
 * annotation is corrected instead of skipped.
 */
export class NamespaceStep implements OnboardingStep {
  readonly name = 'namespace' as const;
  readonly title = 'Add the namespace to the mesh';

  async plan({ request, kube, mesh }: StepContext): Promise<StepPlan> {
    assertNotReserved(request.namespace);
    const ns = await readNamespace(kube, request.namespace);
    const annotations = ns.metadata?.annotations ?? {};
    // Only a namespace labelled `name` needs the control plane's namespace (usually cached by the mesh step).
    const controlPlane =
      ns.metadata?.labels?.name === undefined
        ? undefined
        : (await mesh.discover(request.cluster, request.meshName)).controlPlaneNamespace;
    assertOnboardable(ns, request, controlPlane);
    const owner = ns.metadata?.labels?.[MONITORED_BY_LABEL];
    const injection = request.options.sidecarInjection;
    const before = {
      labels: { [MONITORED_BY_LABEL]: owner ?? null },
      annotations: { [SIDECAR_INJECTION_ANNOTATION]: annotations[SIDECAR_INJECTION_ANNOTATION] ?? null },
      resourceVersion: ns.metadata?.resourceVersion,
    };
    if (owner === request.meshName && annotations[SIDECAR_INJECTION_ANNOTATION] === injection) {
      return {
        changes: [],
        before,
        summary: `namespace ${request.namespace} is already in mesh ${request.meshName} (injection ${injection})`,
      };
    }
    const change: Change = {
      action: 'patch',
      target: { apiVersion: 'v1', kind: 'Namespace', name: request.namespace },
      patchType: 'strategic',
      body: {
        metadata: {
          labels: { [MONITORED_BY_LABEL]: request.meshName },
          annotations: { [SIDECAR_INJECTION_ANNOTATION]: injection },
        },
      },
    };
    return {
      changes: [change],
      before,
      summary:
        owner === request.meshName
          ? `set sidecar injection of ${request.namespace} to ${injection}`
          : `add namespace ${request.namespace} to mesh ${request.meshName} (injection ${injection})`,
    };
  }

  async execute({ kube, request }: StepContext, plan: StepPlan): Promise<{ after: unknown }> {
    const ns = await kube.patchNamespace(request.namespace, plan.changes[0].body as object, 'strategic');
    return { after: namespaceImage(ns) };
  }
}
