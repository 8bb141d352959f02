// Where the Kubernetes API server is, read from Service default/kubernetes (api-server-access, its removal,
// and the drift scan), and which of a mesh's namespaces reach it through an Egress policy (the namespace step).
import { DomainError } from '../../../common/domain-error.js';
import type { KubeObject } from '../../../common/kube-object.js';
import { forEachListed, type ClusterClient } from '../../../kubernetes/cluster-client.js';
import { KubeError } from '../../../kubernetes/kube-error.js';
import { cidrContains, hostCidr, isIpv4 } from '../../../mesh/cidr.js';
import { CRD, MONITORED_BY_LABEL } from '../../../mesh/osm.js';

/** Where the Kubernetes API Service lives (and the namespace the Egress method must not be meshed). */
export const API_SERVER_SERVICE = { namespace: 'default', name: 'kubernetes' } as const;

export interface ApiServerAddress {
  ip: string;
  /** `<ip>/32`. */
  cidr: string;
  /** The Service's https port (443 on every distribution we know). */
  port: number;
}

/** The API server's IPv4 cluster IP, from Service default/kubernetes. */
export async function discoverApiServer(kube: ClusterClient): Promise<ApiServerAddress> {
  const { namespace, name } = API_SERVER_SERVICE;
  let svc;
  try {
    svc = await kube.getService(namespace, name);
  } catch (err) {
    if (err instanceof KubeError && err.reason === 'NOT_FOUND') {
      throw new DomainError(
        'API_SERVER_NOT_FOUND',
        `Service ${namespace}/${name} (the Kubernetes API server) does not exist`,
        {
          field: 'apiServerAccess',
        },
      );
    }
    throw err;
  }
  const candidates = [svc.spec?.clusterIP, ...(svc.spec?.clusterIPs ?? [])].filter(
    (v): v is string => typeof v === 'string',
  );
  const ip = candidates.find(isIpv4);
  if (!ip) {
    throw new DomainError(
      'API_SERVER_NOT_FOUND',
      `Service ${namespace}/${name} has no IPv4 cluster IP (got ` +
        `${candidates.length ? candidates.join(', ') : 'none'}); osm-edge's exclusion list and Egress ipAddresses ` +
        `are IPv4-only`,
      { field: 'apiServerAccess' },
    );
  }
  const ports = svc.spec?.ports ?? [];
  const port = ports.find((p) => p.name === 'https')?.port ?? ports[0]?.port ?? 443;
  return { ip, cidr: hostCidr(ip), port };
}

/**
 * The other side of the Egress method's rule (osm-edge's guide: with an Egress policy, the Kubernetes API Service
 * must not be in a namespace the mesh manages): adding namespace default to a mesh while namespaces of that mesh
 * reach the API server through an Egress (an `ipAddresses` range that holds its cluster IP, ours or anyone's)
 * would cut them off from it. Refused with EGRESS_API_SERVER_MONITORED, counting them. Reads: the Egress objects
 * (a kind the cluster does not serve holds none), then, only if one reaches the API server's IP, the API Service
 * and the mesh's namespaces.
 */
export async function assertNoApiServerEgress(kube: ClusterClient, meshName: string): Promise<void> {
  const egresses: KubeObject[] = [];
  try {
    await forEachListed(
      (page) => kube.listCustomAllNamespaces(CRD.egress, page),
      (e) => egresses.push(e),
    );
  } catch (err) {
    if (err instanceof KubeError && err.reason === 'NOT_SERVED') return;
    throw err;
  }
  if (!egresses.length) return;
  let api: ApiServerAddress;
  try {
    api = await discoverApiServer(kube);
  } catch (err) {
    // No API Service (or no IPv4 one): no Egress can be reaching it through its cluster IP.
    if (err instanceof DomainError) return;
    throw err;
  }
  const reaching = egresses.filter((e) => {
    const ranges = (e.spec as { ipAddresses?: unknown } | undefined)?.ipAddresses;
    return Array.isArray(ranges) && ranges.some((r) => typeof r === 'string' && cidrContains(r, api.ip));
  });
  if (!reaching.length) return;
  const meshNamespaces = new Set<string>();
  await forEachListed(
    (page) => kube.listNamespaces({ ...page, labelSelector: `${MONITORED_BY_LABEL}=${meshName}` }),
    (n) => meshNamespaces.add(n.metadata?.name ?? ''),
  );
  // A count, never their names: the caller may not see those namespaces (docs/governance.md), and the message
  // reaches the request's trail, events and webhooks.
  const cut = reaching.filter((e) => meshNamespaces.has(e.metadata?.namespace ?? '')).length;
  if (!cut) return;
  throw new DomainError(
    'EGRESS_API_SERVER_MONITORED',
    `namespace ${API_SERVER_SERVICE.namespace} holds the Kubernetes API Service, and ${cut} Egress ` +
      `polic${cut === 1 ? 'y' : 'ies'} in namespaces of mesh ${meshName} reach the API server: an Egress policy ` +
      `cannot reach the API server from a managed namespace, so adding it would cut them off`,
    {
      field: 'namespace',
      hint:
        'switch those namespaces to apiServerAccess method ip-exclusion (an onboarding request with it) before ' +
        `adding namespace ${API_SERVER_SERVICE.namespace}, or keep it out of the mesh`,
      details: { egresses: cut },
    },
  );
}

/**
 * The Egress method's side of the rule: refused (EGRESS_API_SERVER_MONITORED) while namespace default is monitored by
 * the request's mesh. One read of that namespace (absent: nothing to refuse).
 */
export async function assertApiNamespaceOutside(kube: ClusterClient, meshName: string): Promise<void> {
  const apiNs = API_SERVER_SERVICE.namespace;
  let mesh: string | undefined;
  try {
    mesh = (await kube.getNamespace(apiNs)).metadata?.labels?.[MONITORED_BY_LABEL];
  } catch (err) {
    if (!(err instanceof KubeError && err.reason === 'NOT_FOUND')) throw err;
  }
  if (mesh === meshName) throw apiNamespaceMonitored(meshName, 'monitored by');
}

export function apiNamespaceMonitored(meshName: string, how: 'monitored by' | 'being added to'): DomainError {
  return new DomainError(
    'EGRESS_API_SERVER_MONITORED',
    `namespace ${API_SERVER_SERVICE.namespace}, which holds the Kubernetes API Service, is ${how} mesh ${meshName}: ` +
      'an Egress policy cannot reach the API server from a managed namespace',
    { field: 'apiServerAccess.method', hint: 'use method ip-exclusion, or remove namespace default from the mesh' },
  );
}
