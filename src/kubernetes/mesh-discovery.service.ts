// Cluster read: which mesh runs where (the osm-controller Deployments), cached per cluster and mesh name.
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import type { MeshInfo } from '../mesh/mesh-info.js';
import { CONTROLLER_APP, CONTROLLER_APP_LABEL, MESH_NAME_LABEL } from '../mesh/osm.js';
import { ClusterGateway } from './cluster-gateway.js';

export type { MeshInfo } from '../mesh/mesh-info.js';

interface CacheEntry<T> {
  expires: number;
  value: Promise<T>;
}

/**
 * Finds a mesh the way `osm namespace add` does (any Deployment labelled meshName=<mesh>),
 * and caches the answer per cluster so the namespace step itself costs two API calls.
 */
@Injectable()
export class MeshDiscoveryService {
  private readonly cache = new Map<string, CacheEntry<MeshInfo>>();

  constructor(
    private readonly gateway: ClusterGateway,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  discover(cluster: string, meshName: string): Promise<MeshInfo> {
    const key = `${cluster}\u0000${meshName}`;
    const hit = this.cache.get(key);
    if (hit && hit.expires > Date.now()) return hit.value;
    const value = this.lookup(cluster, meshName);
    this.cache.set(key, { expires: Date.now() + this.config.meshCacheTtlMs, value });
    // Failures are not cached: the next request asks the cluster again.
    value.catch(() => this.cache.delete(key));
    return value;
  }

  invalidate(cluster?: string): void {
    for (const key of this.cache.keys()) if (!cluster || key.startsWith(`${cluster}\u0000`)) this.cache.delete(key);
  }

  private async lookup(cluster: string, meshName: string): Promise<MeshInfo> {
    const kube = this.gateway.client(cluster);
    const [mine, controllers] = await Promise.all([
      kube.listDeployments(undefined, `${MESH_NAME_LABEL}=${meshName}`),
      kube.listDeployments(undefined, `${CONTROLLER_APP_LABEL}=${CONTROLLER_APP}`),
    ]);
    if (mine.items.length === 0) {
      throw new DomainError(
        'MESH_NOT_FOUND',
        `mesh [${meshName}] does not exist, please specify another mesh using meshName or create a new mesh`,
        { field: 'meshName', details: { cluster } },
      );
    }
    const controller =
      mine.items.find((d) => d.metadata?.labels?.[CONTROLLER_APP_LABEL] === CONTROLLER_APP) ?? mine.items[0];
    return {
      meshName,
      controlPlaneNamespace: controller.metadata?.namespace ?? '',
      version: controller.metadata?.labels?.['app.kubernetes.io/version'],
      controlPlaneNamespaces: [...new Set(controllers.items.map((d) => d.metadata?.namespace ?? '').filter(Boolean))],
    };
  }
}
