// osm-edge's rules for a namespace joining or leaving a mesh, checked on a namespace (and mesh) that was read:
// by the steps right before a write, and by the API when a request is made (onboarding/request-validator.ts).
import type { V1Namespace } from '@kubernetes/client-node';
import { DomainError } from '../common/domain-error.js';
import type { MeshInfo } from './mesh-info.js';
import {
  CONTROL_PLANE_LABEL,
  IGNORE_LABEL,
  MONITORED_BY_LABEL,
  RESERVED_NAMESPACES,
  SIDECAR_INJECTION_ANNOTATION,
} from './osm.js';

/**
 * Every label assertOnboardable and assertOffboardable read: all the API's namespace informer keeps of a
 * namespace's labels (onboarding/namespace-informer.ts). A check that reads another label adds it here.
 */
export const CHECKED_NAMESPACE_LABELS: readonly string[] = [
  IGNORE_LABEL,
  CONTROL_PLANE_LABEL,
  'name',
  MONITORED_BY_LABEL,
];

/** Being deleted: Kubernetes set its deletionTimestamp, and its phase is Terminating until its content is gone. */
export const isTerminating = (ns: V1Namespace) =>
  ns.metadata?.deletionTimestamp !== undefined || ns.status?.phase === 'Terminating';

export function assertNotReserved(namespace: string): void {
  if ((RESERVED_NAMESPACES as readonly string[]).includes(namespace)) {
    throw new DomainError(
      'NAMESPACE_RESERVED',
      `namespace ${namespace} is reserved by Kubernetes and is never part of a mesh`,
      {
        field: 'namespace',
      },
    );
  }
}

export function assertNotControlPlane(info: MeshInfo, namespace: string): void {
  if (namespace === info.controlPlaneNamespace && !info.controlPlaneNamespaces.includes(namespace)) {
    // The mesh's own namespace without a running osm-controller: the injector never injects there either
    // (nonInjectNamespaces in pkg/injector/webhook.go).
    throw new DomainError(
      'NAMESPACE_IS_CONTROL_PLANE',
      `Namespace [${namespace}] is the control plane namespace of mesh [${info.meshName}]; ` +
        'osm-edge never injects sidecars there',
      { field: 'namespace' },
    );
  }
  if (info.controlPlaneNamespaces.includes(namespace)) {
    throw new DomainError(
      'NAMESPACE_IS_CONTROL_PLANE',
      `Namespace [${namespace}] already has [osm-controller] installed and cannot be added to mesh [${info.meshName}]`,
      { field: 'namespace' },
    );
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
 * - a namespace being deleted (Terminating): the CLI labels it; we refuse, since no pod can start there again (a
 *   restart's new pods and any policy created in it are refused: 403 NamespaceTerminating).
 */
/** NAMESPACE_TERMINATING: the namespace is being deleted, so nothing in it can join the mesh. */
export function namespaceTerminating(namespace: string): DomainError {
  return new DomainError(
    'NAMESPACE_TERMINATING',
    `namespace ${namespace} is being deleted (Terminating): nothing in it can join the mesh`,
    {
      field: 'namespace',
      hint: 'wait until it is gone and create it again, or remove what holds its deletion (finalizers)',
    },
  );
}

export function assertOnboardable(
  ns: V1Namespace,
  request: { namespace: string; meshName: string },
  controlPlaneNamespace?: string,
): void {
  if (isTerminating(ns)) throw namespaceTerminating(request.namespace);
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

/** `osm namespace remove`'s refusal: the namespace belongs to another mesh (also checked by the API up front). */
export function assertOffboardable(ns: V1Namespace, request: { meshName: string }): void {
  const owner = ns.metadata?.labels?.[MONITORED_BY_LABEL];
  if (owner !== undefined && owner !== request.meshName) {
    throw new DomainError(
      'NAMESPACE_OWNED_BY_OTHER_MESH',
      `Namespace belongs to mesh [${owner}], not mesh [${request.meshName}]. Please specify the correct mesh`,
      { field: 'meshName' },
    );
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
