import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { ANONYMOUS, Actor } from './actor.js';
import { JwtVerifier } from './jwt-verifier.js';
import { TokenService } from './token.service.js';

/** Turns an `Authorization` header into an Actor, for HTTP, GraphQL and the graphql-ws handshake alike. */
@Injectable()
export class Authenticator {
  constructor(
    private readonly tokens: TokenService,
    private readonly jwt: JwtVerifier,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    const logger = new Logger(Authenticator.name);
    if (config.auth.mode === 'none') logger.warn('AUTH_MODE=none: every caller is an anonymous admin; never use this outside development');
    else if (!config.auth.adminToken && !config.auth.jwt) {
      logger.warn('no OSM_ONBOARDING_ADMIN_TOKEN and no AUTH_JWKS_URL: only API tokens already in the database can authenticate');
    }
  }

  async fromHeader(header: unknown): Promise<Actor> {
    if (this.config.auth.mode === 'none') return ANONYMOUS;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
    if (!match) throw new DomainError('UNAUTHENTICATED', 'missing bearer token (Authorization: Bearer <token>)');
    const secret = match[1];
    const actor = secret.split('.').length === 3 && this.jwt.enabled ? await this.jwt.verify(secret) : await this.tokens.authenticate(secret);
    if (!actor) throw new DomainError('UNAUTHENTICATED', 'invalid, expired or revoked token');
    return actor;
  }
}
