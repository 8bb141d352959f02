// REST for re-applying a namespace's last successful onboarding (reapply.service.ts).
import { Body, Controller, Headers, Param, Post, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { parseInput } from '../common/parse-input.js';
import { accepted, IdempotencyKey } from '../onboarding/api/onboarding.controller.js';
import { ReapplyService } from './reapply.service.js';

@Controller('v1/namespaces')
export class ReapplyController {
  constructor(private readonly reapplies: ReapplyService) {}

  /** `{ restart?, dryRun? }`: 202 with the new request, like `POST /v1/onboardings`. */
  @Post(':cluster/:namespace/reapply')
  async reapply(
    @Param('cluster') cluster: string,
    @Param('namespace') namespace: string,
    @Body() body: unknown,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @CurrentActor() actor: Actor,
  ) {
    const result = await this.reapplies.reapply(cluster, namespace, body ?? {}, actor, parseInput(IdempotencyKey, key));
    return accepted(result, res);
  }
}
