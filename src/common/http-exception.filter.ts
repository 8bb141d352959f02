import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { bearerChallenge } from './auth-challenge.js';
import { errorBodyFor, pathOfUrl } from './error-body.js';
import { headersSent, nodeResponse, send } from './http-reply.js';
import { DomainError, type ErrorCode } from './domain-error.js';
import { HTTP_STATUS } from './http-status.js';
import { isClientAbort, toDomainError } from './to-domain-error.js';

/** What a body cut short is answered (when the socket can still take an answer). */
const CLIENT_ABORT = new DomainError(
  'MALFORMED_REQUEST',
  'malformed request: the connection ended before the request was complete',
);

/**
 * Coded 5xx refusals that say how this server is configured, the same on every call (anyone can call the Slack
 * callback): logged at debug, so a caller cannot fill the log with them.
 */
const QUIET_CODES = new Set<ErrorCode>(['SLACK_NOT_CONFIGURED', 'WEBHOOKS_NOT_CONFIGURED']);

/**
 * The REST edge: every error leaves as `{ error: { code, message, fields?, hint?, details? } }` (on /graphql, where
 * it refuses a body before Apollo reads it, in GraphQL's shape: error-body.ts), with the headers its code asks for
 * (Retry-After; WWW-Authenticate on a 401 about the bearer credential).
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(exception: unknown, host: ArgumentsHost): void {
    // GraphQL errors are shaped by formatGraphQLError; let them pass through.
    if (host.getType<string>() !== 'http') throw exception;
    const res = host.switchToHttp().getResponse<object>();
    if (headersSent(res)) {
      nodeResponse(res).end();
      return;
    }
    const request = host
      .switchToHttp()
      .getRequest<{ raw?: { url?: string }; url?: string; originalUrl?: string; headers?: Record<string, unknown> }>();
    // The caller's connection ended while its body was read: the caller's doing, not the service's (Node's HTTP
    // parser has already answered it, 'clientError' in src/http/platform.ts, when the socket could still take it).
    const aborted = isClientAbort(exception, request?.raw ?? request);
    const error = aborted
      ? CLIENT_ABORT
      : exception instanceof HttpException
        ? fromHttpException(exception)
        : toDomainError(exception);
    const status =
      error.code === 'MALFORMED_REQUEST' && exception instanceof HttpException && !aborted
        ? exception.getStatus()
        : HTTP_STATUS[error.code];
    const retryAfter = error.options.details?.retryAfterSeconds;
    const headers: Record<string, string> = {};
    if (typeof retryAfter === 'number') headers['Retry-After'] = String(retryAfter);
    const challenge = bearerChallenge(error.code, request?.headers?.authorization);
    if (challenge) headers['WWW-Authenticate'] = challenge;
    if (error.code === 'DEPENDENCY_UNAVAILABLE') {
      // Postgres or Redis away: a coded 503 the caller can retry, logged once per request without a stack.
      headers['Retry-After'] = '5';
      const firstLine = (exception as Error)?.message?.split('\n').find((l) => l.trim());
      // E.g. the identity provider's key set away: the verifier warns once per failed fetch, not once per caller.
      if (error.options.loggedAtSource) this.logger.debug(`${error.code}: ${firstLine}`);
      else this.logger.warn(`${error.code}: ${firstLine ?? JSON.stringify(exception)}`);
    } else if (aborted || QUIET_CODES.has(error.code)) {
      this.logger.debug(`${error.code}: ${error.message}`);
    } else if (error.code === 'INTERNAL' || (status >= 500 && !(exception instanceof DomainError))) {
      // Only the unexpected is an error: what was thrown, not what the caller is told.
      this.logger.error(`${error.code}: ${(exception as Error)?.message ?? exception}`);
    } else if (status >= 500) {
      // A coded refusal the service meant (a cluster unreachable, no stream slot left): a warning, not an error.
      this.logger.warn(`${error.code}: ${error.message}`);
    }
    const body = errorBodyFor(pathOfUrl(request?.originalUrl ?? (request?.raw ?? request)?.url), {
      error: {
        code: error.code,
        message: error.message,
        ...(error.fields.length ? { fields: error.fields } : {}),
        ...(error.options.hint ? { hint: error.options.hint } : {}),
        ...(error.options.details ? { details: error.options.details } : {}),
      },
    });
    send(res, { status, body, headers });
  }
}

/** What ROUTE_NOT_FOUND says besides `no route <METHOD> <path>` (the router's 404, a WebSocket upgrade elsewhere). */
export const ROUTE_NOT_FOUND_HINT = 'the REST API is under /v1 (see /docs); GraphQL is POST /graphql';

function fromHttpException(e: HttpException): DomainError {
  const status = e.getStatus();
  // The router's 404: no route matches (the controllers answer unknown ids with their own coded DomainErrors).
  if (status === 404) {
    const message = e.message.replace(/^Cannot (\S+) (.*)$/, 'no route $1 $2');
    return new DomainError('ROUTE_NOT_FOUND', message, { hint: ROUTE_NOT_FOUND_HINT });
  }
  if (status === 413) return new DomainError('MALFORMED_REQUEST', 'request body too large');
  const cause = e.cause as { type?: unknown; code?: unknown } | undefined;
  // A Content-Encoding no parser reads (body-parser's `encoding.unsupported`, the Fastify edge's copy of it).
  if (cause?.type === 'encoding.unsupported') {
    return new DomainError('UNSUPPORTED_MEDIA_TYPE', e.message, {
      hint: 'send the body as is, or gzip, deflate or br',
    });
  }
  // zlib refused the bytes (Z_DATA_ERROR, Z_BUF_ERROR, ERR__BROTLI_*): the body is not what its encoding says.
  if (typeof cause?.code === 'string' && /^(Z_|ERR__?BROTLI)/.test(cause.code)) {
    return new DomainError('MALFORMED_REQUEST', 'malformed request: the body could not be decoded (Content-Encoding)');
  }
  // The JSON parser of either HTTP platform (body-parser's `entity.parse.failed`, Fastify's FST_ERR_CTP_*_JSON_BODY):
  // one message on both, which names no parser.
  if (cause?.type === 'entity.parse.failed' || /^FST_ERR_CTP_(INVALID|EMPTY)_JSON_BODY$/.test(String(cause?.code))) {
    return new DomainError('MALFORMED_REQUEST', 'malformed request: the body is not valid JSON');
  }
  // A media type no parser of the route reads (Fastify's FST_ERR_CTP_INVALID_MEDIA_TYPE, past the paths the edge
  // checks itself, json-content-type.ts): the header is named, its value not repeated.
  if (status === 415) {
    return new DomainError('UNSUPPORTED_MEDIA_TYPE', 'the body has a Content-Type this route does not read');
  }
  return new DomainError('MALFORMED_REQUEST', status === 400 ? `malformed request: ${e.message}` : e.message);
}
