// Owns the REST edge of webhook subscriptions (/v1/webhooks) and their deliveries.
import { Body, Controller, Delete, Get, Param, Post, Query } from '@nestjs/common';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { WebhookService } from './webhook.service.js';
import { ApiOperation } from '../docs/api-operation.js';
import * as R from '../docs/response-schemas.js';
import { z } from 'zod';
import { parseInput } from '../common/parse-input.js';
import { CreateWebhookSchema, DeliveryQuerySchema } from './webhook.input.js';

/** The webhook list takes no query parameters (it is not paged): any is refused as unknown, as on the other lists. */
const WebhookListQuery = z.strictObject({}).describe('No parameters: every webhook the caller may see is listed.');

/** Webhook subscriptions (chatops). The signing secret is accepted on creation and never returned. */
@Controller('v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhookService) {}

  /** 201; `secret` is present only when the service generated it. */
  @ApiOperation({
    operationId: 'createWebhook',
    tag: 'webhooks',
    summary: 'Subscribe a URL to events (chatops)',
    description:
      'Deliveries are signed with HMAC-SHA256 over `<timestamp>.<body>` (the timestamp and signature are in the ' +
      "headers), retried with backoff, and limited to the creator's scopes. Without `secret`, one is generated and " +
      'returned once. With `format: "slack"` each delivery is a Slack incoming-webhook message (Block Kit) with ' +
      'Approve/Reject buttons while the request waits for approval (see `POST /v1/integrations/slack/interactions`).',
    roles: ['requester'],
    body: CreateWebhookSchema,
    bodyRequired: true,
    example: {
      url: 'https://chat.example.com/hooks/osm',
      eventTypes: ['request.succeeded', 'request.failed'],
      description: 'team-a channel',
    },
    responses: { 201: { description: 'the subscription (and a generated secret)', schema: R.WebhookCreatedSchema } },
    errors: ['VALIDATION_FAILED', 'WEBHOOKS_NOT_CONFIGURED', 'WEBHOOK_LIMIT_REACHED'],
  })
  @Post()
  create(@Body() body: unknown, @CurrentActor() actor: Actor) {
    return this.webhooks.create(body ?? {}, actor);
  }

  @ApiOperation({
    operationId: 'listWebhooks',
    tag: 'webhooks',
    summary: "The caller's webhook subscriptions (an admin's: all)",
    roles: ['requester'],
    query: WebhookListQuery,
    responses: { 200: { description: 'the subscriptions', schema: R.WebhookListSchema } },
    errors: ['VALIDATION_FAILED'],
  })
  @Get()
  async list(@Query() query: unknown, @CurrentActor() actor: Actor) {
    parseInput(WebhookListQuery, query ?? {});
    return { items: await this.webhooks.list(actor) };
  }

  @ApiOperation({
    operationId: 'getWebhook',
    tag: 'webhooks',
    summary: 'A webhook subscription (never its secret)',
    roles: ['requester'],
    responses: { 200: { description: 'the subscription', schema: R.WebhookSchema } },
    errors: ['WEBHOOK_NOT_FOUND'],
  })
  @Get(':id')
  read(@Param('id') id: string, @CurrentActor() actor: Actor) {
    return this.webhooks.read(id, actor);
  }

  @ApiOperation({
    operationId: 'deleteWebhook',
    tag: 'webhooks',
    summary: 'Delete a webhook subscription',
    roles: ['requester'],
    responses: { 200: { description: 'the deleted subscription', schema: R.WebhookSchema } },
    errors: ['WEBHOOK_NOT_FOUND'],
  })
  @Delete(':id')
  delete(@Param('id') id: string, @CurrentActor() actor: Actor) {
    return this.webhooks.delete(id, actor);
  }

  /** Deliveries with every attempt; `?status=FAILED&limit=20&after=<cursor>`. */
  @ApiOperation({
    operationId: 'listDeliveries',
    tag: 'webhooks',
    summary: "A subscription's deliveries with every attempt",
    roles: ['requester'],
    query: DeliveryQuerySchema,
    responses: { 200: { description: 'one page, newest first', schema: R.WebhookDeliveryPageSchema } },
    errors: ['VALIDATION_FAILED', 'WEBHOOK_NOT_FOUND'],
  })
  @Get(':id/deliveries')
  deliveries(@Param('id') id: string, @Query() query: unknown, @CurrentActor() actor: Actor) {
    return this.webhooks.deliveries(id, query ?? {}, actor);
  }
}
