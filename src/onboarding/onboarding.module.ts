// Owns onboarding requests: the service and lifecycle behind both edges, the planner and validator, the runner
// and its worker. Approvals, batches and namespaces (re-apply, drift scan) are modules of their own built on it.
import { DynamicModule, Module } from '@nestjs/common';
import type { ModuleEdges } from '../common/module-edges.js';
import { EventBus } from '../events/event-bus.service.js';
import { ProgressService } from '../events/progress.service.js';
import { StreamSweep } from '../events/stream-sweep.js';
import { StreamSlots } from '../events/stream-slots.js';
import { OnboardingRepository } from './onboarding.repository.js';
import { OnboardingService } from './onboarding.service.js';
import { OnboardingWorker } from './onboarding.worker.js';
import { RequestRunner } from './request-runner.service.js';
import { PlannerService } from './planner.service.js';
import { RequestValidator } from './request-validator.js';
import { RequestLifecycle } from './lifecycle/request-lifecycle.js';
import { TargetPrecheck } from './target-precheck.js';
import { NamespaceInformer } from './namespace-informer.js';
import { ListCursors } from './list-cursors.js';

@Module({})
export class OnboardingModule {
  /**
   * `api` adds the REST controller and GraphQL resolver of requests (onboardingEdges in src/api-edges.ts, loaded
   * by the API role only); `worker` adds the queue consumer with its sweeper.
   */
  static register(roles: { api?: ModuleEdges; worker: boolean }): DynamicModule {
    return {
      module: OnboardingModule,
      // Global: approvals/ and batches/ build on the requests (service, lifecycle, validator) without a cycle.
      global: true,
      controllers: roles.api?.controllers ?? [],
      providers: [
        OnboardingRepository,
        EventBus,
        StreamSweep,
        StreamSlots,
        ProgressService,
        OnboardingService,
        RequestLifecycle,
        RequestValidator,
        TargetPrecheck,
        ListCursors,
        PlannerService,
        RequestRunner,
        ...(roles.api?.providers ?? []),
        ...(roles.worker ? [OnboardingWorker] : []),
      ],
      exports: [
        OnboardingService,
        RequestRunner,
        EventBus,
        ProgressService,
        OnboardingRepository,
        RequestLifecycle,
        RequestValidator,
        // The API role's namespace views (an edge provider, onboardingEdges), read by the namespace status too.
        ...(roles.api?.providers.includes(NamespaceInformer) ? [NamespaceInformer] : []),
      ],
    };
  }
}
