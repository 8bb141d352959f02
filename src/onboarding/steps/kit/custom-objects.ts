// Reads and writes of custom objects (SMI policies, Egress) exactly as a plan describes them: shared by the
// api-server-access, traffic-policy and policy-cleanup steps and the drift scan.
import type { KubeObject } from '../../../common/kube-object.js';
import type { ClusterClient, CustomResourceRef } from '../../../kubernetes/cluster-client.js';
import { KubeError } from '../../../kubernetes/kube-error.js';
import type { Change } from '../../../mesh/change.js';
import { refOfKind } from '../../../mesh/ownership.js';

export async function getOptional(
  kube: ClusterClient,
  ref: CustomResourceRef,
  namespace: string,
  name: string,
): Promise<KubeObject | null> {
  try {
    return await kube.getCustom(ref, namespace, name);
  } catch (err) {
    if (err instanceof KubeError && err.reason === 'NOT_FOUND') return null;
    // kube-apiserver's answer for a resource it does not serve: confirmed by listing the namespace's objects of that
    // kind, which an API server that serves it answers (one that words an absent object that way is not misread).
    if (err instanceof KubeError && err.reason === 'NOT_SERVED' && (await served(kube, ref, namespace))) return null;
    throw err;
  }
}

async function served(kube: ClusterClient, ref: CustomResourceRef, namespace: string): Promise<boolean> {
  try {
    await kube.listCustom(ref, namespace);
    return true;
  } catch (err) {
    if (err instanceof KubeError && err.reason === 'NOT_SERVED') return false;
    throw err;
  }
}

/**
 * Writes one create/update/delete/patch of a custom object exactly as planned. A delete given the resourceVersion its
 * plan read (`read`) deletes only that version: an object changed or re-created by someone since is a 409 CONFLICT,
 * which the runner re-plans on (re-checking ownership), never someone else's object deleted.
 */
export async function writeCustomChange(
  kube: ClusterClient,
  change: Change,
  read?: { resourceVersion?: string },
): Promise<KubeObject | undefined> {
  const ref = refOfKind(change.target.kind);
  const { namespace = '', name } = change.target;
  switch (change.action) {
    case 'create':
      try {
        return await kube.createCustom(ref, namespace, change.body as KubeObject);
      } catch (err) {
        // Someone created it since we looked: re-plan, which re-checks ownership.
        if (err instanceof KubeError && err.reason === 'ALREADY_EXISTS') {
          throw new KubeError(
            'CONFLICT',
            `${change.target.kind} ${namespace}/${name} was created concurrently; re-planning`,
            409,
          );
        }
        throw err;
      }
    case 'update':
      // 409 on a stale resourceVersion → CONFLICT
      return kube.replaceCustom(ref, namespace, name, change.body as KubeObject);
    case 'delete':
      try {
        await kube.deleteCustom(ref, namespace, name, read?.resourceVersion);
      } catch (err) {
        if (!(err instanceof KubeError && err.reason === 'NOT_FOUND')) throw err; // already gone
      }
      return undefined;
    case 'patch':
      if (change.patchType === 'strategic' || !change.patchType)
        throw new Error(`custom resources take json or merge patches, not ${change.patchType}`);
      return kube.patchCustom({ ref, namespace, name, body: change.body as object, type: change.patchType });
  }
}
