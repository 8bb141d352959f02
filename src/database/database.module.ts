// Owns the database connection (PrismaService) and what every process keeps in it: the audit partitions ahead
// (PartitionUpkeep).
import { Global, Module } from '@nestjs/common';
import { PartitionUpkeep } from './partition-upkeep.js';
import { PrismaService } from './prisma.service.js';

@Global()
@Module({ providers: [PrismaService, PartitionUpkeep], exports: [PrismaService] })
export class DatabaseModule {}
