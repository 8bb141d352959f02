// Owns the GraphQL edge of approval decisions: the approveOnboardingRequest and rejectOnboardingRequest mutations.
// Who may decide is ApprovalService's; the request type is the requests' own (onboarding/api/graphql.models.ts).
import { Args, ID, Mutation, Resolver } from '@nestjs/graphql';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { OnboardingRequestModel } from '../onboarding/api/graphql.models.js';
import { presentRequest } from '../onboarding/api/onboarding.presenter.js';
import { ApprovalService } from './approval.service.js';

@Resolver()
export class ApprovalsResolver {
  constructor(private readonly approvals: ApprovalService) {}

  @Mutation(() => OnboardingRequestModel, {
    nullable: true,
    description: 'Approve a PENDING_APPROVAL request (approver role; not your own request).',
  })
  async approveOnboardingRequest(
    @Args('id', { type: () => ID }) id: string,
    @CurrentActor() actor: Actor,
    @Args('comment', { nullable: true }) comment?: string,
  ) {
    return presentRequest(await this.approvals.approve(id, actor, comment === undefined ? {} : { comment }));
  }

  @Mutation(() => OnboardingRequestModel, {
    nullable: true,
    description: 'Reject a PENDING_APPROVAL request, with a reason.',
  })
  async rejectOnboardingRequest(
    @Args('id', { type: () => ID }) id: string,
    @Args('reason') reason: string,
    @CurrentActor() actor: Actor,
  ) {
    return presentRequest(await this.approvals.reject(id, actor, { reason }));
  }
}
