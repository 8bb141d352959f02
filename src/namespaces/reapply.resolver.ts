// GraphQL for re-applying a namespace's last successful onboarding (reapply.service.ts).
import { Args, Mutation, Resolver } from '@nestjs/graphql';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { OnboardingRequestModel, RestartInput } from '../onboarding/api/graphql.models.js';
import { presentRequest } from '../onboarding/api/onboarding.presenter.js';
import { parseIdempotencyKey } from '../onboarding/api/shared-inputs.js';
import { ReapplyService } from './reapply.service.js';

@Resolver()
export class ReapplyResolver {
  constructor(private readonly reapplies: ReapplyService) {}

  @Mutation(() => OnboardingRequestModel, {
    nullable: true,
    description:
      'Queue the last successful onboarding of a namespace again, with the same options ' +
      '(e.g. after namespace.drifted); `restart` replaces its restart options.',
  })
  async reapplyOnboarding(
    @Args('cluster') cluster: string,
    @Args('namespace') namespace: string,
    @CurrentActor() actor: Actor,
    @Args('restart', { type: () => RestartInput, nullable: true }) restart?: RestartInput,
    @Args('dryRun', { nullable: true }) dryRun?: boolean,
    @Args('idempotencyKey', { nullable: true }) idempotencyKey?: string,
  ) {
    const body = {
      ...(restart ? { restart: JSON.parse(JSON.stringify(restart)) as unknown } : {}),
      ...(dryRun !== undefined && dryRun !== null ? { dryRun } : {}),
    };
    const key = parseIdempotencyKey(idempotencyKey, 'idempotencyKey');
    const { request, replayed } = await this.reapplies.reapply({ cluster, namespace }, body, actor, key);
    return { ...presentRequest(request), replayed };
  }
}
