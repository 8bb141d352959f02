import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Counter } from 'prom-client';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { MetricsService } from '../observability/metrics.service.js';
import { ANONYMOUS, Actor } from './actor.js';
import { AuthFailureLimiter } from './auth-failure-limiter.js';
import { JwtVerifier, KeySetUnavailableError, looksLikeJwt } from './jwt-verifier.js';
import type { Credential } from './sessions.js';
import { TOKEN_FORMAT, TokenService } from './token.service.js';

export interface Authentication {
  actor: Actor;
  credential: Credential;
}

/** Longer than any token we issue or any sane JWT: refused before it is hashed or parsed. */
const MAX_SECRET_LENGTH = 8192;

/**
 * Turns an `Authorization` header into an Actor and the credential it was made with, for HTTP,
 * GraphQL, SSE and the graphql-ws handshake and operations alike. Given the client's address, a
 * failure counts against that address (AUTH_FAILURES_PER_MINUTE) and an address over its budget
 * is refused (429) before any work is done for it. A credential nothing could judge (the JWKS or
 * Postgres away: DEPENDENCY_UNAVAILABLE) is not a failure and does not count, except a JWT whose key the last key
 * set fetched does not hold (an unknown `kid`: anyone can write one): that 503 counts, so it cannot be sent without
 * limit.
 */
@Injectable()
export class Authenticator {
  private readonly failures: Counter<'reason'>;

  constructor(
    private readonly tokens: TokenService,
    private readonly jwt: JwtVerifier,
    private readonly limiter: AuthFailureLimiter,
    metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    const logger = new Logger(Authenticator.name);
    if (config.auth.mode === 'none')
      logger.warn('AUTH_MODE=none: every caller is an anonymous admin; never use this outside development');
    else if (!config.auth.adminToken && !config.auth.jwt) {
      logger.warn(
        'no OSM_ONBOARDING_ADMIN_TOKEN and no AUTH_JWKS_URL: only API tokens already in the database can authenticate',
      );
    }
    this.failures = new Counter({
      name: 'osm_onboarding_auth_failures_total',
      help: 'Refused authentications by reason (missing, malformed, invalid, claims, rate_limited, jwks_unavailable)',
      labelNames: ['reason'],
      registers: [metrics.registry],
    });
  }

  /**
   * `address`: the client's, for the per-address failure budget; left out when re-checking a
   * credential that was already admitted (an operation on an open WebSocket).
   */
  async authenticate(header: unknown, address?: string): Promise<Authentication> {
    if (this.config.auth.mode === 'none')
      return { actor: ANONYMOUS, credential: { key: 'anonymous', kind: 'anonymous' } };
    if (address !== undefined) {
      try {
        this.limiter.assertAllowed(address);
      } catch (err) {
        this.failures.inc({ reason: 'rate_limited' });
        throw err;
      }
    }
    try {
      return await this.verify(header);
    } catch (err) {
      const code = (err as DomainError).code;
      const counted =
        code === 'UNAUTHENTICATED' ||
        code === 'INVALID_TOKEN_CLAIMS' ||
        (err instanceof KeySetUnavailableError && err.unknownKey);
      if (address !== undefined && counted) {
        await this.limiter.failed(address).catch((limited: unknown) => {
          this.failures.inc({ reason: 'rate_limited' });
          throw limited;
        });
      }
      throw err;
    }
  }

  private async verify(header: unknown): Promise<Authentication> {
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
    if (!match) throw this.refuse('missing', 'missing bearer token (Authorization: Bearer <token>)');
    const secret = match[1];
    if (secret.length > MAX_SECRET_LENGTH) throw this.refuse('malformed', 'invalid, expired or revoked token');
    if (this.jwt.enabled && looksLikeJwt(secret)) {
      let found;
      try {
        found = await this.jwt.verify(secret);
      } catch (err) {
        const code = (err as DomainError).code;
        if (code === 'INVALID_TOKEN_CLAIMS') this.failures.inc({ reason: 'claims' });
        else if (code === 'DEPENDENCY_UNAVAILABLE') this.failures.inc({ reason: 'jwks_unavailable' });
        throw err;
      }
      if (!found) throw this.refuse('invalid', 'invalid, expired or revoked token');
      const key = createHash('sha256').update(secret).digest('hex');
      return { actor: found.actor, credential: { key, kind: 'jwt', expiresAt: found.expiresAt } };
    }
    const found = await this.tokens.authenticate(secret);
    if (!found)
      throw this.refuse(TOKEN_FORMAT.test(secret) ? 'invalid' : 'malformed', 'invalid, expired or revoked token');
    return { actor: found.actor, credential: { key: found.hash, kind: found.kind, expiresAt: found.expiresAt } };
  }

  private refuse(reason: string, message: string): DomainError {
    this.failures.inc({ reason });
    return new DomainError('UNAUTHENTICATED', message);
  }
}
