import { CanActivate, createParamDecorator, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import type { Actor } from './actor.js';
import { Authenticator } from './authenticator.js';

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
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, [ctx.getHandler(), ctx.getClass()])) return true;
    const req = requestOf(ctx);
    req.actor ??= await this.authenticator.fromHeader(req.headers?.authorization);
    return true;
  }
}

export const CurrentActor = createParamDecorator((_: unknown, ctx: ExecutionContext): Actor => {
  const actor = requestOf(ctx).actor;
  if (!actor) throw new Error('CurrentActor used on a route without authentication');
  return actor;
});
