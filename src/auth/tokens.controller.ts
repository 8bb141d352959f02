// Owns the REST edge of API tokens (/v1/tokens, admin only).
import { Body, Controller, Delete, Get, Param, Post, Query } from '@nestjs/common';
import { z } from 'zod';
import { parseInput } from '../common/parse-input.js';
import { CurrentActor } from './auth.guard.js';
import type { Actor } from './actor.js';
import { TokenService } from './token.service.js';
import { ApiOperation } from '../docs/api-operation.js';
import * as R from '../docs/response-schemas.js';
import { CreateTokenSchema } from './token.service.js';

/** The token list takes no query parameters (it is not paged): any is refused as unknown, as on the other lists. */
const TokenListQuery = z.strictObject({}).describe('No parameters: every token is listed.');

/** Admin-only: API tokens. The secret is in the creation response only. */
@Controller('v1/tokens')
export class TokensController {
  constructor(private readonly tokens: TokenService) {}

  @ApiOperation({
    operationId: 'createToken',
    tag: 'tokens',
    summary: 'Create an API token',
    description: 'The secret is in this response only; it is stored as a hash.',
    roles: ['admin'],
    body: CreateTokenSchema,
    bodyRequired: true,
    example: { name: 'ci-team-a', roles: ['requester'], scopes: ['prod/team-a-*'], expiresInDays: 90 },
    responses: { 201: { description: 'the token and its secret', schema: R.TokenCreatedSchema } },
    errors: ['VALIDATION_FAILED', 'TOKEN_NAME_TAKEN', 'TOKEN_NAME_RESERVED'],
  })
  @Post()
  create(@Body() body: unknown, @CurrentActor() actor: Actor) {
    return this.tokens.create(body ?? {}, actor);
  }

  @ApiOperation({
    operationId: 'listTokens',
    tag: 'tokens',
    summary: 'List API tokens (never their secrets)',
    roles: ['admin'],
    query: TokenListQuery,
    responses: { 200: { description: 'every token, oldest first', schema: R.TokenListSchema } },
    errors: ['VALIDATION_FAILED'],
  })
  @Get()
  async list(@Query() query: unknown, @CurrentActor() actor: Actor) {
    parseInput(TokenListQuery, query ?? {});
    return { items: await this.tokens.list(actor) };
  }

  @ApiOperation({
    operationId: 'revokeToken',
    tag: 'tokens',
    summary: 'Revoke an API token',
    roles: ['admin'],
    responses: { 200: { description: 'the revoked token', schema: R.TokenSchema } },
    errors: ['TOKEN_NOT_FOUND'],
  })
  @Delete(':id')
  revoke(@Param('id') id: string, @CurrentActor() actor: Actor) {
    return this.tokens.revoke(id, actor);
  }
}
