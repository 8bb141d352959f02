// Owns the challenge a 401 about the caller's bearer credential carries (RFC 6750 §3, RFC 9110 §11.6.1): the
// `WWW-Authenticate` header of the REST/SSE exception filter and of GraphQL over HTTP (graphql-errors-edge.ts).
import type { ErrorCode } from './domain-error.js';

export const AUTH_REALM = 'osm-onboarding';

/** The refusals of a bearer credential (Slack's signature refusals are not: no bearer token would pass them). */
const BEARER_REFUSALS: ReadonlySet<ErrorCode> = new Set(['UNAUTHENTICATED', 'INVALID_TOKEN_CLAIMS']);

/**
 * The `WWW-Authenticate` value for a refusal coded `code` of a call sent with this `Authorization` header, or
 * undefined when the refusal is not about a bearer credential. A token that was sent and refused adds
 * `error="invalid_token"`; without one (no header, another scheme) the challenge names no error, as RFC 6750 asks.
 */
export function bearerChallenge(code: ErrorCode, authorization: unknown): string | undefined {
  if (!BEARER_REFUSALS.has(code)) return undefined;
  const presented = typeof authorization === 'string' && /^\s*Bearer\s+\S+\s*$/i.test(authorization);
  return `Bearer realm="${AUTH_REALM}"${presented ? ', error="invalid_token"' : ''}`;
}
