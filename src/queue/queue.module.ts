import { Global, Module } from '@nestjs/common';
import { ClusterShare } from './cluster-share.js';
import { QueueService } from './queue.service.js';

@Global()
@Module({ providers: [QueueService, ClusterShare], exports: [QueueService] })
export class QueueModule {}
