// Owns the namespaces part: status (REST and GraphQL), re-apply of an onboarding and the drift scan. The requests
// that re-apply creates are the onboarding module's (its global exports); this module registers only its own files.
import { DynamicModule, Module } from '@nestjs/common';
import { DriftScanner } from './drift-scanner.service.js';
import { NamespaceStatusController } from './namespace-status.controller.js';
import { NamespaceStatusResolver } from './namespace-status.resolver.js';
import { NamespaceStatusService } from './namespace-status.service.js';
import { ReapplyController } from './reapply.controller.js';
import { ReapplyResolver } from './reapply.resolver.js';
import { ReapplyService } from './reapply.service.js';

@Module({})
export class NamespacesModule {
  /**
   * `api` adds status (`GET /v1/clusters/:cluster/namespaces`, `namespaceStatuses`) and re-apply (REST and
   * GraphQL); `worker` adds the drift scan.
   */
  static register(roles: { api: boolean; worker: boolean }): DynamicModule {
    return {
      module: NamespacesModule,
      controllers: roles.api ? [NamespaceStatusController, ReapplyController] : [],
      providers: [
        ...(roles.api ? [NamespaceStatusService, NamespaceStatusResolver, ReapplyService, ReapplyResolver] : []),
        ...(roles.worker ? [DriftScanner] : []),
      ],
    };
  }
}
