// Worker role only: audit partitions kept ahead, and the retention of audit events and finished requests.
import { Module } from '@nestjs/common';
import { RetentionService } from './retention.service.js';

@Module({ providers: [RetentionService], exports: [RetentionService] })
export class RetentionModule {}
