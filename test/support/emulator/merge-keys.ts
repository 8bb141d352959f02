// patchStrategy / patchMergeKey struct tags of the k8s.io/api types the emulator serves.
// Only fields with merge semantics are listed; every other list is replaced by a strategic merge patch.

import type { SmpField, SmpSchema } from './patch.js';

const schema = (fields: Record<string, SmpField>): SmpSchema => ({ fields });
const byName = (of?: () => SmpSchema): SmpField => ({ strategy: 'merge', mergeKey: 'name', schema: of });
const nested = (of: () => SmpSchema): SmpField => ({ schema: of });

const conditions: SmpField = { strategy: 'merge', mergeKey: 'type' };

export const objectMetaSchema: SmpSchema = schema({
  finalizers: { strategy: 'merge' },
  ownerReferences: { strategy: 'merge', mergeKey: 'uid' },
});

const containerSchema: SmpSchema = schema({
  ports: { strategy: 'merge', mergeKey: 'containerPort' },
  env: byName(),
  volumeMounts: { strategy: 'merge', mergeKey: 'mountPath' },
  volumeDevices: { strategy: 'merge', mergeKey: 'devicePath' },
  resizePolicy: { strategy: 'merge', mergeKey: 'resourceName' },
});

export const podSpecSchema: SmpSchema = schema({
  volumes: { strategy: 'merge,retainKeys', mergeKey: 'name' },
  initContainers: byName(() => containerSchema),
  containers: byName(() => containerSchema),
  ephemeralContainers: byName(() => containerSchema),
  imagePullSecrets: byName(),
  hostAliases: { strategy: 'merge', mergeKey: 'ip' },
  topologySpreadConstraints: { strategy: 'merge', mergeKey: 'topologyKey' },
  resourceClaims: { strategy: 'merge,retainKeys', mergeKey: 'name' },
  schedulingGates: byName(),
});

const podTemplateSchema: SmpSchema = schema({
  metadata: nested(() => objectMetaSchema),
  spec: nested(() => podSpecSchema),
});

const podStatusSchema: SmpSchema = schema({
  conditions,
  podIPs: { strategy: 'merge', mergeKey: 'ip' },
  hostIPs: { strategy: 'merge', mergeKey: 'ip' },
});

export const podSchema: SmpSchema = schema({
  metadata: nested(() => objectMetaSchema),
  spec: nested(() => podSpecSchema),
  status: nested(() => podStatusSchema),
});

const workloadStatusSchema: SmpSchema = schema({ conditions });

function workloadSchema(extraSpec: Record<string, SmpField> = {}): SmpSchema {
  return schema({
    metadata: nested(() => objectMetaSchema),
    spec: nested(() =>
      schema({
        template: nested(() => podTemplateSchema),
        strategy: { strategy: 'retainKeys' },
        ...extraSpec,
      }),
    ),
    status: nested(() => workloadStatusSchema),
  });
}

export const deploymentSchema = workloadSchema();
export const replicaSetSchema = workloadSchema();
export const statefulSetSchema = workloadSchema();
export const daemonSetSchema = workloadSchema();

export const serviceSchema: SmpSchema = schema({
  metadata: nested(() => objectMetaSchema),
  spec: nested(() => schema({ ports: { strategy: 'merge', mergeKey: 'port' } })),
  status: nested(() => schema({ conditions })),
});

export const namespaceSchema: SmpSchema = schema({
  metadata: nested(() => objectMetaSchema),
  status: nested(() => schema({ conditions })),
});

export const serviceAccountSchema: SmpSchema = schema({
  metadata: nested(() => objectMetaSchema),
  secrets: byName(),
});

export const nodeSchema: SmpSchema = schema({
  metadata: nested(() => objectMetaSchema),
  status: nested(() => schema({ conditions, addresses: { strategy: 'merge', mergeKey: 'type' } })),
});

export const genericSchema: SmpSchema = schema({ metadata: nested(() => objectMetaSchema) });
