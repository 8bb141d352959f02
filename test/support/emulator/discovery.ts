// API discovery documents: legacy (/api, /apis, APIResourceList) and aggregated discovery v2
// (apidiscovery.k8s.io/v2 APIGroupDiscoveryList), which kubectl 1.32 requests first.

import { compareKubeVersions, type ResourceRegistry, type ResourceType } from './resources.js';

export const AGGREGATED_CONTENT_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
const AGGREGATED_V2BETA1_CONTENT_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';

export const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0+emulator',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2024-12-11T00:00:00Z',
  goVersion: 'go1.23.3',
  compiler: 'gc',
  platform: 'linux/amd64',
};

/** Which aggregated-discovery version the Accept header asks for, if any. */
export function aggregatedVersion(accept: string | undefined): 'v2' | 'v2beta1' | undefined {
  if (!accept) return undefined;
  for (const part of accept.split(',')) {
    if (!/as=APIGroupDiscoveryList/.test(part) || !/g=apidiscovery\.k8s\.io/.test(part)) continue;
    if (/v=v2(;|$|\s)/.test(part)) return 'v2';
    if (/v=v2beta1/.test(part)) return 'v2beta1';
  }
  return undefined;
}

export function aggregatedContentType(version: 'v2' | 'v2beta1'): string {
  return version === 'v2' ? AGGREGATED_CONTENT_TYPE : AGGREGATED_V2BETA1_CONTENT_TYPE;
}

function sortedTypes(registry: ResourceRegistry, group: string, version: string): ResourceType[] {
  return registry
    .all()
    .filter((rt) => rt.group === group && rt.versions.includes(version))
    .sort((a, b) => a.plural.localeCompare(b.plural));
}

function subresourceVerbs(sub: string): string[] {
  if (sub === 'token') return ['create'];
  return sub === 'finalize' ? ['update'] : ['get', 'patch', 'update'];
}

/** The kind a subresource answers with, when it is not the resource's own. */
function subresourceKind(sub: string): { group: string; version: string; kind: string } | undefined {
  if (sub === 'scale') return { group: 'autoscaling', version: 'v1', kind: 'Scale' };
  if (sub === 'token') return { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' };
  return undefined;
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupVersions(registry: ResourceRegistry, group: string): string[] {
  return (registry.groups().get(group) ?? []).sort(compareKubeVersions);
}

function apiGroup(registry: ResourceRegistry, group: string): Record<string, unknown> {
  const versions = groupVersions(registry, group);
  return {
    name: group,
    versions: versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${group}/${versions[0]}`, version: versions[0] },
  };
}

export function apiGroupList(registry: ResourceRegistry): Record<string, unknown> {
  const groups = [...registry.groups().keys()].filter((g) => g !== '').sort(groupOrder);
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => apiGroup(registry, g)) };
}

export function apiGroupDocument(registry: ResourceRegistry, group: string): Record<string, unknown> | undefined {
  if (!registry.groups().has(group) || group === '') return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(registry, group) };
}

export function apiResourceList(
  registry: ResourceRegistry,
  group: string,
  version: string,
): Record<string, unknown> | undefined {
  const types = sortedTypes(registry, group, version);
  if (types.length === 0) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const rt of types) {
    const entry: Record<string, unknown> = {
      name: rt.plural,
      singularName: rt.singular,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: rt.verbs,
    };
    if (rt.shortNames.length) entry.shortNames = rt.shortNames;
    if (rt.categories.length) entry.categories = rt.categories;
    resources.push(entry);
    for (const sub of rt.subresources) {
      resources.push({
        name: `${rt.plural}/${sub}`,
        singularName: '',
        namespaced: rt.namespaced,
        ...(subresourceKind(sub) ?? { kind: rt.kind }),
        verbs: subresourceVerbs(sub),
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}

function discoveryResource(rt: ResourceType, version: string): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    resource: rt.plural,
    responseKind: { group: rt.group, version, kind: rt.kind },
    scope: rt.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: rt.singular,
    verbs: rt.verbs,
  };
  if (rt.shortNames.length) entry.shortNames = rt.shortNames;
  if (rt.categories.length) entry.categories = rt.categories;
  if (rt.subresources.length) {
    entry.subresources = rt.subresources.map((sub) => ({
      subresource: sub,
      responseKind: subresourceKind(sub) ?? { group: rt.group, version, kind: rt.kind },
      verbs: subresourceVerbs(sub),
    }));
  }
  return entry;
}

function discoveryGroup(registry: ResourceRegistry, group: string): Record<string, unknown> {
  return {
    metadata: group ? { name: group, creationTimestamp: null } : { creationTimestamp: null },
    versions: groupVersions(registry, group).map((version) => ({
      version,
      resources: sortedTypes(registry, group, version).map((rt) => discoveryResource(rt, version)),
      freshness: 'Current',
    })),
  };
}

/** Aggregated discovery for `/api` (core only) or `/apis` (every named group). */
export function aggregatedDiscovery(
  registry: ResourceRegistry,
  core: boolean,
  version: 'v2' | 'v2beta1',
): Record<string, unknown> {
  const groups = core ? [''] : [...registry.groups().keys()].filter((g) => g !== '').sort(groupOrder);
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: groups.map((g) => discoveryGroup(registry, g)),
  };
}

// Built-in groups come first in the apiserver's priority order; custom groups follow alphabetically.
const GROUP_PRIORITY = ['apps', 'authorization.k8s.io', 'admissionregistration.k8s.io', 'apiextensions.k8s.io'];

function groupOrder(a: string, b: string): number {
  const pa = GROUP_PRIORITY.indexOf(a);
  const pb = GROUP_PRIORITY.indexOf(b);
  if (pa >= 0 || pb >= 0) return (pa < 0 ? 99 : pa) - (pb < 0 ? 99 : pb);
  return a.localeCompare(b);
}
