import { Body, Controller, Delete, Get, Param, Post } from '@nestjs/common';
import { CurrentActor } from './auth.guard.js';
import type { Actor } from './actor.js';
import { TokenService } from './token.service.js';

/** Admin-only: API tokens. The secret is in the creation response only. */
@Controller('v1/tokens')
export class TokensController {
  constructor(private readonly tokens: TokenService) {}

  @Post()
  create(@Body() body: unknown, @CurrentActor() actor: Actor) {
    return this.tokens.create(body ?? {}, actor);
  }

  @Get()
  async list(@CurrentActor() actor: Actor) {
    return { items: await this.tokens.list(actor) };
  }

  @Delete(':id')
  revoke(@Param('id') id: string, @CurrentActor() actor: Actor) {
    return this.tokens.revoke(id, actor);
  }
}
