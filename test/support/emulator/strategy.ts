// Per-kind "REST strategy" rules (pkg/registry/*/strategy.go): what create resets, what counts as a
// spec change, how allocated values survive updates, and the scale subresource view.

import { unknownError } from './errors.js';
import type { ResourceType } from './resources.js';
import { asArray, asRecord, clone, isObject, jsonEqual, nowTimestamp, stringMap, type KubeObject } from './types.js';

export function prepareForCreate(rt: ResourceType, obj: KubeObject): void {
  switch (`${rt.group}/${rt.plural}`) {
    case '/namespaces': {
      const spec = asRecord(obj.spec);
      const finalizers = asArray(spec.finalizers).map(String);
      if (!finalizers.includes('kubernetes')) finalizers.push('kubernetes');
      obj.spec = { ...spec, finalizers };
      obj.status = { phase: 'Active' };
      return;
    }
    case '/pods':
      obj.status = { phase: 'Pending', qosClass: qosClass(obj) };
      return;
    case '/services':
      obj.status = { loadBalancer: {} };
      return;
    case 'apps/deployments':
      obj.status = {};
      return;
    case 'apps/replicasets':
      obj.status = { replicas: 0 };
      return;
    case 'apps/statefulsets':
      obj.status = { replicas: 0, availableReplicas: 0 };
      return;
    case 'apps/daemonsets':
      obj.status = { currentNumberScheduled: 0, desiredNumberScheduled: 0, numberMisscheduled: 0, numberReady: 0 };
      return;
    case '/nodes':
      return; // nodes may carry their status on create (kubelet registration)
    default:
      if (rt.hasStatusSubresource) delete obj.status;
  }
}

/** v1qos.GetPodQOS, reduced to cpu/memory requests and limits. */
export function qosClass(pod: KubeObject): string {
  const containers = [...asArray(asRecord(pod.spec).containers), ...asArray(asRecord(pod.spec).initContainers)].filter(
    isObject,
  );
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const resources = asRecord(c.resources);
    const requests = stringMap(resources.requests);
    const limits = stringMap(resources.limits);
    if (Object.keys(requests).length || Object.keys(limits).length) any = true;
    for (const res of ['cpu', 'memory']) {
      if (limits[res] === undefined || (requests[res] !== undefined && requests[res] !== limits[res]))
        guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

export function preserveAllocatedValues(next: KubeObject, current: KubeObject): void {
  const spec = asRecord(next.spec);
  const old = asRecord(current.spec);
  if ((spec.clusterIP === undefined || spec.clusterIP === '') && old.clusterIP !== undefined)
    spec.clusterIP = old.clusterIP;
  if (spec.clusterIPs === undefined && old.clusterIPs !== undefined) spec.clusterIPs = clone(old.clusterIPs);
  next.spec = spec;
}

export function nextClusterIp(used: Set<unknown>): string {
  // 10.96.0.0/12, skipping the .0 network address and the apiserver's 10.96.0.1.
  for (let n = 10; n < 1 << 20; n++) {
    const ip = `10.${96 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
    if (!used.has(ip)) return ip;
  }
  throw unknownError('range is full');
}

export function specChanged(rt: ResourceType, before: KubeObject, after: KubeObject, subresource = ''): boolean {
  // pkg/registry/apps/deployment/strategy.go: annotation changes bump a Deployment's generation too, because the
  // controller copies them to its ReplicaSets; not through the status subresource (the deployment controller
  // writes its revision annotation there).
  if (
    !subresource &&
    rt.group === 'apps' &&
    rt.plural === 'deployments' &&
    !jsonEqual(before.metadata.annotations, after.metadata.annotations)
  )
    return true;
  if (!rt.custom) return !jsonEqual(before.spec, after.spec);
  const strip = (o: KubeObject): Record<string, unknown> => {
    const copy: Record<string, unknown> = { ...o };
    delete copy.metadata;
    delete copy.apiVersion;
    delete copy.kind;
    if (rt.hasStatusSubresource) delete copy.status;
    return copy;
  };
  return !jsonEqual(strip(before), strip(after));
}

export function sameIgnoringVersion(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject): KubeObject => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return jsonEqual(strip(a), strip(b));
}

export function shouldDeleteDuringUpdate(obj: KubeObject): boolean {
  const meta = obj.metadata;
  return !!meta.deletionTimestamp && (meta.finalizers ?? []).length === 0 && meta.deletionGracePeriodSeconds === 0;
}

export function completeCrd(crd: KubeObject): void {
  const spec = asRecord(crd.spec);
  const names = asRecord(spec.names);
  if (typeof names.kind === 'string') {
    names.singular ??= names.kind.toLowerCase();
    names.listKind ??= `${names.kind}List`;
  }
  spec.conversion ??= { strategy: 'None' };
  const storage = asArray(spec.versions).find((v) => isObject(v) && v.storage === true);
  const now = nowTimestamp();
  crd.status = {
    acceptedNames: clone(names),
    conditions: [
      {
        type: 'NamesAccepted',
        status: 'True',
        lastTransitionTime: now,
        reason: 'NoConflicts',
        message: 'no conflicts found',
      },
      {
        type: 'Established',
        status: 'True',
        lastTransitionTime: now,
        reason: 'InitialNamesAccepted',
        message: 'the initial names have been accepted',
      },
    ],
    storedVersions: isObject(storage) ? [String(storage.name)] : [],
  };
}

/** autoscaling/v1 Scale for the scale subresource. */
export function scaleOf(obj: KubeObject): KubeObject {
  const spec = asRecord(obj.spec);
  const status = asRecord(obj.status);
  const selector = asRecord(spec.selector);
  const selectorString = Object.entries(stringMap(selector.matchLabels))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
      creationTimestamp: obj.metadata.creationTimestamp,
    },
    spec: { replicas: typeof spec.replicas === 'number' ? spec.replicas : 1 },
    status: { replicas: typeof status.replicas === 'number' ? status.replicas : 0, selector: selectorString },
  };
}
