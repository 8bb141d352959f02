import { DynamicModule, Module } from '@nestjs/common';
import { AuditRepository } from '../audit/audit.repository.js';
import { EventBus } from '../events/event-bus.service.js';
import { ProgressService } from '../events/progress.service.js';
import { OnboardingController } from './api/onboarding.controller.js';
import { OnboardingResolver } from './api/onboarding.resolver.js';
import { OnboardingRepository } from './onboarding.repository.js';
import { OnboardingService } from './onboarding.service.js';
import { OnboardingWorker } from './onboarding.worker.js';
import { RequestRunner } from './request-runner.service.js';
import { PlannerService } from './planner.service.js';
import { ApprovalService } from '../approvals/approval.service.js';
import { BatchController } from '../batches/batch.controller.js';
import { BatchResolver } from '../batches/batch.resolver.js';
import { BatchService } from '../batches/batch.service.js';
import { RequestValidator } from './request-validator.js';
import { RequestLifecycle } from './lifecycle/request-lifecycle.js';
import { IntOrStringScalar } from '../common/int-or-string.scalar.js';
import { TargetPrecheck } from './target-precheck.js';
import { DriftScanner } from '../namespaces/drift-scanner.service.js';
import { ReapplyController } from '../namespaces/reapply.controller.js';
import { ReapplyResolver } from '../namespaces/reapply.resolver.js';
import { ReapplyService } from '../namespaces/reapply.service.js';

@Module({})
export class OnboardingModule {
  /**
   * `api` adds the REST controllers and GraphQL resolvers (requests, batches, re-apply); `worker` adds the
   * queue consumer with its sweeper, and the drift scan.
   */
  static register(roles: { api: boolean; worker: boolean }): DynamicModule {
    return {
      module: OnboardingModule,
      controllers: roles.api ? [OnboardingController, BatchController, ReapplyController] : [],
      providers: [
        OnboardingRepository,
        AuditRepository,
        EventBus,
        ProgressService,
        OnboardingService,
        RequestLifecycle,
        RequestValidator,
        TargetPrecheck,
        PlannerService,
        ApprovalService,
        BatchService,
        RequestRunner,
        ReapplyService,
        ...(roles.api ? [OnboardingResolver, BatchResolver, ReapplyResolver, IntOrStringScalar] : []),
        ...(roles.worker ? [OnboardingWorker, DriftScanner] : []),
      ],
      exports: [OnboardingService, RequestRunner, EventBus],
    };
  }
}
