// The one gateway to clusters (a client per context) and the mesh discovery that reads through it.
import { Global, Module } from '@nestjs/common';
import { ClusterGateway } from './cluster-gateway.js';
import { MeshDiscoveryService } from './mesh-discovery.service.js';

@Global()
@Module({ providers: [ClusterGateway, MeshDiscoveryService], exports: [ClusterGateway, MeshDiscoveryService] })
export class KubernetesModule {}
