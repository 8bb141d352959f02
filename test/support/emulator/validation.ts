// Object validation with the field paths and messages of pkg/apis/*/validation and apimachinery.
// Covers the rules a client is likely to trip over; it is not the complete upstream rule set.

import { fieldErr, formatValue, type FieldError } from './errors.js';
import type { NameRule, ResourceType } from './resources.js';
import { validateSchema, type JSONSchemaProps } from './schema.js';
import { labelSelectorFromObject, labelValueErrors, qualifiedNameErrors, SelectorParseError } from './selectors.js';
import { asArray, asRecord, isObject, jsonEqual, stringMap, type KubeObject } from './types.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

const MSG_DNS1123_LABEL =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end " +
  "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is " +
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const MSG_DNS1035_LABEL =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, " +
  "and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is " +
  "'[a-z]([-a-z0-9]*[a-z0-9])?')";
const MSG_DNS1123_SUBDOMAIN =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start " +
  "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is " +
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

export function nameErrors(rule: NameRule, name: string): string[] {
  const errs: string[] = [];
  switch (rule) {
    case 'dns1123-label':
      if (name.length > 63) errs.push('must be no more than 63 characters');
      if (!DNS1123_LABEL.test(name)) errs.push(MSG_DNS1123_LABEL);
      break;
    case 'dns1035-label':
      if (name.length > 63) errs.push('must be no more than 63 characters');
      if (!DNS1035_LABEL.test(name)) errs.push(MSG_DNS1035_LABEL);
      break;
    case 'dns1123-subdomain':
      if (name.length > 253) errs.push('must be no more than 253 characters');
      if (!DNS1123_SUBDOMAIN.test(name)) errs.push(MSG_DNS1123_SUBDOMAIN);
      break;
    case 'path-segment':
      if (name === '.' || name === '..') errs.push(`may not be '${name}'`);
      if (/[/%]/.test(name)) errs.push(`may not contain '/' or '%'`);
      break;
  }
  return errs;
}

function validateLabels(labels: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const [key, value] of Object.entries(asRecord(labels))) {
    for (const msg of qualifiedNameErrors(key)) errs.push(fieldErr.invalid(path, key, msg));
    if (typeof value !== 'string') {
      errs.push(fieldErr.invalid(path, value, 'label values must be strings'));
      continue;
    }
    for (const msg of labelValueErrors(value)) errs.push(fieldErr.invalid(path, value, msg));
  }
  return errs;
}

function validateAnnotations(annotations: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let total = 0;
  for (const [key, value] of Object.entries(asRecord(annotations))) {
    for (const msg of qualifiedNameErrors(key.toLowerCase())) errs.push(fieldErr.invalid(path, key, msg));
    // Go's len(): bytes of the UTF-8 encoding.
    total += Buffer.byteLength(key, 'utf8') + (typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : 0);
  }
  if (total > 256 * 1024) errs.push(fieldErr.tooLong(path, 256 * 1024));
  return errs;
}

const STANDARD_FINALIZERS = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

/** ValidateFinalizers: qualified names; built-in kinds also refuse an unqualified name that is not a standard one. */
function validateFinalizers(rt: ResourceType, finalizers: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const list = asArray(finalizers).filter((f): f is string => typeof f === 'string');
  for (const f of list) {
    for (const msg of qualifiedNameErrors(f)) errs.push(fieldErr.invalid(path, f, msg));
    if (!rt.custom && !f.includes('/') && !STANDARD_FINALIZERS.has(f))
      errs.push(fieldErr.invalid(path, f, 'name is neither a standard finalizer name nor is it fully qualified'));
  }
  if (list.includes('orphan') && list.includes('foregroundDeletion'))
    errs.push(
      fieldErr.invalidRaw(path, goStringSlice(list), 'finalizer orphan and foregroundDeletion cannot be both set'),
    );
  return errs;
}

/** Go's %#v of a []string. */
export function goStringSlice(values: readonly string[]): string {
  return `[]string{${values.map((v) => JSON.stringify(v)).join(', ')}}`;
}

/** ValidateNoNewFinalizers: an object being deleted may lose finalizers but not gain any. */
export function validateNoNewFinalizers(before: KubeObject, after: KubeObject): FieldError[] {
  if (!before.metadata.deletionTimestamp) return [];
  const old = new Set(before.metadata.finalizers ?? []);
  const extra = [...new Set((after.metadata.finalizers ?? []).filter((f) => !old.has(f)))].sort();
  if (extra.length === 0) return [];
  return [
    fieldErr.forbidden(
      'metadata.finalizers',
      `no new finalizers can be added if the object is being deleted, found new finalizers ${goStringSlice(extra)}`,
    ),
  ];
}

export function validateObjectMeta(rt: ResourceType, obj: KubeObject, isCreate: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const meta = obj.metadata;
  if (isCreate) {
    if (!meta.name && !meta.generateName)
      errs.push(fieldErr.required('metadata.name', 'name or generateName is required'));
    if (meta.name)
      for (const msg of nameErrors(rt.nameRule, meta.name))
        errs.push(fieldErr.invalid('metadata.name', meta.name, msg));
  }
  if (rt.namespaced && !meta.namespace) errs.push(fieldErr.required('metadata.namespace', ''));
  errs.push(...validateLabels(meta.labels, 'metadata.labels'));
  errs.push(...validateAnnotations(meta.annotations, 'metadata.annotations'));
  errs.push(...validateFinalizers(rt, meta.finalizers, 'metadata.finalizers'));
  return errs;
}

function portInRange(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

function validateContainers(
  list: unknown,
  path: string,
  names: Set<string>,
  volumes: Set<string>,
  required: boolean,
): FieldError[] {
  const errs: FieldError[] = [];
  const containers = asArray(list);
  if (required && containers.length === 0) errs.push(fieldErr.required(path, ''));
  containers.forEach((raw, i) => {
    const c = asRecord(raw);
    const at = `${path}[${i}]`;
    if (typeof c.name !== 'string' || c.name === '') errs.push(fieldErr.required(`${at}.name`, ''));
    else {
      for (const msg of nameErrors('dns1123-label', c.name)) errs.push(fieldErr.invalid(`${at}.name`, c.name, msg));
      if (names.has(c.name)) errs.push(fieldErr.duplicate(`${at}.name`, c.name));
      names.add(c.name);
    }
    if (typeof c.image !== 'string' || c.image.trim() === '') errs.push(fieldErr.required(`${at}.image`, ''));
    asArray(c.ports).forEach((p, j) => {
      const port = asRecord(p);
      if (!portInRange(port.containerPort))
        errs.push(
          fieldErr.invalid(
            `${at}.ports[${j}].containerPort`,
            port.containerPort ?? 0,
            'must be between 1 and 65535, inclusive',
          ),
        );
    });
    asArray(c.volumeMounts).forEach((m, j) => {
      const mount = asRecord(m);
      if (typeof mount.name === 'string' && !volumes.has(mount.name))
        errs.push(fieldErr.notFound(`${at}.volumeMounts[${j}].name`, mount.name));
      if (typeof mount.mountPath !== 'string' || mount.mountPath === '')
        errs.push(fieldErr.required(`${at}.volumeMounts[${j}].mountPath`, ''));
    });
  });
  return errs;
}

export function validatePodSpec(
  specRaw: unknown,
  path: string,
  restartPolicies = ['Always', 'OnFailure', 'Never'],
): FieldError[] {
  const spec = asRecord(specRaw);
  const errs: FieldError[] = [];
  const volumes = new Set<string>();
  asArray(spec.volumes).forEach((v, i) => {
    const name = asRecord(v).name;
    if (typeof name !== 'string' || name === '') errs.push(fieldErr.required(`${path}.volumes[${i}].name`, ''));
    else if (volumes.has(name)) errs.push(fieldErr.duplicate(`${path}.volumes[${i}].name`, name));
    else volumes.add(name);
  });
  const names = new Set<string>();
  errs.push(...validateContainers(spec.initContainers, `${path}.initContainers`, names, volumes, false));
  errs.push(...validateContainers(spec.containers, `${path}.containers`, names, volumes, true));
  if (spec.restartPolicy !== undefined && !restartPolicies.includes(String(spec.restartPolicy)))
    errs.push(fieldErr.notSupported(`${path}.restartPolicy`, spec.restartPolicy, restartPolicies));
  if (typeof spec.serviceAccountName === 'string' && spec.serviceAccountName !== '')
    for (const msg of nameErrors('dns1123-subdomain', spec.serviceAccountName))
      errs.push(fieldErr.invalid(`${path}.serviceAccountName`, spec.serviceAccountName, msg));
  return errs;
}

function goLabelSelector(selector: unknown): string {
  const sel = asRecord(selector);
  const labels = Object.entries(stringMap(sel.matchLabels))
    .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
    .join(', ');
  return (
    `v1.LabelSelector{MatchLabels:map[string]string{${labels}}, ` +
    `MatchExpressions:[]v1.LabelSelectorRequirement(nil)}`
  );
}

function goStringMap(map: Record<string, string>): string {
  const entries = Object.keys(map)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${JSON.stringify(map[k])}`);
  return `map[string]string{${entries.join(', ')}}`;
}

function validateWorkload(rt: ResourceType, obj: KubeObject, old: KubeObject | undefined): FieldError[] {
  const spec = asRecord(obj.spec);
  const errs: FieldError[] = [];
  if (spec.replicas !== undefined && (typeof spec.replicas !== 'number' || spec.replicas < 0))
    errs.push(fieldErr.invalid('spec.replicas', spec.replicas, 'must be greater than or equal to 0'));
  const template = asRecord(spec.template);
  const templateLabels = stringMap(asRecord(template.metadata).labels);
  if (!isObject(spec.selector)) {
    errs.push(fieldErr.required('spec.selector', ''));
  } else {
    const sel = spec.selector;
    const empty = Object.keys(asRecord(sel.matchLabels)).length === 0 && asArray(sel.matchExpressions).length === 0;
    if (empty)
      errs.push(
        fieldErr.invalidRaw('spec.selector', goLabelSelector(sel), `empty selector is invalid for ${rt.singular}`),
      );
    else {
      try {
        if (!labelSelectorFromObject(sel).matches(templateLabels))
          errs.push(
            fieldErr.invalidRaw(
              'spec.template.metadata.labels',
              goStringMap(templateLabels),
              '`selector` does not match template `labels`',
            ),
          );
      } catch (err) {
        if (err instanceof SelectorParseError)
          errs.push(fieldErr.invalidRaw('spec.selector', goLabelSelector(sel), err.message));
        else throw err;
      }
    }
    if (old && !jsonEqual(asRecord(old.spec).selector, sel))
      errs.push(fieldErr.invalidRaw('spec.selector', goLabelSelector(sel), 'field is immutable'));
  }
  errs.push(...validateLabels(asRecord(template.metadata).labels, 'spec.template.metadata.labels'));
  errs.push(...validatePodSpec(template.spec, 'spec.template.spec', ['Always']));
  if (rt.kind === 'Deployment') {
    const type = asRecord(spec.strategy).type;
    if (type !== undefined && type !== 'Recreate' && type !== 'RollingUpdate')
      errs.push(fieldErr.notSupported('spec.strategy.type', type, ['Recreate', 'RollingUpdate']));
  }
  if (rt.kind === 'StatefulSet' && old) {
    const allowed = [
      'replicas',
      'ordinals',
      'template',
      'updateStrategy',
      'persistentVolumeClaimRetentionPolicy',
      'minReadySeconds',
    ];
    const strip = (s: unknown): Record<string, unknown> => {
      const copy = { ...asRecord(s) };
      for (const key of allowed) delete copy[key];
      return copy;
    };
    if (!jsonEqual(strip(old.spec), strip(spec)))
      errs.push(
        fieldErr.forbidden(
          'spec',
          "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', " +
            "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ),
      );
  }
  return errs;
}

function validatePodUpdate(obj: KubeObject, old: KubeObject): FieldError[] {
  // Only images, activeDeadlineSeconds, tolerations and terminationGracePeriodSeconds may change.
  const normalize = (spec: unknown): Record<string, unknown> => {
    const copy = structuredClone(asRecord(spec));
    for (const key of ['containers', 'initContainers']) {
      copy[key] = asArray(copy[key]).map((c) => ({ ...asRecord(c), image: undefined }));
    }
    delete copy.activeDeadlineSeconds;
    delete copy.tolerations;
    delete copy.terminationGracePeriodSeconds;
    return JSON.parse(JSON.stringify(copy)) as Record<string, unknown>;
  };
  if (jsonEqual(normalize(obj.spec), normalize(old.spec))) return [];
  return [
    fieldErr.forbidden(
      'spec',
      'pod updates may not change fields other than ' +
        '`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` ' +
        '(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 ' +
        'if it was previously negative)',
    ),
  ];
}

function validateService(obj: KubeObject, old: KubeObject | undefined): FieldError[] {
  const spec = asRecord(obj.spec);
  const errs: FieldError[] = [];
  const types = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
  if (spec.type !== undefined && !types.includes(String(spec.type)))
    errs.push(fieldErr.notSupported('spec.type', spec.type, types));
  const ports = asArray(spec.ports);
  if (spec.type !== 'ExternalName' && ports.length === 0 && spec.clusterIP !== 'None')
    errs.push(fieldErr.required('spec.ports', ''));
  const names = new Set<string>();
  ports.forEach((raw, i) => {
    const port = asRecord(raw);
    const at = `spec.ports[${i}]`;
    if (ports.length > 1 && (typeof port.name !== 'string' || port.name === ''))
      errs.push(fieldErr.required(`${at}.name`, ''));
    if (typeof port.name === 'string' && port.name !== '') {
      for (const msg of nameErrors('dns1123-label', port.name))
        errs.push(fieldErr.invalid(`${at}.name`, port.name, msg));
      if (names.has(port.name)) errs.push(fieldErr.duplicate(`${at}.name`, port.name));
      names.add(port.name);
    }
    if (!portInRange(port.port))
      errs.push(fieldErr.invalid(`${at}.port`, port.port ?? 0, 'must be between 1 and 65535, inclusive'));
    if (port.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(String(port.protocol)))
      errs.push(fieldErr.notSupported(`${at}.protocol`, port.protocol, ['SCTP', 'TCP', 'UDP']));
    if (typeof port.targetPort === 'number' && !portInRange(port.targetPort))
      errs.push(fieldErr.invalid(`${at}.targetPort`, port.targetPort, 'must be between 1 and 65535, inclusive'));
    if (port.appProtocol !== undefined && port.appProtocol !== null) {
      for (const msg of qualifiedNameErrors(String(port.appProtocol)))
        errs.push(fieldErr.invalid(`${at}.appProtocol`, port.appProtocol, msg));
    }
  });
  errs.push(...validateLabels(spec.selector, 'spec.selector'));
  if (old) {
    const before = asRecord(old.spec).clusterIP;
    if (before !== undefined && spec.clusterIP !== before)
      errs.push(
        fieldErr.invalidRaw('spec.clusterIPs[0]', formatValue(spec.clusterIP ?? ''), 'may not change once set'),
      );
  }
  return errs;
}

function validateDataKeys(obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  for (const field of ['data', 'binaryData']) {
    for (const key of Object.keys(asRecord(obj[field]))) {
      if (!CONFIG_KEY.test(key))
        errs.push(
          fieldErr.invalid(
            `${field}[${key}]`,
            key,
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or " +
              "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
          ),
        );
    }
  }
  return errs;
}

function validateCrd(obj: KubeObject): FieldError[] {
  const spec = asRecord(obj.spec);
  const names = asRecord(spec.names);
  const errs: FieldError[] = [];
  const group = typeof spec.group === 'string' ? spec.group : '';
  if (!group) errs.push(fieldErr.required('spec.group', ''));
  else if (!group.includes('.'))
    errs.push(fieldErr.invalid('spec.group', group, 'should be a domain with at least one dot'));
  if (typeof names.plural !== 'string' || !names.plural) errs.push(fieldErr.required('spec.names.plural', ''));
  if (typeof names.kind !== 'string' || !names.kind) errs.push(fieldErr.required('spec.names.kind', ''));
  if (typeof names.plural === 'string' && group && obj.metadata.name !== `${names.plural}.${group}`)
    errs.push(fieldErr.invalid('metadata.name', obj.metadata.name, 'must be spec.names.plural+"."+spec.group'));
  const versions = asArray(spec.versions).filter(isObject);
  if (versions.length === 0) errs.push(fieldErr.required('spec.versions', ''));
  else if (versions.filter((v) => v.storage === true).length !== 1)
    errs.push(
      fieldErr.invalidRaw(
        'spec.versions',
        '[]apiextensions.CustomResourceDefinitionVersion{...}',
        'must have exactly one version marked as storage version',
      ),
    );
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster')
    errs.push(fieldErr.notSupported('spec.scope', spec.scope ?? '', ['Cluster', 'Namespaced']));
  return errs;
}

const bodySchemas = new WeakMap<JSONSchemaProps, JSONSchemaProps>();

/** The version's schema without apiVersion, kind and metadata (ObjectMeta is validated on its own). */
function bodySchema(schema: JSONSchemaProps): JSONSchemaProps {
  let out = bodySchemas.get(schema);
  if (!out) {
    const properties = { ...(schema.properties ?? {}) };
    delete properties.metadata;
    delete properties.apiVersion;
    delete properties.kind;
    out = { ...schema, properties };
    bodySchemas.set(schema, out);
  }
  return out;
}

/**
 * Validation of a custom resource against the version's openAPIV3Schema. Of metadata, the schema
 * may only constrain `name` and `generateName` (apiextensions refuses anything else in a CRD).
 */
export function validateCustomResource(rt: ResourceType, version: string, obj: KubeObject): FieldError[] {
  const schema = rt.crd?.schemas.get(version);
  if (!schema) return [];
  const body: Record<string, unknown> = { ...obj };
  delete body.metadata;
  delete body.apiVersion;
  delete body.kind;
  const errs = validateSchema(body, bodySchema(schema), '');
  const meta = schema.properties?.metadata?.properties ?? {};
  for (const key of ['name', 'generateName'] as const) {
    const value = obj.metadata[key];
    if (meta[key] && value !== undefined) errs.push(...validateSchema(value, meta[key], `metadata.${key}`));
  }
  return errs;
}

/** Kind-specific validation of a built-in object; `old` is set for updates. */
export function validateBuiltin(rt: ResourceType, obj: KubeObject, old?: KubeObject): FieldError[] {
  switch (`${rt.group}/${rt.plural}`) {
    case '/pods':
      return [...validatePodSpec(obj.spec, 'spec'), ...(old ? validatePodUpdate(obj, old) : [])];
    case 'apps/deployments':
    case 'apps/replicasets':
    case 'apps/statefulsets':
    case 'apps/daemonsets':
      return validateWorkload(rt, obj, old);
    case '/services':
      return validateService(obj, old);
    case '/configmaps':
    case '/secrets':
      return validateDataKeys(obj);
    case 'apiextensions.k8s.io/customresourcedefinitions':
      return validateCrd(obj);
    default:
      return [];
  }
}
