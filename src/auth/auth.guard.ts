import { CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import type { Actor } from './actor.js';
import { Authenticator } from './authenticator.js';
import { setCaller } from './caller-context.js';
import { AddressOf, clientAddressResolver } from './client-address.js';
import { RateLimitService } from './rate-limit.service.js';
import { attachCredential, SessionRegistry } from './sessions.js';

export const PUBLIC = 'osm-onboarding:public';
/** Health, readiness and metrics answer without credentials. */
export const Public = () => SetMetadata(PUBLIC, true);

type WithActor = { headers?: Record<string, unknown>; actor?: Actor };

function requestOf(ctx: ExecutionContext): WithActor {
  return ctx.getType<string>() === 'graphql'
    ? (GqlExecutionContext.create(ctx).getContext<{ req: WithActor }>().req ?? {})
    : ctx.switchToHttp().getRequest<WithActor>();
}

/**
 * Authenticates an HTTP request once (REST, SSE, GraphQL over HTTP): the actor, the caller's
 * rate limit, the credential a stream opened by the call watches, the caller for code below.
 */
@Injectable()
export class HttpAuthentication {
  private readonly addressOf: AddressOf;

  constructor(
    private readonly authenticator: Authenticator,
    private readonly rateLimit: RateLimitService,
    private readonly sessions: SessionRegistry,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.addressOf = clientAddressResolver(config.auth.trustProxy);
  }

  async authenticate(req: WithActor): Promise<Actor> {
    if (req.actor) return req.actor;
    const address = (req as IncomingMessage).socket ? this.addressOf(req as IncomingMessage) : undefined;
    const { actor, credential } = await this.authenticator.authenticate(req.headers?.authorization, address);
    await this.rateLimit.consume(actor);
    req.actor = actor;
    attachCredential(req, this.sessions, credential);
    setCaller(actor);
    return actor;
  }
}

/** Authenticates every REST and GraphQL call (and subscription); authorization is decided by the services. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly http: HttpAuthentication,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, [ctx.getHandler(), ctx.getClass()])) return true;
    await this.http.authenticate(requestOf(ctx));
    return true;
  }
}

export const CurrentActor = createParamDecorator((_: unknown, ctx: ExecutionContext): Actor => {
  const actor = requestOf(ctx).actor;
  if (!actor) throw new Error('CurrentActor used on a route without authentication');
  return actor;
});
