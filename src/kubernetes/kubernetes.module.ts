// The one gateway to clusters (a client per context), the mesh discovery that reads through it, the metrics of
// its calls, and the outlier verdicts drawn from them.
import { Global, Module } from '@nestjs/common';
import { ClusterGateway } from './cluster-gateway.js';
import { ClusterHealth } from './cluster-health.js';
import { KubeCallMetrics } from './kube-call-metrics.js';
import { MeshDiscoveryService } from './mesh-discovery.service.js';

@Global()
@Module({
  providers: [ClusterGateway, MeshDiscoveryService, KubeCallMetrics, ClusterHealth],
  exports: [ClusterGateway, MeshDiscoveryService, ClusterHealth],
})
export class KubernetesModule {}
