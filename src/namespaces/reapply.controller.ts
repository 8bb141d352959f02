// REST for re-applying a namespace's last successful onboarding (reapply.service.ts).
import { Body, Controller, Headers, Param, Post, Res } from '@nestjs/common';
import type { PassthroughReply } from '../common/http-reply.js';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { accepted } from '../onboarding/api/onboarding.controller.js';
import { parseIdempotencyKey } from '../onboarding/api/shared-inputs.js';
import { ReapplyService } from './reapply.service.js';
import { acceptedResponses, ApiOperation, ONBOARD_TARGET_ERRORS, VALIDATE_ERRORS } from '../docs/api-operation.js';
import { ReapplySchema } from './reapply.service.js';

@Controller('v1/namespaces')
export class ReapplyController {
  constructor(private readonly reapplies: ReapplyService) {}

  /** `{ restart?, dryRun? }`: 202 with the new request, like `POST /v1/onboardings`. */
  @ApiOperation({
    operationId: 'reapplyOnboarding',
    tag: 'namespaces',
    summary: "Re-apply a namespace's last successful onboarding as a new request",
    description:
      'Queues an onboarding with the options of the last successful request for the namespace (which must be an ' +
      'onboarding), e.g. after a `namespace.drifted` event; validated, authorized and approved like `POST ' +
      '/v1/onboardings`. `restart` replaces the stored restart options; `dryRun` stores it as PLANNED.',
    roles: ['requester'],
    body: ReapplySchema,
    example: { restart: { mode: 'needed' } },
    headers: ['Idempotency-Key'],
    responses: acceptedResponses('re-applied onboarding'),
    errors: [
      ...VALIDATE_ERRORS,
      'MESH_NOT_FOUND',
      'NAMESPACE_IS_CONTROL_PLANE',
      ...ONBOARD_TARGET_ERRORS,
      'NOTHING_TO_REAPPLY',
      'REQUEST_CONFLICT',
      'IDEMPOTENCY_KEY_REUSED',
      // MESH_WIDE_CHANGES=refuse: the stored options change the mesh as a whole and the caller has no mesh grant.
      'MESH_WIDE_CHANGE_FORBIDDEN',
    ],
  })
  @Post(':cluster/:namespace/reapply')
  async reapply(
    @Param('cluster') cluster: string,
    @Param('namespace') namespace: string,
    @Body() body: unknown,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) res: PassthroughReply,
    @CurrentActor() actor: Actor,
  ) {
    const keyed = parseIdempotencyKey(key, 'Idempotency-Key');
    const result = await this.reapplies.reapply({ cluster, namespace }, body ?? {}, actor, keyed);
    return accepted(result, res);
  }
}
