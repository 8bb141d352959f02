import { DynamicModule, Module } from '@nestjs/common';
import { AuditRepository } from '../audit/audit.repository.js';
import { EventBus } from '../events/event-bus.service.js';
import { ProgressService } from '../events/progress.service.js';
import { MeshModule } from '../mesh/mesh.module.js';
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
import { TargetPrecheck } from './target-precheck.js';

@Module({})
export class OnboardingModule {
  /** `api` adds the REST controller and GraphQL resolver; `worker` adds the queue consumer and sweeper. */
  static register(roles: { api: boolean; worker: boolean }): DynamicModule {
    return {
      module: OnboardingModule,
      imports: [MeshModule],
      controllers: roles.api ? [OnboardingController, BatchController] : [],
      providers: [
        OnboardingRepository,
        AuditRepository,
        EventBus,
        ProgressService,
        OnboardingService,
        RequestValidator,
        TargetPrecheck,
        PlannerService,
        ApprovalService,
        BatchService,
        RequestRunner,
        ...(roles.api ? [OnboardingResolver, BatchResolver] : []),
        ...(roles.worker ? [OnboardingWorker] : []),
      ],
      exports: [OnboardingService, RequestRunner, EventBus],
    };
  }
}
