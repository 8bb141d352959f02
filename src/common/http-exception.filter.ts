import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { bearerChallenge } from './auth-challenge.js';
import { headersSent, nodeResponse, send } from './http-reply.js';
import { DomainError } from './domain-error.js';
import { HTTP_STATUS } from './http-status.js';
import { toDomainError } from './to-domain-error.js';

/**
 * The REST edge: every error leaves as `{ error: { code, message, fields?, hint?, details? } }`, with the headers its
 * code asks for (Retry-After; WWW-Authenticate on a 401 about the bearer credential).
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
    const error = exception instanceof HttpException ? fromHttpException(exception) : toDomainError(exception);
    const status =
      error.code === 'MALFORMED_REQUEST' && exception instanceof HttpException
        ? exception.getStatus()
        : HTTP_STATUS[error.code];
    const retryAfter = error.options.details?.retryAfterSeconds;
    const headers: Record<string, string> = {};
    if (typeof retryAfter === 'number') headers['Retry-After'] = String(retryAfter);
    const authorization = host.switchToHttp().getRequest<{ headers?: Record<string, unknown> }>()
      ?.headers?.authorization;
    const challenge = bearerChallenge(error.code, authorization);
    if (challenge) headers['WWW-Authenticate'] = challenge;
    // Postgres or Redis away: a coded 503 the caller can retry, logged once per request without a stack.
    if (error.code === 'DEPENDENCY_UNAVAILABLE') {
      headers['Retry-After'] = '5';
      const firstLine = (exception as Error)?.message?.split('\n').find((l) => l.trim());
      this.logger.warn(`${error.code}: ${firstLine ?? JSON.stringify(exception)}`);
    } else if (status >= 500) this.logger.error(`${error.code}: ${(exception as Error)?.message ?? exception}`);
    const body = {
      error: {
        code: error.code,
        message: error.message,
        ...(error.fields.length ? { fields: error.fields } : {}),
        ...(error.options.hint ? { hint: error.options.hint } : {}),
        ...(error.options.details ? { details: error.options.details } : {}),
      },
    };
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
  return new DomainError('MALFORMED_REQUEST', status === 400 ? `malformed request: ${e.message}` : e.message);
}
