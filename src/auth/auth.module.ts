import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
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
  ],
  exports: [TokenService, Authenticator, AuthFailureLimiter, RateLimitService, SessionRegistry, HttpAuthentication],
})
export class AuthModule {}
