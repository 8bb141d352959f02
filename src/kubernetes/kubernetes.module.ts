// The one gateway to clusters (a client per context), the mesh discovery that reads through it, and the
// metrics of its calls.
import { Global, Module } from '@nestjs/common';
import { ClusterGateway } from './cluster-gateway.js';
import { KubeCallMetrics } from './kube-call-metrics.js';
import { MeshDiscoveryService } from './mesh-discovery.service.js';

@Global()
@Module({
  providers: [ClusterGateway, MeshDiscoveryService, KubeCallMetrics],
  exports: [ClusterGateway, MeshDiscoveryService],
})
export class KubernetesModule {}
