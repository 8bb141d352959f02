// Owns authentication and authorization: tokens, OIDC, the guard, sessions, failure limits; and the answer to
// "is the caller an admin?" for code below it (CALLER_IS_ADMIN).
import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { CALLER_IS_ADMIN } from '../common/caller-disclosure.js';
import { callerIsAdmin } from './caller-context.js';
import { AuthFailureLimiter } from './auth-failure-limiter.js';
import { AuthGuard, HttpAuthentication } from './auth.guard.js';
import { Authenticator } from './authenticator.js';
import { JwtVerifier } from './jwt-verifier.js';
import { OidcIdentities } from './oidc-identities.js';
import { TokenService } from './token.service.js';
import { RateLimitService } from './rate-limit.service.js';
import { SessionRegistry } from './sessions.js';

@Global()
@Module({
  providers: [
    TokenService,
    JwtVerifier,
    OidcIdentities,
    Authenticator,
    AuthFailureLimiter,
    RateLimitService,
    SessionRegistry,
    HttpAuthentication,
    { provide: APP_GUARD, useClass: AuthGuard },
    // The cluster gateway asks through this token (kubernetes/ imports nothing of auth/).
    { provide: CALLER_IS_ADMIN, useValue: callerIsAdmin },
  ],
  exports: [
    CALLER_IS_ADMIN,
    TokenService,
    Authenticator,
    AuthFailureLimiter,
    RateLimitService,
    SessionRegistry,
    HttpAuthentication,
  ],
})
export class AuthModule {}
