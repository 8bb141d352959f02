import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuditRepository } from '../audit/audit.repository.js';
import { AuthGuard } from './auth.guard.js';
import { Authenticator } from './authenticator.js';
import { JwtVerifier } from './jwt-verifier.js';
import { TokenService } from './token.service.js';
import { RateLimitService } from './rate-limit.service.js';

@Global()
@Module({
  providers: [TokenService, JwtVerifier, Authenticator, RateLimitService, AuditRepository, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [TokenService, Authenticator],
})
export class AuthModule {}
