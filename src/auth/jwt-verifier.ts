import { Inject, Injectable } from '@nestjs/common';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, JWTPayload } from 'jose';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { Actor, Role, ROLES } from './actor.js';
import { SCOPE_PATTERN } from './scopes.js';
import { OidcIdentities } from './oidc-identities.js';

/** Three base64url parts: the only shape worth handing to the verifier. */
const JWT_FORMAT = /^[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}$/;
const MAX_JWT_LENGTH = 8192;

export const looksLikeJwt = (token: string) => token.length <= MAX_JWT_LENGTH && JWT_FORMAT.test(token);

export interface JwtAuthentication {
  actor: Actor;
  /** ms since the epoch (the `exp` claim). */
  expiresAt: number;
}

/**
 * OIDC/JWT bearer tokens verified against a JWKS, with the configured issuer and audience (both
 * required), so a portal can forward its users' identity. Roles and scopes come from claims;
 * scopes are checked like an API token's: a malformed one refuses the token (INVALID_TOKEN_CLAIMS),
 * it is never cut down to something that parses.
 */
@Injectable()
export class JwtVerifier {
  private readonly jwks?: ReturnType<typeof createRemoteJWKSet>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly identities: OidcIdentities,
  ) {
    if (config.auth.jwt) this.jwks = createRemoteJWKSet(new URL(config.auth.jwt.jwksUrl));
  }

  get enabled(): boolean {
    return this.jwks !== undefined;
  }

  /** The actor for a valid JWT, or null (malformed, bad signature, expired, wrong issuer/audience). */
  async verify(token: string): Promise<JwtAuthentication | null> {
    const jwt = this.config.auth.jwt;
    if (!this.jwks || !jwt || !looksLikeJwt(token)) return null;
    let payload: JWTPayload;
    try {
      // A header that does not decode is refused here, before any key is looked up.
      if (typeof decodeProtectedHeader(token).alg !== 'string') return null;
      // `exp` is required: an identity is only as valid as its token, and a token without one never ends.
      const options = { issuer: jwt.issuer, audience: jwt.audience, requiredClaims: ['exp', 'sub'] };
      ({ payload } = await jwtVerify(token, this.jwks, options));
    } catch {
      return null;
    }
    if (!payload.sub || payload.exp === undefined) return null;
    // Other applications' roles may share the claim: unknown role names are ignored, not an error.
    const roles = claimList(payload[jwt.rolesClaim], jwt.rolesClaim).filter((r): r is Role =>
      (ROLES as readonly string[]).includes(r),
    );
    const scopes = claimList(payload[jwt.scopesClaim], jwt.scopesClaim);
    const bad = scopes.find((s) => !SCOPE_PATTERN.test(s));
    if (bad !== undefined) {
      throw new DomainError(
        'INVALID_TOKEN_CLAIMS',
        `the token's ${jwt.scopesClaim} claim holds "${bad.slice(0, 100)}", not a <cluster>/<namespace> scope`,
        {
          hint: 'fix the identity provider mapping; scopes look like prod/team-a-* or */*',
        },
      );
    }
    const actor: Actor = {
      id: `oidc:${payload.sub}`,
      kind: 'oidc',
      roles: [...new Set(roles)],
      scopes: [...new Set(scopes)],
    };
    const expiresAt = payload.exp * 1000;
    await this.identities.seen(actor, (payload.iat ?? 0) * 1000, expiresAt);
    return { actor, expiresAt };
  }
}

/** A claim as a list: an array of strings, or one string of space- or comma-separated values. */
function claimList(value: unknown, claim: string): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  throw new DomainError('INVALID_TOKEN_CLAIMS', `the token's ${claim} claim must be a list of strings`);
}
