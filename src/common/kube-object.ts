// The shape of a Kubernetes object and of a patch, as plain data: shared by the cluster gateway
// (kubernetes/) and the pure osm-edge rules (mesh/), so neither imports the other for a type.
import type { V1ObjectMeta } from '@kubernetes/client-node';

export type PatchType = 'merge' | 'strategic' | 'json';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}
