import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  type ExportedJWKSCache,
  jwksCache,
  jwtVerify,
  JWTPayload,
  JWTVerifyGetKey,
} from 'jose';
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

/**
 * True when the remote key set threw `err` because it could not get the key set, not because of the token: the
 * fetch failed (a network error, which is not a JOSEError), timed out (JWKSTimeout), or answered something other
 * than a key set (a plain JOSEError: not 200 OK, not JSON; JWKSInvalid: not a key set, or a private key in it).
 * What the key set refuses about the token (JWKSNoMatchingKey: unknown `kid`, even after a refresh;
 * JWKSMultipleMatchingKeys; JOSENotSupported: an `alg` no key set can hold) is the token's doing.
 */
export function isKeySetUnavailable(err: unknown): boolean {
  if (!(err instanceof errors.JOSEError)) return true;
  return err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || err.code === errors.JOSEError.code;
}

/**
 * After a fetch of the JWKS failed, no other is made for this long (the `Retry-After` the 503 names): meanwhile a
 * token the cached key set can judge is judged, any other gets the 503 at once. Without it every token the cached set
 * cannot judge (an unknown `kid`, which anyone can write) would fetch again: jose's cooldown (a `kid` it does not
 * hold is refetched at most every 30 s) starts only at a fetch that succeeded.
 */
export const JWKS_FAILED_FETCH_COOLDOWN_MS = 5_000;

/** Marks a key set failure on its way out of jwtVerify. */
class KeySetUnavailable extends Error {
  constructor(
    cause: unknown,
    /** The cached key set (the last one fetched, of any age) holds no key for the token. */
    readonly unknownKey: boolean,
  ) {
    super('JWKS unavailable', { cause });
  }
}

/**
 * The error a token gets when the JWKS cannot judge it: the identity provider is a dependency, and it is away.
 * `unknownKey`: the last key set fetched holds no key for the token (an unknown `kid`, which needs no credential to
 * write): such a refusal counts against the caller's address like one the key set could judge (Authenticator).
 */
export class KeySetUnavailableError extends DomainError {
  constructor(readonly unknownKey: boolean) {
    super('DEPENDENCY_UNAVAILABLE', "the identity provider's key set (JWKS) is unavailable; retry later", {
      hint: 'the token was not judged; the service recovers by itself when the JWKS answers again',
      loggedAtSource: true,
    });
  }
}

/**
 * jose's remote key set (10-minute cache, a `kid` it does not hold refetched at most every 30 s after a successful
 * fetch, 5 s timeout, one fetch shared by concurrent callers), with a cooldown after a failed fetch
 * (JWKS_FAILED_FETCH_COOLDOWN_MS) and one warning per failed fetch. Throws KeySetUnavailable when the key set could
 * not be had; what the key set refuses about the token, as jose throws it.
 */
export function remoteKeySet(url: URL, warn: (message: string) => void, now: () => number = Date.now): JWTVerifyGetKey {
  const cache = {} as ExportedJWKSCache;
  const remote = createRemoteJWKSet(url, { [jwksCache]: cache });
  // The cached set, without a fetch ever: rebuilt only when jose stored a newer one (it keeps the imported keys).
  let local: { uat: number; getKey: ReturnType<typeof createLocalJWKSet> } | undefined;
  const cached = () => {
    if (cache.jwks === undefined) return undefined;
    if (local?.uat !== cache.uat) local = { uat: cache.uat, getKey: createLocalJWKSet(cache.jwks) };
    return local.getKey;
  };
  const unknownKey = async (...args: Parameters<JWTVerifyGetKey>) => {
    const getKey = cached();
    if (!getKey) return false;
    try {
      await getKey(...args);
      return false;
    } catch (err) {
      return err instanceof errors.JWKSNoMatchingKey;
    }
  };
  let failedAt = -Infinity;
  return async (header, token) => {
    if (now() < failedAt + JWKS_FAILED_FETCH_COOLDOWN_MS) {
      // The last fetch failed a moment ago: what the fresh cached set holds verifies, anything else waits.
      const getKey = remote.fresh ? cached() : undefined;
      if (getKey) {
        try {
          return await getKey(header, token);
        } catch (err) {
          if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
        }
      }
      throw new KeySetUnavailable(undefined, await unknownKey(header, token));
    }
    try {
      return await remote(header, token);
    } catch (err) {
      // Only the key set's own failures are told apart here; signature and claims are checked after it.
      if (!isKeySetUnavailable(err)) throw err;
      // Callers that shared the failed fetch warn once.
      if (now() >= failedAt + JWKS_FAILED_FETCH_COOLDOWN_MS) {
        const reason = ((err as Error)?.message ?? String(err)).split('\n')[0];
        const seconds = JWKS_FAILED_FETCH_COOLDOWN_MS / 1000;
        warn(`JWKS fetch failed (${reason}); no other for ${seconds} s, JWTs it must judge get 503`);
      }
      failedAt = now();
      throw new KeySetUnavailable(err, await unknownKey(header, token));
    }
  };
}

export interface JwtAuthentication {
  actor: Actor;
  /** ms since the epoch (the `exp` claim). */
  expiresAt: number;
}

/**
 * OIDC/JWT bearer tokens verified against a JWKS, with the configured issuer and audience (both
 * required), so a portal can forward its users' identity. Roles and scopes come from claims;
 * scopes are checked like an API token's: a malformed one refuses the token (INVALID_TOKEN_CLAIMS),
 * it is never cut down to something that parses. A JWKS that cannot be fetched (network error, timeout, an answer
 * that is not 200 OK or not a key set) judges no token: that is DEPENDENCY_UNAVAILABLE (503), never a refusal.
 */
@Injectable()
export class JwtVerifier {
  private readonly jwks?: JWTVerifyGetKey;
  private readonly logger = new Logger(JwtVerifier.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly identities: OidcIdentities,
  ) {
    if (config.auth.jwt) {
      this.jwks = remoteKeySet(new URL(config.auth.jwt.jwksUrl), (message) => this.logger.warn(message));
    }
  }

  get enabled(): boolean {
    return this.jwks !== undefined;
  }

  /**
   * The actor for a valid JWT, or null (malformed, bad signature, unknown key, expired, wrong issuer/audience).
   * Throws DEPENDENCY_UNAVAILABLE when the JWKS could not be fetched, INVALID_TOKEN_CLAIMS for malformed scopes.
   */
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
    } catch (err) {
      if (err instanceof KeySetUnavailable) throw new KeySetUnavailableError(err.unknownKey);
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
