// Owns batches: several requests validated together and stored at once (REST /v1/batches, GraphQL
// requestBatch); the requests themselves are the onboarding module's.
import { DynamicModule, Module } from '@nestjs/common';
import type { ModuleEdges } from '../common/module-edges.js';
import { BatchService } from './batch.service.js';

@Module({})
export class BatchesModule {
  /** `api` adds the REST controller and the GraphQL resolver (batchEdges in src/api-edges.ts). */
  static register(roles: { api?: ModuleEdges }): DynamicModule {
    return {
      module: BatchesModule,
      controllers: roles.api?.controllers ?? [],
      providers: [BatchService, ...(roles.api?.providers ?? [])],
    };
  }
}
