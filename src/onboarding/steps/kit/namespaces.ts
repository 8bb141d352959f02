// Reading the namespace a request names; a missing namespace is the request's fault (NAMESPACE_NOT_FOUND), and one
// being deleted cannot join the mesh (NAMESPACE_TERMINATING); and the precondition a patch of what was read carries.
import type { V1Namespace } from '@kubernetes/client-node';
import { DomainError } from '../../../common/domain-error.js';
import type { ClusterClient } from '../../../kubernetes/cluster-client.js';
import { KubeError } from '../../../kubernetes/kube-error.js';
import { isTerminating, namespaceTerminating } from '../../../mesh/namespace-rules.js';

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

/**
 * A planned merge or strategic merge patch of the namespace, with the resourceVersion the plan read (`before`) in its
 * `metadata`: kube-apiserver applies the patch, then refuses the result with 409 Conflict if the namespace's
 * resourceVersion is no longer that one, and the runner re-plans on it. Added when the step runs, not in the plan, so
 * a stored plan's changes stay what they change (the drift check compares them) and show no resourceVersion.
 */
export function preconditioned<T extends { metadata?: object }>(body: T, before: unknown): T {
  const rv = (before as { resourceVersion?: unknown } | undefined)?.resourceVersion;
  return typeof rv === 'string' && rv !== '' ? { ...body, metadata: { ...body.metadata, resourceVersion: rv } } : body;
}

/**
 * For a step that found nothing in the namespace (a list in a namespace that does not exist answers empty, as
 * kube-apiserver does): the namespace still exists and, for an onboarding, is not being deleted. A retried request
 * whose namespace step is done runs only the steps after it, which would otherwise succeed on a namespace deleted
 * meanwhile (an outside audit). One GET, only then.
 */
export async function assertNamespaceLive(
  kube: ClusterClient,
  request: { kind: 'ONBOARD' | 'OFFBOARD'; namespace: string },
): Promise<void> {
  const ns = await readNamespace(kube, request.namespace);
  if (request.kind === 'ONBOARD' && isTerminating(ns)) throw namespaceTerminating(request.namespace);
}
