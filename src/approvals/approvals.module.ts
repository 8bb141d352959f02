// Owns the approval decisions (ApprovalService: who may approve or reject a held request) and their edges (REST
// approve/reject, the GraphQL mutations). Whether a request waits is decided when it is recorded
// (onboarding/approval-policy.ts); the state change is the request lifecycle's, found through the onboarding
// module's global exports. Global, so batches/ and integrations/slack/ use ApprovalService without importing it.
import { DynamicModule, Module } from '@nestjs/common';
import type { ModuleEdges } from '../common/module-edges.js';
import { ApprovalService } from './approval.service.js';

@Module({})
export class ApprovalsModule {
  /**
   * `api` adds the REST controller and the GraphQL resolver (approvalEdges in src/api-edges.ts, loaded by the API
   * role only); the service is there in every role (batches).
   */
  static register(roles: { api?: ModuleEdges }): DynamicModule {
    return {
      module: ApprovalsModule,
      global: true,
      controllers: roles.api?.controllers ?? [],
      providers: [ApprovalService, ...(roles.api?.providers ?? [])],
      exports: [ApprovalService],
    };
  }
}
