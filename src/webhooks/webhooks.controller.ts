import { Body, Controller, Delete, Get, Param, Post, Query } from '@nestjs/common';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { WebhookService } from './webhook.service.js';

/** Webhook subscriptions (chatops). The signing secret is accepted on creation and never returned. */
@Controller('v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhookService) {}

  /** 201; `secret` is present only when the service generated it. */
  @Post()
  create(@Body() body: unknown, @CurrentActor() actor: Actor) {
    return this.webhooks.create(body ?? {}, actor);
  }

  @Get()
  async list(@CurrentActor() actor: Actor) {
    return { items: await this.webhooks.list(actor) };
  }

  @Get(':id')
  read(@Param('id') id: string, @CurrentActor() actor: Actor) {
    return this.webhooks.read(id, actor);
  }

  @Delete(':id')
  delete(@Param('id') id: string, @CurrentActor() actor: Actor) {
    return this.webhooks.delete(id, actor);
  }

  /** Deliveries with every attempt; `?status=FAILED&limit=20&after=<cursor>`. */
  @Get(':id/deliveries')
  deliveries(@Param('id') id: string, @Query() query: unknown, @CurrentActor() actor: Actor) {
    return this.webhooks.deliveries(id, query ?? {}, actor);
  }
}
