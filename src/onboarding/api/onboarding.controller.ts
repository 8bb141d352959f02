import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { z } from 'zod';
import type { Actor } from '../../auth/actor.js';
import { CurrentActor } from '../../auth/auth.guard.js';
import { ProgressService } from '../../events/progress.service.js';
import { writeSse } from '../../events/sse.js';
import { ApprovalService } from '../../approvals/approval.service.js';
import { parseInput } from '../../common/parse-input.js';
import { OnboardingService, CreateResult } from '../onboarding.service.js';
import { presentAuditEvent, presentRequest } from './onboarding.presenter.js';

export const ListQuery = z.strictObject({
  cluster: z.string().min(1).optional(),
  namespace: z.string().min(1).optional(),
  meshName: z.string().min(1).optional(),
  kind: z.enum(['ONBOARD', 'OFFBOARD']).optional(),
  status: z
    .enum(['PLANNED', 'PENDING_APPROVAL', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED'])
    .optional(),
  requestedBy: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(20),
  after: z.string().min(1).optional(),
});

export const IdempotencyKey = z.string().min(1).max(255).optional();
export const CancelSchema = z.strictObject({ reason: z.string().max(500).optional() });

@Controller('v1')
export class OnboardingController {
  constructor(
    private readonly onboarding: OnboardingService,
    private readonly progress: ProgressService,
    private readonly approvals: ApprovalService,
  ) {}

  @Post('onboardings')
  async requestOnboarding(
    @Body() body: unknown,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @CurrentActor() actor: Actor,
  ) {
    const result = await this.onboarding.requestOnboarding(body ?? {}, actor, parseInput(IdempotencyKey, key));
    return accepted(result, res);
  }

  @Post('offboardings')
  async requestOffboarding(
    @Body() body: unknown,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @CurrentActor() actor: Actor,
  ) {
    const result = await this.onboarding.requestOffboarding(body ?? {}, actor, parseInput(IdempotencyKey, key));
    return accepted(result, res);
  }

  /** Dry run: the exact writes every step would make now, and the diagnostics. Nothing is stored. */
  @Post('onboardings/plan')
  @HttpCode(200)
  planOnboarding(@Body() body: unknown, @CurrentActor() actor: Actor) {
    return this.onboarding.plan('ONBOARD', body ?? {}, actor);
  }

  @Post('offboardings/plan')
  @HttpCode(200)
  planOffboarding(@Body() body: unknown, @CurrentActor() actor: Actor) {
    return this.onboarding.plan('OFFBOARD', body ?? {}, actor);
  }

  /** Queues a request stored with `dryRun: true`; its steps report drift from the stored plan. */
  @Post('onboardings/:id/apply')
  async applyPlanned(@Param('id') id: string, @Res({ passthrough: true }) res: Response, @CurrentActor() actor: Actor) {
    return accepted({ request: await this.onboarding.applyPlanned(id, actor), replayed: false }, res);
  }

  @Post('onboardings/:id/cancel')
  @HttpCode(200)
  async cancel(@Param('id') id: string, @Body() body: unknown, @CurrentActor() actor: Actor) {
    const { reason } = parseInput(CancelSchema, body ?? {});
    return presentRequest(await this.onboarding.cancel(id, actor, reason));
  }

  /** A new attempt of a FAILED/CANCELLED request; finished steps are not run again. */
  @Post('onboardings/:id/retry')
  async retry(@Param('id') id: string, @Res({ passthrough: true }) res: Response, @CurrentActor() actor: Actor) {
    return accepted({ request: await this.onboarding.retry(id, actor), replayed: false }, res);
  }

  @Post('onboardings/:id/approve')
  @HttpCode(200)
  async approve(@Param('id') id: string, @Body() body: unknown, @CurrentActor() actor: Actor) {
    return presentRequest(await this.approvals.approve(id, actor, body));
  }

  @Post('onboardings/:id/reject')
  @HttpCode(200)
  async reject(@Param('id') id: string, @Body() body: unknown, @CurrentActor() actor: Actor) {
    return presentRequest(await this.approvals.reject(id, actor, body));
  }

  @Get('onboardings')
  @HttpCode(200)
  async list(@Query() query: unknown, @CurrentActor() actor: Actor) {
    const q = parseInput(ListQuery, query);
    const { limit, after, ...filter } = q;
    const page = await this.onboarding.list(filter, limit, after, actor);
    return {
      items: page.items.map(presentRequest),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
    };
  }

  @Get('onboardings/:id')
  async get(@Param('id') id: string, @CurrentActor() actor: Actor) {
    return presentRequest(await this.onboarding.read(id, actor));
  }

  /** Server-Sent Events; resumable with Last-Event-ID (the same cursor as the GraphQL subscription). */
  @Get('onboardings/:id/events')
  async events(
    @Param('id') id: string,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Query('after') after: string | undefined,
    @Res() res: Response,
    @CurrentActor() actor: Actor,
  ) {
    const cursor = parseInput(z.coerce.number().int().min(0).default(0), lastEventId ?? after);
    await this.onboarding.read(id, actor);
    await writeSse(res, await this.progress.open(id, cursor), (e) => e.cursor);
  }

  @Get('onboardings/:id/audit')
  async audit(@Param('id') id: string, @CurrentActor() actor: Actor) {
    return { items: (await this.onboarding.auditEvents(id, actor)).map(presentAuditEvent) };
  }
}

export function accepted({ request, replayed }: CreateResult, res: Response) {
  res.status(replayed ? 200 : 202);
  if (replayed) res.setHeader('Idempotent-Replayed', 'true');
  res.setHeader('Location', `/v1/onboardings/${request.id}`);
  return {
    id: request.id,
    status: request.status,
    request: presentRequest(request),
    links: {
      self: `/v1/onboardings/${request.id}`,
      audit: `/v1/onboardings/${request.id}/audit`,
      events: `/v1/onboardings/${request.id}/events`,
    },
  };
}
