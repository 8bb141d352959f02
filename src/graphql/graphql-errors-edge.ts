// Owns how a refusal that happens before any resolver runs (authentication, rate limits, validation
// over graphql-ws) becomes a GraphQL error with the same `extensions.code` as everywhere else, and, over
// HTTP, with the same status, Retry-After and WWW-Authenticate as REST.
import type { GraphQLError } from 'graphql';
import { bearerChallenge } from '../common/auth-challenge.js';
import { HTTP_STATUS } from '../common/http-status.js';
import { toDomainError } from '../common/to-domain-error.js';
import { graphqlJs } from './graphql-js.js';

/**
 * A GraphQLError carrying the domain error (formatGraphQLError shapes it) and Apollo's HTTP status; `authorization`:
 * the call's Authorization header, for a 401's challenge.
 */
export function edgeError(err: unknown, authorization?: unknown): GraphQLError {
  const e = toDomainError(err);
  const retryAfter = e.options.details?.retryAfterSeconds;
  const headers = new Map<string, string>();
  if (typeof retryAfter === 'number') headers.set('retry-after', String(retryAfter));
  if (e.code === 'DEPENDENCY_UNAVAILABLE') headers.set('retry-after', '5');
  const challenge = bearerChallenge(e.code, authorization);
  if (challenge) headers.set('www-authenticate', challenge);
  // Apollo reads `extensions.http` (a status and a Map of headers) and strips it from the answer.
  const extensions: Record<string, unknown> = { code: e.code, http: { status: HTTP_STATUS[e.code], headers } };
  return new graphqlJs.GraphQLError(e.message, { originalError: e, extensions });
}

/** graphql-js's own parse/validation errors, with the code Apollo gives them over HTTP. */
export function withCode(errors: readonly GraphQLError[], code: string): GraphQLError[] {
  return errors.map(
    (e) =>
      new graphqlJs.GraphQLError(e.message, {
        nodes: e.nodes,
        source: e.source,
        positions: e.positions,
        extensions: { code },
      }),
  );
}
