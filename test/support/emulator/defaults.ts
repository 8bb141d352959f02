// Defaulting of built-in kinds (pkg/apis/*/v1/defaults.go), applied on every create and update,
// so objects read back look like the ones a real apiserver returns.

import type { ResourceType } from './resources.js';
import { asArray, isObject, type KubeObject } from './types.js';

type Obj = Record<string, unknown>;

function setDefault(target: Obj, key: string, value: unknown): void {
  if (target[key] === undefined || target[key] === null) target[key] = value;
}

function objectAt(parent: Obj, key: string): Obj {
  const existing = parent[key];
  if (isObject(existing)) return existing;
  const created: Obj = {};
  parent[key] = created;
  return created;
}

/** `:latest` or an untagged image is always pulled; anything pinned is pulled if not present. */
export function defaultPullPolicy(image: unknown): string {
  if (typeof image !== 'string') return 'IfNotPresent';
  if (image.includes('@')) return 'IfNotPresent';
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  if (colon < 0) return 'Always';
  return lastSegment.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultContainer(container: Obj): void {
  setDefault(container, 'imagePullPolicy', defaultPullPolicy(container.image));
  setDefault(container, 'terminationMessagePath', '/dev/termination-log');
  setDefault(container, 'terminationMessagePolicy', 'File');
  setDefault(container, 'resources', {});
  for (const port of asArray(container.ports)) if (isObject(port)) setDefault(port, 'protocol', 'TCP');
  for (const env of asArray(container.env)) {
    if (!isObject(env) || !isObject(env.valueFrom)) continue;
    const fieldRef = env.valueFrom.fieldRef;
    if (isObject(fieldRef)) setDefault(fieldRef, 'apiVersion', 'v1');
  }
}

export function defaultPodSpec(spec: Obj): void {
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'securityContext', {});
  setDefault(spec, 'schedulerName', 'default-scheduler');
  setDefault(spec, 'enableServiceLinks', true);
  for (const c of [...asArray(spec.containers), ...asArray(spec.initContainers)]) if (isObject(c)) defaultContainer(c);
  for (const volume of asArray(spec.volumes)) {
    if (!isObject(volume)) continue;
    if (isObject(volume.secret)) setDefault(volume.secret, 'defaultMode', 420);
    if (isObject(volume.configMap)) setDefault(volume.configMap, 'defaultMode', 420);
  }
}

function defaultTemplate(spec: Obj): void {
  const template = objectAt(spec, 'template');
  defaultPodSpec(objectAt(template, 'spec'));
}

function defaultDeployment(obj: KubeObject): void {
  const spec = objectAt(obj, 'spec');
  setDefault(spec, 'replicas', 1);
  setDefault(spec, 'revisionHistoryLimit', 10);
  setDefault(spec, 'progressDeadlineSeconds', 600);
  const strategy = objectAt(spec, 'strategy');
  setDefault(strategy, 'type', 'RollingUpdate');
  if (strategy.type === 'RollingUpdate') {
    const rolling = objectAt(strategy, 'rollingUpdate');
    setDefault(rolling, 'maxUnavailable', '25%');
    setDefault(rolling, 'maxSurge', '25%');
  }
  defaultTemplate(spec);
}

function defaultStatefulSet(obj: KubeObject): void {
  const spec = objectAt(obj, 'spec');
  setDefault(spec, 'replicas', 1);
  setDefault(spec, 'podManagementPolicy', 'OrderedReady');
  setDefault(spec, 'revisionHistoryLimit', 10);
  const strategy = objectAt(spec, 'updateStrategy');
  setDefault(strategy, 'type', 'RollingUpdate');
  if (strategy.type === 'RollingUpdate') setDefault(objectAt(strategy, 'rollingUpdate'), 'partition', 0);
  setDefault(spec, 'persistentVolumeClaimRetentionPolicy', { whenDeleted: 'Retain', whenScaled: 'Retain' });
  defaultTemplate(spec);
}

function defaultDaemonSet(obj: KubeObject): void {
  const spec = objectAt(obj, 'spec');
  setDefault(spec, 'revisionHistoryLimit', 10);
  const strategy = objectAt(spec, 'updateStrategy');
  setDefault(strategy, 'type', 'RollingUpdate');
  if (strategy.type === 'RollingUpdate') {
    const rolling = objectAt(strategy, 'rollingUpdate');
    setDefault(rolling, 'maxUnavailable', 1);
    setDefault(rolling, 'maxSurge', 0);
  }
  defaultTemplate(spec);
}

function defaultService(obj: KubeObject): void {
  const spec = objectAt(obj, 'spec');
  setDefault(spec, 'type', 'ClusterIP');
  setDefault(spec, 'sessionAffinity', 'None');
  if (spec.type !== 'ExternalName') {
    setDefault(spec, 'internalTrafficPolicy', 'Cluster');
    setDefault(spec, 'ipFamilyPolicy', 'SingleStack');
    setDefault(spec, 'ipFamilies', ['IPv4']);
  }
  for (const port of asArray(spec.ports)) {
    if (!isObject(port)) continue;
    setDefault(port, 'protocol', 'TCP');
    setDefault(port, 'targetPort', port.port);
  }
  setDefault(obj, 'status', { loadBalancer: {} });
}

function defaultSecret(obj: KubeObject): void {
  setDefault(obj, 'type', 'Opaque');
  // stringData is write-only: it is folded into data, as the apiserver does on every write.
  if (isObject(obj.stringData)) {
    const data = objectAt(obj, 'data');
    for (const [k, v] of Object.entries(obj.stringData)) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
    delete obj.stringData;
  }
}

/** Applies the version-defaulting of built-in kinds in place. */
export function applyBuiltinDefaults(rt: ResourceType, obj: KubeObject): void {
  if (rt.custom) return;
  switch (`${rt.group}/${rt.plural}`) {
    case '/pods':
      defaultPodSpec(objectAt(obj, 'spec'));
      break;
    case 'apps/deployments':
      defaultDeployment(obj);
      break;
    case 'apps/replicasets':
      setDefault(objectAt(obj, 'spec'), 'replicas', 1);
      defaultTemplate(objectAt(obj, 'spec'));
      break;
    case 'apps/statefulsets':
      defaultStatefulSet(obj);
      break;
    case 'apps/daemonsets':
      defaultDaemonSet(obj);
      break;
    case '/services':
      defaultService(obj);
      break;
    case '/secrets':
      defaultSecret(obj);
      break;
    case '/namespaces': {
      const name = obj.metadata.name;
      if (name) obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': name };
      break;
    }
    default:
      break;
  }
}
