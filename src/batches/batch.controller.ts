// Owns the REST edge of batches (/v1/batches): create, plan, read, operate on every member, follow (SSE).
import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { HttpReply, PassthroughReply } from '../common/http-reply.js';
import { z } from 'zod';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { parseInput } from '../common/parse-input.js';
import { presentRequest } from '../onboarding/api/onboarding.presenter.js';
import { BATCH_CURSOR_PATTERN } from '../events/batch-cursor.js';
import { writeSse } from '../events/sse.js';
import { BatchService, BatchView } from './batch.service.js';
import { ApproveSchema, RejectSchema } from '../approvals/approval.service.js';
import { ApiOperation, ONBOARD_TARGET_ERRORS, VALIDATE_ERRORS } from '../docs/api-operation.js';
import * as R from '../docs/response-schemas.js';
import { CancelSchema, parseIdempotencyKey } from '../onboarding/api/shared-inputs.js';
import { BatchInputSchema } from './batch.service.js';

export const presentBatch = (b: BatchView) => ({ ...b, requests: b.requests.map(presentRequest) });

/** The body of a batch operation: that of the single-request operation. */
const BatchOperationInput = z.union([ApproveSchema, RejectSchema, CancelSchema]).meta({
  id: 'BatchOperationInput',
  description: 'approve: ApproveInput; reject: RejectInput; cancel: CancelInput; retry, apply: no body.',
});

const BatchEventsQuery = z.strictObject({
  after: z
    .string()
    .regex(new RegExp(BATCH_CURSOR_PATTERN))
    .optional()
    .describe(
      'Resume after this batch cursor, `b2.…` (the `Last-Event-ID` header wins; an older `b1.…` cursor or an event ' +
        'id is accepted).',
    ),
});

/** `after` or Last-Event-ID as it arrives: one string (the format is parseBatchCursor's). */
const CursorParam = z.string({ error: 'must be one batch cursor or event id, given once' }).optional();

@Controller('v1/batches')
export class BatchController {
  constructor(private readonly batches: BatchService) {}

  @ApiOperation({
    operationId: 'createBatch',
    tag: 'batches',
    summary: 'Onboard or offboard several namespaces together',
    description:
      'One request per target under a batch id, validated and stored as a whole (one refused target refuses the ' +
      'batch). `options` are the fields of an onboarding/offboarding body other than cluster and namespace.',
    roles: ['requester'],
    body: BatchInputSchema,
    bodyRequired: true,
    example: {
      kind: 'ONBOARD',
      targets: [{ namespace: 'bookbuyer' }, { namespace: 'bookthief' }],
      options: { restart: { mode: 'all' } },
    },
    headers: ['Idempotency-Key'],
    responses: {
      202: {
        description: 'the batch with its requests',
        schema: R.BatchSchema,
        headers: { Location: 'the batch: `/v1/batches/{id}`' },
      },
      200: {
        description: 'an Idempotency-Key matched an earlier identical batch of this caller: that batch',
        schema: R.BatchSchema,
        headers: {
          Location: 'the batch: `/v1/batches/{id}`',
          'Idempotent-Replayed': '`true`: the answer is the earlier batch, nothing new was created',
        },
      },
    },
    errors: [
      ...VALIDATE_ERRORS,
      'MESH_NOT_FOUND',
      'NAMESPACE_IS_CONTROL_PLANE',
      // Every refused target with the same one of these: the batch's code (else VALIDATION_FAILED).
      ...ONBOARD_TARGET_ERRORS,
      'REQUEST_CONFLICT',
      'IDEMPOTENCY_KEY_REUSED',
      'MESH_WIDE_CHANGE_FORBIDDEN',
    ],
  })
  @Post()
  async create(
    @Body() body: unknown,
    @Headers('idempotency-key') key: string | undefined,
    @CurrentActor() actor: Actor,
    @Res({ passthrough: true }) res: PassthroughReply,
  ) {
    const idempotencyKey = parseIdempotencyKey(key, 'Idempotency-Key');
    const { batch, replayed } = await this.batches.create(body ?? {}, actor, idempotencyKey);
    res.status(replayed ? 200 : 202);
    if (replayed) res.header('Idempotent-Replayed', 'true');
    res.header('Location', `/v1/batches/${batch.id}`);
    return presentBatch(batch);
  }

  @ApiOperation({
    operationId: 'planBatch',
    tag: 'batches',
    summary: 'Plan a batch (dry run, nothing stored)',
    roles: ['requester'],
    body: BatchInputSchema,
    bodyRequired: true,
    example: { kind: 'ONBOARD', targets: [{ namespace: 'bookbuyer' }, { namespace: 'bookthief' }] },
    responses: { 200: { description: 'one plan per target', schema: R.BatchPlansSchema } },
    errors: [...VALIDATE_ERRORS, 'MESH_NOT_FOUND', 'NAMESPACE_IS_CONTROL_PLANE', ...ONBOARD_TARGET_ERRORS],
  })
  @Post('plan')
  @HttpCode(200)
  async plan(@Body() body: unknown, @CurrentActor() actor: Actor) {
    return { plans: await this.batches.plan(body ?? {}, actor) };
  }

  @ApiOperation({
    operationId: 'getBatch',
    tag: 'batches',
    summary: 'A batch: aggregate status, counts by status, its requests',
    roles: ['viewer', 'requester', 'approver'],
    responses: { 200: { description: 'the batch', schema: R.BatchSchema } },
    errors: ['BATCH_NOT_FOUND'],
  })
  @Get(':id')
  async get(@Param('id') id: string, @CurrentActor() actor: Actor) {
    return presentBatch(await this.batches.get(id, actor));
  }

  /** approve | reject | cancel | retry | apply — applied to every member it applies to. */
  @ApiOperation({
    operationId: 'batchOperation',
    tag: 'batches',
    summary: 'Approve, reject, cancel, retry or apply every member it applies to',
    description:
      'The body is that of the single-request operation: `{comment?}` for approve, `{reason}` for reject, ' +
      "`{reason?}` for cancel, none for retry and apply. One member's refusal does not stop the others: see " +
      '`results`. Roles as for the single-request operation.',
    roles: ['requester', 'approver'],
    body: BatchOperationInput,
    example: { reason: 'not during the freeze' },
    responses: {
      200: { description: 'the batch after the operation and the outcome per member', schema: R.BatchOperationSchema },
    },
    errors: ['VALIDATION_FAILED', 'BATCH_NOT_FOUND'],
  })
  @Post(':id/:op')
  @HttpCode(200)
  async each(@Param('id') id: string, @Param('op') op: string, @Body() body: unknown, @CurrentActor() actor: Actor) {
    const operation = parseInput(
      z.enum(['approve', 'reject', 'cancel', 'retry', 'apply'], {
        error: 'must be approve, reject, cancel, retry or apply',
      }),
      op,
      { field: 'op' },
    );
    const { batch, results } = await this.batches.each(id, actor, operation, body ?? {});
    return { batch: presentBatch(batch), results };
  }

  /** SSE of every member's events; each SSE id is the batch cursor to resume after that event. */
  @ApiOperation({
    operationId: 'streamBatchEvents',
    tag: 'batches',
    summary: "Every member's progress as Server-Sent Events",
    description:
      'As `/v1/onboardings/{id}/events`, for all members, none skipped; each SSE `id` is the batch cursor to resume ' +
      'after that event (`after` or `Last-Event-ID`; an older global event id is still accepted from admins).',
    roles: ['viewer', 'requester', 'approver'],
    query: BatchEventsQuery,
    headers: ['Last-Event-ID:batch'],
    responses: { 200: { description: 'the event stream', schema: R.ProgressEventSchema, media: 'sse' } },
    errors: ['VALIDATION_FAILED', 'BATCH_NOT_FOUND', 'TOO_MANY_STREAMS', 'STREAM_CAPACITY_REACHED'],
  })
  @Get(':id/events')
  async events(
    @Param('id') id: string,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Query() query: unknown,
    @Res() res: HttpReply,
    @CurrentActor() actor: Actor,
  ) {
    // Every parameter is checked (an unknown one is refused, as by the lists); the header wins, and a refusal names
    // what was used; the cursor's format is checked by parseBatchCursor, for GraphQL's batchProgress(after:) too. A
    // query parameter given twice arrives as an array: refused here.
    const { after } = parseInput(z.strictObject({ after: CursorParam }), query ?? {});
    const field = lastEventId !== undefined ? 'Last-Event-ID' : 'after';
    const cursor = lastEventId !== undefined ? parseInput(CursorParam, lastEventId, { field }) : after;
    const stream = await this.batches.events(id, actor, cursor, { after: field });
    await writeSse(res, stream, (e) => e.batchCursor ?? e.id);
  }
}
