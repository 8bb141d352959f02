// Owns the REST edge of requests: create, plan, apply, cancel, retry, list, read, follow (SSE) and audit
// (approve and reject are approvals/'s), each documented by its @ApiOperation (the OpenAPI document is
// derived from these).
import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { HttpReply, PassthroughReply } from '../../common/http-reply.js';
import { z } from 'zod';
import type { Actor } from '../../auth/actor.js';
import { CurrentActor } from '../../auth/auth.guard.js';
import { ProgressService } from '../../events/progress.service.js';
import { writeSse } from '../../events/sse.js';
import { NoInputSchema, parseInput } from '../../common/parse-input.js';
import { OffboardingInputSchema, OnboardingInputSchema } from '../onboarding.input.js';
import { OnboardingService, CreateResult } from '../onboarding.service.js';
import { presentAuditEvent, presentRequest } from './onboarding.presenter.js';
import {
  AuditQuery,
  CancelSchema,
  cursorOf,
  parseIdempotencyKey,
  ProgressCursor,
  RequestFilterSchema,
  RequestPageSchema,
} from './shared-inputs.js';
import {
  acceptedResponses,
  ApiOperation,
  ONBOARD_TARGET_ERRORS,
  TARGET_ERRORS,
  VALIDATE_ERRORS,
} from '../../docs/api-operation.js';
import * as R from '../../docs/response-schemas.js';

export const ListQuery = RequestFilterSchema.extend(RequestPageSchema.shape).describe(
  'Which requests to list; every field given must match.',
);

/** Where an event stream resumes (the `Last-Event-ID` header wins). */
const EventsQuery = z.strictObject({
  after: ProgressCursor.optional().describe('Resume after this cursor (the `Last-Event-ID` header wins).'),
});

@Controller('v1')
export class OnboardingController {
  constructor(
    private readonly onboarding: OnboardingService,
    private readonly progress: ProgressService,
  ) {}

  @ApiOperation({
    operationId: 'requestOnboarding',
    tag: 'onboarding',
    summary: 'Onboard a namespace into a mesh',
    description:
      'Validates, records the request with its first audit event and queues it. The worker then runs the steps ' +
      '(prerequisites, mesh, api-server-access, traffic-policy, namespace, metrics, app-protocol, restart, verify — ' +
      'as the options ask). Follow it with `GET /v1/onboardings/{id}/events`.',
    roles: ['requester'],
    body: OnboardingInputSchema,
    bodyRequired: true,
    example: {
      namespace: 'bookbuyer',
      meshName: 'osm',
      restart: { mode: 'all' },
      apiServerAccess: { method: 'ip-exclusion' },
    },
    headers: ['Idempotency-Key'],
    responses: acceptedResponses('onboarding'),
    errors: [
      ...VALIDATE_ERRORS,
      'MESH_NOT_FOUND',
      'NAMESPACE_IS_CONTROL_PLANE',
      ...ONBOARD_TARGET_ERRORS,
      'REQUEST_CONFLICT',
      'IDEMPOTENCY_KEY_REUSED',
      'MESH_WIDE_CHANGE_FORBIDDEN',
    ],
  })
  @Post('onboardings')
  async requestOnboarding(
    @Body() body: unknown,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) res: PassthroughReply,
    @CurrentActor() actor: Actor,
  ) {
    const result = await this.onboarding.requestOnboarding(
      body ?? {},
      actor,
      parseIdempotencyKey(key, 'Idempotency-Key'),
    );
    return accepted(result, res);
  }

  @ApiOperation({
    operationId: 'requestOffboarding',
    tag: 'onboarding',
    summary: 'Take a namespace out of its mesh',
    description:
      'Runs `namespace-removal` (the `osm namespace remove` patch), and optionally policy clean-up, API-server ' +
      'access removal and a restart.',
    roles: ['requester'],
    body: OffboardingInputSchema,
    bodyRequired: true,
    example: { namespace: 'bookbuyer', restart: { mode: 'all' }, deleteOwnedPolicies: true },
    headers: ['Idempotency-Key'],
    responses: acceptedResponses('offboarding'),
    errors: [
      ...VALIDATE_ERRORS,
      ...TARGET_ERRORS,
      'REQUEST_CONFLICT',
      'IDEMPOTENCY_KEY_REUSED',
      'MESH_WIDE_CHANGE_FORBIDDEN',
    ],
  })
  @Post('offboardings')
  async requestOffboarding(
    @Body() body: unknown,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) res: PassthroughReply,
    @CurrentActor() actor: Actor,
  ) {
    const result = await this.onboarding.requestOffboarding(
      body ?? {},
      actor,
      parseIdempotencyKey(key, 'Idempotency-Key'),
    );
    return accepted(result, res);
  }

  /** Dry run: the exact writes every step would make now, and the diagnostics. Nothing is stored. */
  @ApiOperation({
    operationId: 'planOnboarding',
    tag: 'onboarding',
    summary: 'Plan an onboarding (dry run, nothing stored)',
    description:
      'The exact writes every step would make now, and the diagnostics. A step that would refuse sets its `error` ' +
      'and `blocked: true`.',
    roles: ['requester'],
    body: OnboardingInputSchema,
    bodyRequired: true,
    example: { namespace: 'bookbuyer', restart: { mode: 'all' } },
    responses: { 200: { description: 'the plan', schema: R.PlanSchema } },
    errors: [...VALIDATE_ERRORS, 'MESH_NOT_FOUND', 'NAMESPACE_IS_CONTROL_PLANE', ...ONBOARD_TARGET_ERRORS],
  })
  @Post('onboardings/plan')
  @HttpCode(200)
  planOnboarding(@Body() body: unknown, @CurrentActor() actor: Actor) {
    return this.onboarding.plan('ONBOARD', body ?? {}, actor);
  }

  @ApiOperation({
    operationId: 'planOffboarding',
    tag: 'onboarding',
    summary: 'Plan an offboarding (dry run, nothing stored)',
    roles: ['requester'],
    body: OffboardingInputSchema,
    bodyRequired: true,
    example: { namespace: 'bookbuyer' },
    responses: { 200: { description: 'the plan', schema: R.PlanSchema } },
    errors: [...VALIDATE_ERRORS, ...TARGET_ERRORS],
  })
  @Post('offboardings/plan')
  @HttpCode(200)
  planOffboarding(@Body() body: unknown, @CurrentActor() actor: Actor) {
    return this.onboarding.plan('OFFBOARD', body ?? {}, actor);
  }

  /** Queues a request stored with `dryRun: true`; its steps report drift from the stored plan. */
  @ApiOperation({
    operationId: 'applyPlanned',
    tag: 'onboarding',
    summary: 'Queue a request stored with `dryRun: true`',
    description: 'Its steps report drift from the stored plan.',
    roles: ['requester'],
    responses: {
      202: {
        description: 'queued',
        schema: R.AcceptedSchema,
        headers: {
          Location: 'the request: `/v1/onboardings/{id}`',
          'Idempotent-Replayed': '`true` when an Idempotency-Key matched an earlier identical request',
        },
      },
    },
    errors: ['REQUEST_NOT_FOUND', 'REQUEST_NOT_PLANNED', 'REQUEST_CONFLICT'],
  })
  @Post('onboardings/:id/apply')
  async applyPlanned(
    @Param('id') id: string,
    @Body() body: unknown,
    @Res({ passthrough: true }) res: PassthroughReply,
    @CurrentActor() actor: Actor,
  ) {
    parseInput(NoInputSchema, body ?? {});
    return accepted({ request: await this.onboarding.applyPlanned(id, actor), replayed: false }, res);
  }

  @ApiOperation({
    operationId: 'cancelRequest',
    tag: 'onboarding',
    summary: 'Cancel a request',
    description:
      'A request that has not started ends at once (CANCELLED); a RUNNING one stops before its next step or its ' +
      "current step's next attempt, never in the middle of a write.",
    roles: ['requester'],
    body: CancelSchema,
    example: { reason: 'wrong namespace' },
    responses: {
      200: {
        description: 'the request (CANCELLED, or still RUNNING with the cancellation flagged)',
        schema: R.RequestSchema,
      },
    },
    errors: ['VALIDATION_FAILED', 'REQUEST_NOT_FOUND', 'REQUEST_NOT_CANCELLABLE'],
  })
  @Post('onboardings/:id/cancel')
  @HttpCode(200)
  async cancel(@Param('id') id: string, @Body() body: unknown, @CurrentActor() actor: Actor) {
    const { reason } = parseInput(CancelSchema, body ?? {});
    return presentRequest(await this.onboarding.cancel(id, actor, reason));
  }

  /** A new attempt of a FAILED/CANCELLED request; finished steps are not run again. */
  @ApiOperation({
    operationId: 'retryRequest',
    tag: 'onboarding',
    summary: 'Retry a FAILED or CANCELLED request from its first unfinished step',
    description: 'A new attempt of the same request (`attempt` + 1); steps already done are not run again.',
    roles: ['requester'],
    responses: {
      202: {
        description: 'queued again',
        schema: R.AcceptedSchema,
        headers: {
          Location: 'the request: `/v1/onboardings/{id}`',
          'Idempotent-Replayed': '`true` when an Idempotency-Key matched an earlier identical request',
        },
      },
    },
    errors: ['REQUEST_NOT_FOUND', 'REQUEST_NOT_RETRYABLE', 'REQUEST_CONFLICT'],
  })
  @Post('onboardings/:id/retry')
  async retry(
    @Param('id') id: string,
    @Body() body: unknown,
    @Res({ passthrough: true }) res: PassthroughReply,
    @CurrentActor() actor: Actor,
  ) {
    parseInput(NoInputSchema, body ?? {});
    return accepted({ request: await this.onboarding.retry(id, actor), replayed: false }, res);
  }

  @ApiOperation({
    operationId: 'listRequests',
    tag: 'onboarding',
    summary: 'List requests (newest first, paged)',
    description: 'Non-admin callers see the requests within their scopes.',
    roles: ['viewer', 'requester', 'approver'],
    query: ListQuery,
    responses: { 200: { description: 'one page', schema: R.RequestPageSchema } },
    errors: ['VALIDATION_FAILED'],
  })
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

  @ApiOperation({
    operationId: 'getRequest',
    tag: 'onboarding',
    summary: 'A request with its steps (before/after images, writes, diagnostics)',
    roles: ['viewer', 'requester', 'approver'],
    responses: { 200: { description: 'the request', schema: R.RequestSchema } },
    errors: ['REQUEST_NOT_FOUND'],
  })
  @Get('onboardings/:id')
  async get(@Param('id') id: string, @CurrentActor() actor: Actor) {
    return presentRequest(await this.onboarding.read(id, actor));
  }

  /** Server-Sent Events; resumable with Last-Event-ID (the same cursor as the GraphQL subscription). */
  @ApiOperation({
    operationId: 'streamEvents',
    tag: 'onboarding',
    summary: 'Progress as Server-Sent Events',
    description:
      "Replays the stored events after the cursor, then follows live ones; the stream ends after the request's final " +
      'event (`request.succeeded`, `request.failed`, `request.cancelled`, `request.rejected`). Each event has `id: ' +
      '<cursor>`, `event: <type>` and `data: <ProgressEvent JSON>`; `: keep-alive` comments every 15 s. Resume after ' +
      'a disconnect with `Last-Event-ID` (the same cursor as the GraphQL subscription `onboardingProgress(after:)`).',
    roles: ['viewer', 'requester', 'approver'],
    query: EventsQuery,
    headers: ['Last-Event-ID'],
    responses: { 200: { description: 'the event stream', schema: R.ProgressEventSchema, media: 'sse' } },
    errors: ['VALIDATION_FAILED', 'REQUEST_NOT_FOUND', 'TOO_MANY_STREAMS', 'STREAM_CAPACITY_REACHED'],
  })
  @Get('onboardings/:id/events')
  async events(
    @Param('id') id: string,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Query() query: unknown,
    @Res() res: HttpReply,
    @CurrentActor() actor: Actor,
  ) {
    // Every parameter is checked (an unknown one, or `after` given twice, is refused, as by the lists); the header
    // wins, and a refusal names what was used.
    const { after } = parseInput(EventsQuery, query ?? {});
    const field = lastEventId !== undefined ? 'Last-Event-ID' : 'after';
    const cursor = lastEventId !== undefined ? parseInput(ProgressCursor, lastEventId, { field }) : (after ?? 0);
    const request = await this.onboarding.read(id, actor);
    await writeSse(res, await this.progress.open(id, cursorOf(request, cursor, field), actor.id), (e) => e.cursor);
  }

  @ApiOperation({
    operationId: 'requestAudit',
    tag: 'onboarding',
    summary: "A request's audit trail",
    roles: ['viewer', 'requester', 'approver'],
    query: AuditQuery,
    responses: { 200: { description: 'a page of the audit events, in cursor order', schema: R.AuditPageSchema } },
    errors: ['VALIDATION_FAILED', 'REQUEST_NOT_FOUND'],
  })
  @Get('onboardings/:id/audit')
  async audit(@Param('id') id: string, @Query() query: unknown, @CurrentActor() actor: Actor) {
    const page = await this.onboarding.auditEvents(id, actor, parseInput(AuditQuery, query ?? {}));
    const items = page.items.map(presentAuditEvent);
    return { items, pageInfo: { hasNextPage: page.hasNextPage, endCursor: items.at(-1)?.cursor ?? null } };
  }
}

export function accepted({ request, replayed }: CreateResult, res: PassthroughReply) {
  res.status(replayed ? 200 : 202);
  if (replayed) res.header('Idempotent-Replayed', 'true');
  res.header('Location', `/v1/onboardings/${request.id}`);
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
