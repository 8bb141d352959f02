// Reading the namespace a request names; a missing namespace is the request's fault (NAMESPACE_NOT_FOUND).
import type { V1Namespace } from '@kubernetes/client-node';
import { DomainError } from '../../../common/domain-error.js';
import type { ClusterClient } from '../../../kubernetes/cluster-client.js';
import { KubeError } from '../../../kubernetes/kube-error.js';

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
