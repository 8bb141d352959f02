// Owns the REST edge of approval decisions: approve and reject a request held in PENDING_APPROVAL, documented by
// their @ApiOperation. Who may decide is ApprovalService's; the request shape is the requests' own presenter.
import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { ApiOperation, DECISION_ERRORS } from '../docs/api-operation.js';
import * as R from '../docs/response-schemas.js';
import { presentRequest } from '../onboarding/api/onboarding.presenter.js';
import { ApprovalService, ApproveSchema, RejectSchema } from './approval.service.js';

@Controller('v1')
export class ApprovalsController {
  constructor(private readonly approvals: ApprovalService) {}

  @ApiOperation({
    operationId: 'approveRequest',
    tag: 'approvals',
    summary: 'Approve a request in PENDING_APPROVAL',
    description:
      "Once the policy's number of distinct approvers is reached the request is queued. The requester cannot approve " +
      'their own request.',
    roles: ['approver'],
    body: ApproveSchema,
    example: { comment: 'checked with team-a' },
    responses: {
      200: {
        description: 'the request (QUEUED, or still PENDING_APPROVAL awaiting more approvers)',
        schema: R.RequestSchema,
      },
    },
    errors: ['VALIDATION_FAILED', ...DECISION_ERRORS, 'MESH_WIDE_CHANGE_FORBIDDEN'],
  })
  @Post('onboardings/:id/approve')
  @HttpCode(200)
  async approve(@Param('id') id: string, @Body() body: unknown, @CurrentActor() actor: Actor) {
    return presentRequest(await this.approvals.approve(id, actor, body));
  }

  @ApiOperation({
    operationId: 'rejectRequest',
    tag: 'approvals',
    summary: 'Reject a request in PENDING_APPROVAL (with a reason)',
    roles: ['approver'],
    body: RejectSchema,
    bodyRequired: true,
    example: { reason: 'not during the freeze' },
    responses: { 200: { description: 'the request, REJECTED', schema: R.RequestSchema } },
    errors: ['VALIDATION_FAILED', ...DECISION_ERRORS],
  })
  @Post('onboardings/:id/reject')
  @HttpCode(200)
  async reject(@Param('id') id: string, @Body() body: unknown, @CurrentActor() actor: Actor) {
    return presentRequest(await this.approvals.reject(id, actor, body));
  }
}
