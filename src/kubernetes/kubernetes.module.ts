import { Global, Module } from '@nestjs/common';
import { ClusterGateway } from './cluster-gateway.js';

@Global()
@Module({ providers: [ClusterGateway], exports: [ClusterGateway] })
export class KubernetesModule {}
