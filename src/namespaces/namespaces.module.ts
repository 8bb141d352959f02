// Owns the namespaces part: status (REST and GraphQL), re-apply of an onboarding and the drift scan. The requests
// that re-apply creates are the onboarding module's (its global exports); this module registers only its own files.
import { DynamicModule, Module } from '@nestjs/common';
import type { ModuleEdges } from '../common/module-edges.js';
import { DriftScanner } from './drift-scanner.service.js';
import { NamespaceStatusService } from './namespace-status.service.js';
import { ReapplyService } from './reapply.service.js';

@Module({})
export class NamespacesModule {
  /**
   * `api` adds status (`GET /v1/clusters/:cluster/namespaces`, `namespaceStatuses`) and re-apply (REST and
   * GraphQL): the services here, their controllers and resolvers from namespaceEdges in src/api-edges.ts (loaded by
   * the API role only); `worker` adds the drift scan.
   */
  static register(roles: { api?: ModuleEdges; worker: boolean }): DynamicModule {
    return {
      module: NamespacesModule,
      controllers: roles.api?.controllers ?? [],
      providers: [
        ...(roles.api ? [NamespaceStatusService, ReapplyService, ...roles.api.providers] : []),
        ...(roles.worker ? [DriftScanner] : []),
      ],
    };
  }
}
