// The admission chain: built-in plugins of kube-apiserver that clients can observe
// (NamespaceLifecycle, ServiceAccount, Priority, DefaultTolerationSeconds), then webhooks.

import { forbidden, notFound } from './errors.js';
import { groupResource, type ResourceType } from './resources.js';
import type { ObjectStore } from './store.js';
import { asArray, asRecord, isObject, randomSuffix, type KubeObject } from './types.js';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE';

export interface AdmissionRequest {
  operation: Operation;
  rt: ResourceType;
  version: string;
  namespace: string;
  /** May be empty when the client used generateName. */
  name: string;
  subresource: string;
  /** The incoming object; mutating plugins change it in place. */
  object?: KubeObject;
  oldObject?: KubeObject;
  dryRun: boolean;
}

export interface AdmissionPlugin {
  name: string;
  mutate?(req: AdmissionRequest): void;
  validate?(req: AdmissionRequest): void;
}

export class AdmissionChain {
  private readonly plugins: AdmissionPlugin[] = [];

  add(plugin: AdmissionPlugin): void {
    this.plugins.push(plugin);
  }

  mutate(req: AdmissionRequest): void {
    for (const plugin of this.plugins) plugin.mutate?.(req);
  }

  validate(req: AdmissionRequest): void {
    for (const plugin of this.plugins) plugin.validate?.(req);
  }
}

const IMMORTAL_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

function displayName(req: AdmissionRequest): string {
  return req.name || req.object?.metadata.generateName || '';
}

export function namespaceLifecyclePlugin(store: ObjectStore): AdmissionPlugin {
  return {
    name: 'NamespaceLifecycle',
    mutate(req) {
      if (req.rt.group === '' && req.rt.plural === 'namespaces') {
        if (req.operation === 'DELETE' && IMMORTAL_NAMESPACES.has(req.name))
          throw forbidden(groupResource(req.rt), req.name, 'this namespace may not be deleted');
        return;
      }
      if (!req.rt.namespaced || req.operation !== 'CREATE' || req.subresource) return;
      const ns = store.peek('/namespaces', '', req.namespace);
      if (!ns) throw notFound({ group: '', resource: 'namespaces' }, req.namespace);
      if (asRecord(ns.status).phase === 'Terminating') {
        // plugin/pkg/admission/namespace/lifecycle: Forbidden, with a NamespaceTerminating cause clients look for.
        const err = forbidden(
          groupResource(req.rt),
          displayName(req),
          `unable to create new content in namespace ${req.namespace} because it is being terminated`,
        );
        const details = (err.status.details ??= {});
        (details.causes ??= []).push({
          reason: 'NamespaceTerminating',
          message: `namespace ${req.namespace} is being terminated`,
          field: 'metadata.namespace',
        });
        throw err;
      }
    },
  };
}

const TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

function isPodCreate(req: AdmissionRequest): boolean {
  return (
    req.operation === 'CREATE' && !req.subresource && req.rt.group === '' && req.rt.plural === 'pods' && !!req.object
  );
}

/** ServiceAccount admission: defaults the account, requires it to exist, mounts the API token. */
export function serviceAccountPlugin(store: ObjectStore): AdmissionPlugin {
  return {
    name: 'ServiceAccount',
    mutate(req) {
      if (!isPodCreate(req) || !req.object) return;
      const pod = req.object;
      const spec = isObject(pod.spec) ? pod.spec : (pod.spec = {});
      const accountName =
        typeof spec.serviceAccountName === 'string' && spec.serviceAccountName ? spec.serviceAccountName : 'default';
      spec.serviceAccountName = accountName;
      spec.serviceAccount = accountName;
      const account = store.peek('/serviceaccounts', req.namespace, accountName);
      if (!account)
        throw forbidden(
          groupResource(req.rt),
          displayName(req),
          `error looking up service account ${req.namespace}/${accountName}: serviceaccount "${accountName}" not found`,
        );
      const automount =
        spec.automountServiceAccountToken ?? (account as Record<string, unknown>).automountServiceAccountToken;
      if (automount === false) return;
      const containers = [...asArray(spec.initContainers), ...asArray(spec.containers)].filter(isObject);
      if (containers.some((c) => asArray(c.volumeMounts).some((m) => isObject(m) && m.mountPath === TOKEN_MOUNT_PATH)))
        return;
      const volumeName = `kube-api-access-${randomSuffix(5)}`;
      spec.volumes = [
        ...asArray(spec.volumes),
        {
          name: volumeName,
          projected: {
            defaultMode: 420,
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              {
                downwardAPI: {
                  items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
                },
              },
            ],
          },
        },
      ];
      for (const c of containers) {
        c.volumeMounts = [
          ...asArray(c.volumeMounts),
          { name: volumeName, readOnly: true, mountPath: TOKEN_MOUNT_PATH },
        ];
      }
    },
  };
}

const SYSTEM_PRIORITIES: Record<string, number> = {
  'system-node-critical': 2000001000,
  'system-cluster-critical': 2000000000,
};

/** Priority and DefaultTolerationSeconds: fields every pod on a stock cluster carries. */
export function podDefaultsPlugin(): AdmissionPlugin {
  return {
    name: 'Priority,DefaultTolerationSeconds',
    mutate(req) {
      if (!isPodCreate(req) || !req.object) return;
      const spec = req.object.spec as Record<string, unknown>;
      if (spec.priority === undefined) spec.priority = SYSTEM_PRIORITIES[String(spec.priorityClassName ?? '')] ?? 0;
      if (spec.preemptionPolicy === undefined) spec.preemptionPolicy = 'PreemptLowerPriority';
      const tolerations = asArray(spec.tolerations).filter(isObject);
      for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
        if (tolerations.some((t) => t.key === key || (t.operator === 'Exists' && t.key === undefined))) continue;
        tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
      }
      spec.tolerations = tolerations;
    },
  };
}
