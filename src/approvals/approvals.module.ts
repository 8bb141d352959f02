// Owns the approval decisions (ApprovalService: who may approve or reject a held request) and their edges (REST
// approve/reject, the GraphQL mutations). Whether a request waits is decided when it is recorded
// (onboarding/approval-policy.ts); the state change is the request lifecycle's, found through the onboarding
// module's global exports. Global, so batches/ and integrations/slack/ use ApprovalService without importing it.
import { DynamicModule, Module } from '@nestjs/common';
import { ApprovalService } from './approval.service.js';
import { ApprovalsController } from './approvals.controller.js';
import { ApprovalsResolver } from './approvals.resolver.js';

@Module({})
export class ApprovalsModule {
  /** `api` adds the REST controller and the GraphQL resolver; the service is there in every role (batches). */
  static register(roles: { api: boolean }): DynamicModule {
    return {
      module: ApprovalsModule,
      global: true,
      controllers: roles.api ? [ApprovalsController] : [],
      providers: [ApprovalService, ...(roles.api ? [ApprovalsResolver] : [])],
      exports: [ApprovalService],
    };
  }
}
