import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { z } from 'zod';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { parseInput } from '../onboarding/onboarding.input.js';
import { presentRequest } from '../onboarding/api/onboarding.presenter.js';
import { writeSse } from '../events/sse.js';
import { BatchService, BatchView } from './batch.service.js';

export const presentBatch = (b: BatchView) => ({ ...b, requests: b.requests.map(presentRequest) });

@Controller('v1/batches')
export class BatchController {
  constructor(private readonly batches: BatchService) {}

  @Post()
  async create(@Body() body: unknown, @CurrentActor() actor: Actor, @Res({ passthrough: true }) res: Response) {
    const batch = await this.batches.create(body ?? {}, actor);
    res.status(202).setHeader('Location', `/v1/batches/${batch.id}`);
    return presentBatch(batch);
  }

  @Post('plan')
  @HttpCode(200)
  async plan(@Body() body: unknown, @CurrentActor() actor: Actor) {
    return { plans: await this.batches.plan(body ?? {}, actor) };
  }

  @Get(':id')
  async get(@Param('id') id: string, @CurrentActor() actor: Actor) {
    return presentBatch(await this.batches.get(id, actor));
  }

  /** approve | reject | cancel | retry | apply — applied to every member it applies to. */
  @Post(':id/:op')
  @HttpCode(200)
  async each(@Param('id') id: string, @Param('op') op: string, @Body() body: unknown, @CurrentActor() actor: Actor) {
    const operation = parseInput(
      z.enum(['approve', 'reject', 'cancel', 'retry', 'apply'], {
        error: 'must be approve, reject, cancel, retry or apply',
      }),
      op,
    );
    const { batch, results } = await this.batches.each(id, actor, operation, body ?? {});
    return { batch: presentBatch(batch), results };
  }

  /** SSE of every member's events; each SSE id is the batch cursor to resume after that event. */
  @Get(':id/events')
  async events(
    @Param('id') id: string,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Query('after') after: string | undefined,
    @Res() res: Response,
    @CurrentActor() actor: Actor,
  ) {
    const field = lastEventId !== undefined ? 'Last-Event-ID' : 'after';
    const stream = await this.batches.events(id, actor, lastEventId ?? after, field);
    await writeSse(res, stream, (e) => e.batchCursor ?? e.id);
  }
}
