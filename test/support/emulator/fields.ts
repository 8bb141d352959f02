// Field selectors the apiserver supports per kind (the fields.Set each registry exposes).

import type { ResourceType } from './resources.js';
import { isObject, type KubeObject } from './types.js';

const POD_FIELDS = [
  'spec.nodeName',
  'spec.restartPolicy',
  'spec.schedulerName',
  'spec.serviceAccountName',
  'spec.hostNetwork',
  'status.phase',
  'status.podIP',
  'status.nominatedNodeName',
];
const EVENT_FIELDS = [
  'involvedObject.kind',
  'involvedObject.namespace',
  'involvedObject.name',
  'involvedObject.uid',
  'involvedObject.apiVersion',
  'involvedObject.resourceVersion',
  'involvedObject.fieldPath',
  'reason',
  'reportingComponent',
  'source',
  'type',
];

function extraFields(rt: ResourceType): string[] {
  switch (`${rt.group}/${rt.plural}`) {
    case '/pods':
      return POD_FIELDS;
    case '/namespaces':
      // NamespaceToSelectableFields keeps the legacy `name` "for backward compatibility".
      return ['status.phase', 'name'];
    case '/secrets':
      return ['type'];
    case '/events':
      return EVENT_FIELDS;
    case '/nodes':
      return ['spec.unschedulable'];
    case '/services':
      return ['spec.clusterIP', 'spec.type'];
    case 'apps/replicasets':
      return ['status.replicas'];
    default:
      return [];
  }
}

/** generic.ObjectMetaFieldsSet: `metadata.namespace` only for namespaced kinds, then the kind's own fields. */
export function supportedFields(rt: ResourceType): Set<string> {
  return new Set(['metadata.name', ...(rt.namespaced ? ['metadata.namespace'] : []), ...extraFields(rt)]);
}

function readField(obj: KubeObject, path: string): string {
  let current: unknown = obj;
  for (const part of path.split('.')) current = isObject(current) ? current[part] : undefined;
  if (current === undefined || current === null)
    return path === 'spec.hostNetwork' || path === 'spec.unschedulable' ? 'false' : '';
  if (path === 'source' && isObject(current)) return String(current.component ?? '');
  return String(current);
}

export function fieldsOf(rt: ResourceType, obj: KubeObject): Record<string, string> {
  const out: Record<string, string> = {
    'metadata.name': obj.metadata.name ?? '',
    'metadata.namespace': obj.metadata.namespace ?? '',
  };
  for (const field of extraFields(rt))
    out[field] = field === 'name' ? (obj.metadata.name ?? '') : readField(obj, field);
  return out;
}
