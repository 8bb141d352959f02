// Resource registry: which kinds the emulator serves, under which group/version/plural, with which
// verbs and semantics. Built-in kinds are declared here; custom resources appear and disappear with
// their CustomResourceDefinition objects, exactly like on a real cluster.

import * as mk from './merge-keys.js';
import type { SmpSchema } from './patch.js';
import type { JSONSchemaProps } from './schema.js';
import { asArray, asRecord, isObject, type KubeObject } from './types.js';

export type NameRule = 'dns1123-label' | 'dns1035-label' | 'dns1123-subdomain' | 'path-segment';

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
}

export interface ResourceType {
  group: string;
  /** Served versions, preferred first. */
  versions: string[];
  storageVersion: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
  namespaced: boolean;
  verbs: string[];
  subresources: string[];
  /** Served from a CustomResourceDefinition: JSON-only patches, schema validation, CR update rules. */
  custom: boolean;
  tracksGeneration: boolean;
  /** The main endpoint ignores `status` (it belongs to the status subresource). */
  hasStatusSubresource: boolean;
  nameRule: NameRule;
  /** DELETE answers with the object (true) or with a Status Success (false). */
  returnDeletedObject: boolean;
  /** Create-only review kinds that are never stored. */
  virtual?: boolean;
  smp?: SmpSchema;
  crd?: {
    name: string;
    schemas: Map<string, JSONSchemaProps>;
    printerColumns: Map<string, PrinterColumn[]>;
  };
}

export const STANDARD_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const NAMESPACE_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

export function typeKey(rt: Pick<ResourceType, 'group' | 'plural'>): string {
  return `${rt.group}/${rt.plural}`;
}

export function groupResource(rt: Pick<ResourceType, 'group' | 'plural'>): { group: string; resource: string } {
  return { group: rt.group, resource: rt.plural };
}

export function apiVersionOf(rt: ResourceType, version = rt.storageVersion): string {
  return rt.group ? `${rt.group}/${version}` : version;
}

interface BuiltinSpec {
  group: string;
  version: string;
  kind: string;
  plural: string;
  shortNames?: string[];
  categories?: string[];
  namespaced?: boolean;
  verbs?: string[];
  subresources?: string[];
  tracksGeneration?: boolean;
  nameRule?: NameRule;
  returnDeletedObject?: boolean;
  virtual?: boolean;
  smp?: SmpSchema;
}

function builtin(spec: BuiltinSpec): ResourceType {
  const subresources = spec.subresources ?? [];
  return {
    group: spec.group,
    versions: [spec.version],
    storageVersion: spec.version,
    kind: spec.kind,
    listKind: `${spec.kind}List`,
    plural: spec.plural,
    singular: spec.kind.toLowerCase(),
    shortNames: spec.shortNames ?? [],
    categories: spec.categories ?? [],
    namespaced: spec.namespaced ?? true,
    verbs: spec.verbs ?? STANDARD_VERBS,
    subresources,
    custom: false,
    tracksGeneration: spec.tracksGeneration ?? false,
    hasStatusSubresource: subresources.includes('status'),
    nameRule: spec.nameRule ?? 'dns1123-subdomain',
    returnDeletedObject: spec.returnDeletedObject ?? false,
    virtual: spec.virtual,
    smp: spec.smp ?? mk.genericSchema,
  };
}

export function builtinResourceTypes(): ResourceType[] {
  return [
    builtin({
      group: '',
      version: 'v1',
      kind: 'Namespace',
      plural: 'namespaces',
      shortNames: ['ns'],
      namespaced: false,
      verbs: NAMESPACE_VERBS,
      subresources: ['status', 'finalize'],
      nameRule: 'dns1123-label',
      returnDeletedObject: true,
      smp: mk.namespaceSchema,
    }),
    builtin({
      group: '',
      version: 'v1',
      kind: 'Pod',
      plural: 'pods',
      shortNames: ['po'],
      categories: ['all'],
      subresources: ['status'],
      returnDeletedObject: true,
      smp: mk.podSchema,
    }),
    builtin({
      group: '',
      version: 'v1',
      kind: 'Service',
      plural: 'services',
      shortNames: ['svc'],
      categories: ['all'],
      subresources: ['status'],
      nameRule: 'dns1035-label',
      returnDeletedObject: true,
      smp: mk.serviceSchema,
    }),
    builtin({
      group: '',
      version: 'v1',
      kind: 'ServiceAccount',
      plural: 'serviceaccounts',
      shortNames: ['sa'],
      // TokenRequest (authentication.k8s.io/v1): POST only, answered by identity.ts.
      subresources: ['token'],
      returnDeletedObject: true,
      smp: mk.serviceAccountSchema,
    }),
    builtin({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', shortNames: ['cm'] }),
    builtin({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets' }),
    builtin({ group: '', version: 'v1', kind: 'Event', plural: 'events', shortNames: ['ev'] }),
    builtin({
      group: '',
      version: 'v1',
      kind: 'Node',
      plural: 'nodes',
      shortNames: ['no'],
      namespaced: false,
      subresources: ['status'],
      returnDeletedObject: true,
      smp: mk.nodeSchema,
    }),
    builtin({
      group: 'apps',
      version: 'v1',
      kind: 'Deployment',
      plural: 'deployments',
      shortNames: ['deploy'],
      categories: ['all'],
      subresources: ['status', 'scale'],
      tracksGeneration: true,
      smp: mk.deploymentSchema,
    }),
    builtin({
      group: 'apps',
      version: 'v1',
      kind: 'ReplicaSet',
      plural: 'replicasets',
      shortNames: ['rs'],
      categories: ['all'],
      subresources: ['status', 'scale'],
      tracksGeneration: true,
      smp: mk.replicaSetSchema,
    }),
    builtin({
      group: 'apps',
      version: 'v1',
      kind: 'StatefulSet',
      plural: 'statefulsets',
      shortNames: ['sts'],
      categories: ['all'],
      subresources: ['status', 'scale'],
      tracksGeneration: true,
      smp: mk.statefulSetSchema,
    }),
    builtin({
      group: 'apps',
      version: 'v1',
      kind: 'DaemonSet',
      plural: 'daemonsets',
      shortNames: ['ds'],
      categories: ['all'],
      subresources: ['status'],
      tracksGeneration: true,
      smp: mk.daemonSetSchema,
    }),
    builtin({
      group: 'apiextensions.k8s.io',
      version: 'v1',
      kind: 'CustomResourceDefinition',
      plural: 'customresourcedefinitions',
      shortNames: ['crd', 'crds'],
      categories: ['api-extensions'],
      namespaced: false,
      subresources: ['status'],
      tracksGeneration: true,
      returnDeletedObject: true,
    }),
    builtin({
      group: 'admissionregistration.k8s.io',
      version: 'v1',
      kind: 'MutatingWebhookConfiguration',
      plural: 'mutatingwebhookconfigurations',
      categories: ['api-extensions'],
      namespaced: false,
      tracksGeneration: true,
    }),
    builtin({
      group: 'admissionregistration.k8s.io',
      version: 'v1',
      kind: 'ValidatingWebhookConfiguration',
      plural: 'validatingwebhookconfigurations',
      categories: ['api-extensions'],
      namespaced: false,
      tracksGeneration: true,
    }),
    // RBAC (rbac.authorization.k8s.io/v1): names are path segments (ValidateRBACName), e.g. `system:discovery`.
    ...(
      [
        ['Role', 'roles', true],
        ['RoleBinding', 'rolebindings', true],
        ['ClusterRole', 'clusterroles', false],
        ['ClusterRoleBinding', 'clusterrolebindings', false],
      ] as const
    ).map(([kind, plural, namespaced]) =>
      builtin({
        group: 'rbac.authorization.k8s.io',
        version: 'v1',
        kind,
        plural,
        namespaced,
        nameRule: 'path-segment',
        returnDeletedObject: false,
      }),
    ),
    builtin({
      group: 'authorization.k8s.io',
      version: 'v1',
      kind: 'SelfSubjectAccessReview',
      plural: 'selfsubjectaccessreviews',
      namespaced: false,
      verbs: ['create'],
      virtual: true,
    }),
  ];
}

/** Builds the served resource from a CustomResourceDefinition object (apiextensions.k8s.io/v1). */
export function resourceTypeFromCrd(crd: KubeObject): ResourceType | undefined {
  const spec = asRecord(crd.spec);
  const names = asRecord(spec.names);
  const group = typeof spec.group === 'string' ? spec.group : '';
  const kind = typeof names.kind === 'string' ? names.kind : '';
  const plural = typeof names.plural === 'string' ? names.plural : '';
  if (!group || !kind || !plural) return undefined;
  const versions = asArray(spec.versions).filter(isObject);
  const served = versions.filter((v) => v.served === true && typeof v.name === 'string');
  if (served.length === 0) return undefined;
  const storage = versions.find((v) => v.storage === true);
  const schemas = new Map<string, JSONSchemaProps>();
  const printerColumns = new Map<string, PrinterColumn[]>();
  let statusSubresource = false;
  let scaleSubresource = false;
  for (const v of served) {
    const name = String(v.name);
    const schema = asRecord(v.schema).openAPIV3Schema;
    if (isObject(schema)) schemas.set(name, schema);
    printerColumns.set(name, asArray(v.additionalPrinterColumns).filter(isObject) as unknown as PrinterColumn[]);
    const sub = asRecord(v.subresources);
    if (isObject(sub.status)) statusSubresource = true;
    if (isObject(sub.scale)) scaleSubresource = true;
  }
  // Discovery lists served versions by kube-aware version priority; the storage version usually wins.
  const orderedVersions = served.map((v) => String(v.name)).sort(compareKubeVersions);
  return {
    group,
    versions: orderedVersions,
    storageVersion: storage && typeof storage.name === 'string' ? storage.name : orderedVersions[0],
    kind,
    listKind: typeof names.listKind === 'string' ? names.listKind : `${kind}List`,
    plural,
    singular: typeof names.singular === 'string' ? names.singular : kind.toLowerCase(),
    shortNames: asArray(names.shortNames).map(String),
    categories: asArray(names.categories).map(String),
    namespaced: spec.scope !== 'Cluster',
    verbs: STANDARD_VERBS,
    subresources: [...(statusSubresource ? ['status'] : []), ...(scaleSubresource ? ['scale'] : [])],
    custom: true,
    tracksGeneration: true,
    hasStatusSubresource: statusSubresource,
    nameRule: 'dns1123-subdomain',
    returnDeletedObject: true,
    crd: { name: crd.metadata.name ?? `${plural}.${group}`, schemas, printerColumns },
  };
}

/** version.CompareKubeAwareVersionStrings: GA > beta > alpha, then by numbers; non-kube versions last. */
export function compareKubeVersions(a: string, b: string): number {
  const parse = (v: string): [number, number, number] | undefined => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return undefined;
    const stability = m[2] === undefined ? 3 : m[2] === 'beta' ? 2 : 1;
    return [stability, Number(m[1]), m[3] === undefined ? 0 : Number(m[3])];
  };
  const pa = parse(a);
  const pb = parse(b);
  if (!pa && !pb) return a.localeCompare(b);
  if (!pa) return 1;
  if (!pb) return -1;
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pb[i] - pa[i];
  return 0;
}

export class ResourceRegistry {
  private readonly byKey = new Map<string, ResourceType>();

  constructor(types: ResourceType[] = builtinResourceTypes()) {
    for (const rt of types) this.byKey.set(typeKey(rt), rt);
  }

  register(rt: ResourceType): void {
    this.byKey.set(typeKey(rt), rt);
  }

  unregister(group: string, plural: string): void {
    const rt = this.byKey.get(`${group}/${plural}`);
    if (rt?.custom) this.byKey.delete(`${group}/${plural}`);
  }

  all(): ResourceType[] {
    return [...this.byKey.values()];
  }

  byGroupResource(group: string, plural: string): ResourceType | undefined {
    return this.byKey.get(`${group}/${plural}`);
  }

  /** The resource served at /apis/<group>/<version>/<plural>, if that version is served. */
  served(group: string, version: string, plural: string): ResourceType | undefined {
    const rt = this.byGroupResource(group, plural);
    return rt && rt.versions.includes(version) ? rt : undefined;
  }

  byKind(group: string, kind: string): ResourceType | undefined {
    for (const rt of this.byKey.values()) if (rt.group === group && rt.kind === kind) return rt;
    return undefined;
  }

  /** group -> served versions (preferred first), for discovery. */
  groups(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const rt of this.byKey.values()) {
      const versions = out.get(rt.group) ?? [];
      for (const v of rt.versions) if (!versions.includes(v)) versions.push(v);
      out.set(rt.group, versions);
    }
    for (const [group, versions] of out) out.set(group, versions.sort(compareKubeVersions));
    return out;
  }
}
