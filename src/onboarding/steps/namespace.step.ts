import type { V1Namespace } from '@kubernetes/client-node';
import { DomainError } from '../../common/domain-error.js';
import { KubeError } from '../../kubernetes/kube-error.js';
import type { ClusterClient } from '../../kubernetes/cluster-client.js';
import { CONTROL_PLANE_LABEL, IGNORE_LABEL, MONITORED_BY_LABEL, SIDECAR_INJECTION_ANNOTATION } from '../../mesh/osm.js';
import { assertNotReserved } from './mesh.step.js';
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

/**
 * What `osm namespace add` and osm-edge's webhooks refuse or skip, checked on a namespace that was read
 * (here right before the write, and by the API when the request is made: request-validator.ts).
 * - `openservicemesh.io/ignore`: the CLI refuses only "true"; the webhooks skip the namespace whenever the key exists.
 * - `control-plane` (any value), or `name` = the control plane's namespace: the injector's MutatingWebhookConfiguration
 *   selects namespaces with `control-plane DoesNotExist` and `name NotIn [<osm namespace>]`
 *   (osm-edge v1.3.9 pkg/injector/webhook.go, createOrUpdateMutatingWebhook), so its pods would never get a sidecar.
 * - another mesh's `openservicemesh.io/monitored-by`: the CLI takes it over silently; we refuse.
 */
export function assertOnboardable(
  ns: V1Namespace,
  request: { namespace: string; meshName: string },
  controlPlaneNamespace?: string,
): void {
  const labels = ns.metadata?.labels ?? {};
  if (IGNORE_LABEL in labels) {
    const message = `Cannot add ignored namespace [${request.namespace}] (label ${IGNORE_LABEL})`;
    throw new DomainError('NAMESPACE_IGNORED', message, {
      field: 'namespace',
      hint: `remove the ${IGNORE_LABEL} label first if the namespace should join the mesh`,
    });
  }
  const skipped =
    CONTROL_PLANE_LABEL in labels
      ? `it carries the label ${CONTROL_PLANE_LABEL}`
      : controlPlaneNamespace !== undefined && labels.name === controlPlaneNamespace
        ? `it carries the label name=${controlPlaneNamespace} (the control plane's namespace)`
        : null;
  if (skipped) {
    throw new DomainError(
      'NAMESPACE_NOT_INJECTABLE',
      `osm-edge's sidecar injector skips namespace [${request.namespace}]: ${skipped}; ` +
        'its pods would never get a sidecar',
      {
        field: 'namespace',
        hint:
          `the injector webhook selects only namespaces without a "${CONTROL_PLANE_LABEL}" label and not labelled ` +
          `name=<osm namespace>; remove the label (kubectl label namespace ${request.namespace} ` +
          `${CONTROL_PLANE_LABEL in labels ? CONTROL_PLANE_LABEL : 'name'}-) or onboard another namespace`,
      },
    );
  }
  const owner = labels[MONITORED_BY_LABEL];
  if (owner !== undefined && owner !== request.meshName) {
    throw new DomainError(
      'NAMESPACE_OWNED_BY_OTHER_MESH',
      `Namespace [${request.namespace}] belongs to mesh [${owner}], not mesh [${request.meshName}]`,
      { field: 'namespace', hint: `offboard it from mesh ${owner} first` },
    );
  }
}

export async function readNamespace(kube: ClusterClient, name: string): Promise<V1Namespace> {
  try {
    return await kube.getNamespace(name);
  } catch (err) {
    if (err instanceof KubeError && err.reason === 'NOT_FOUND') {
      throw new DomainError('NAMESPACE_NOT_FOUND', `namespace ${name} does not exist`, { field: 'namespace' });
    }
    throw err;
  }
}

export function namespaceImage(ns: V1Namespace) {
  const labels = ns.metadata?.labels ?? {};
  const annotations = ns.metadata?.annotations ?? {};
  return {
    labels: { [MONITORED_BY_LABEL]: labels[MONITORED_BY_LABEL] ?? null },
    annotations: { [SIDECAR_INJECTION_ANNOTATION]: annotations[SIDECAR_INJECTION_ANNOTATION] ?? null },
    resourceVersion: ns.metadata?.resourceVersion,
  };
}
