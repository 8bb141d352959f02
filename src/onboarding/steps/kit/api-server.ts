// Where the Kubernetes API server is, read from Service default/kubernetes (api-server-access, its removal,
// and the drift scan).
import { DomainError } from '../../../common/domain-error.js';
import type { ClusterClient } from '../../../kubernetes/cluster-client.js';
import { KubeError } from '../../../kubernetes/kube-error.js';
import { hostCidr, isIpv4 } from '../../../mesh/cidr.js';

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
