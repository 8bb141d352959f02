import { Inject, Injectable } from '@nestjs/common';
import { createRemoteJWKSet, jwtVerify, JWTPayload } from 'jose';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { Actor, Role, ROLES } from './actor.js';

/** OIDC/JWT bearer tokens verified against a JWKS, so a portal can forward its users' identity. */
@Injectable()
export class JwtVerifier {
  private readonly jwks?: ReturnType<typeof createRemoteJWKSet>;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    if (config.auth.jwt) this.jwks = createRemoteJWKSet(new URL(config.auth.jwt.jwksUrl));
  }

  get enabled(): boolean {
    return this.jwks !== undefined;
  }

  /** The actor for a valid JWT, or null (bad signature, expired, wrong issuer/audience). */
  async verify(token: string): Promise<Actor | null> {
    const jwt = this.config.auth.jwt;
    if (!this.jwks || !jwt) return null;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, { issuer: jwt.issuer, audience: jwt.audience }));
    } catch {
      return null;
    }
    if (!payload.sub) return null;
    const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : []);
    return {
      id: `oidc:${payload.sub}`,
      kind: 'oidc',
      roles: list(payload[jwt.rolesClaim]).filter((r): r is Role => (ROLES as readonly string[]).includes(r)),
      scopes: list(payload[jwt.scopesClaim]),
    };
  }
}
