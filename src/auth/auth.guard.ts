import { CanActivate, createParamDecorator, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import type { Actor } from './actor.js';
import { Authenticator } from './authenticator.js';
import { RateLimitService } from './rate-limit.service.js';

const PUBLIC = 'osm-onboarding:public';
/** Health, readiness and metrics answer without credentials. */
export const Public = () => SetMetadata(PUBLIC, true);

type WithActor = { headers?: Record<string, unknown>; actor?: Actor };

function requestOf(ctx: ExecutionContext): WithActor {
  return ctx.getType<string>() === 'graphql'
    ? (GqlExecutionContext.create(ctx).getContext<{ req: WithActor }>().req ?? {})
    : ctx.switchToHttp().getRequest<WithActor>();
}

/** Authenticates every REST and GraphQL call (and subscription); authorization is decided by the services. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: Authenticator,
    private readonly rateLimit: RateLimitService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, [ctx.getHandler(), ctx.getClass()])) return true;
    const req = requestOf(ctx);
    if (!req.actor) {
      req.actor = await this.authenticator.fromHeader(req.headers?.authorization);
      await this.rateLimit.consume(req.actor);
    }
    return true;
  }
}

export const CurrentActor = createParamDecorator((_: unknown, ctx: ExecutionContext): Actor => {
  const actor = requestOf(ctx).actor;
  if (!actor) throw new Error('CurrentActor used on a route without authentication');
  return actor;
});
