import { Module } from '@nestjs/common';
import { MeshDiscoveryService } from './mesh-discovery.service.js';

@Module({ providers: [MeshDiscoveryService], exports: [MeshDiscoveryService] })
export class MeshModule {}
