// Owns batches: several requests validated together and stored at once (REST /v1/batches, GraphQL
// requestBatch); the requests themselves are the onboarding module's.
import { DynamicModule, Module } from '@nestjs/common';
import { BatchController } from './batch.controller.js';
import { BatchResolver } from './batch.resolver.js';
import { BatchService } from './batch.service.js';

@Module({})
export class BatchesModule {
  /** `api` adds the REST controller and the GraphQL resolver. */
  static register(roles: { api: boolean }): DynamicModule {
    return {
      module: BatchesModule,
      controllers: roles.api ? [BatchController] : [],
      providers: [BatchService, ...(roles.api ? [BatchResolver] : [])],
    };
  }
}
