import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { DomainError } from './domain-error.js';
import { HTTP_STATUS } from './http-status.js';
import { toDomainError } from './to-domain-error.js';

/** The REST edge: every error leaves as `{ error: { code, message, fields?, hint?, details? } }`. */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(exception: unknown, host: ArgumentsHost): void {
    // GraphQL errors are shaped by formatGraphQLError; let them pass through.
    if (host.getType<string>() !== 'http') throw exception;
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) {
      res.end();
      return;
    }
    const error = exception instanceof HttpException ? fromHttpException(exception) : toDomainError(exception);
    const status =
      error.code === 'MALFORMED_REQUEST' && exception instanceof HttpException
        ? exception.getStatus()
        : HTTP_STATUS[error.code];
    const retryAfter = error.options.details?.retryAfterSeconds;
    if (typeof retryAfter === 'number') res.setHeader('Retry-After', String(retryAfter));
    // Postgres or Redis away: a coded 503 the caller can retry, logged once per request without a stack.
    if (error.code === 'DEPENDENCY_UNAVAILABLE') {
      res.setHeader('Retry-After', '5');
      const firstLine = (exception as Error)?.message?.split('\n').find((l) => l.trim());
      this.logger.warn(`${error.code}: ${firstLine ?? JSON.stringify(exception)}`);
    } else if (status >= 500) this.logger.error(`${error.code}: ${(exception as Error)?.message ?? exception}`);
    res.status(status).json({
      error: {
        code: error.code,
        message: error.message,
        ...(error.fields.length ? { fields: error.fields } : {}),
        ...(error.options.hint ? { hint: error.options.hint } : {}),
        ...(error.options.details ? { details: error.options.details } : {}),
      },
    });
  }
}

function fromHttpException(e: HttpException): DomainError {
  const status = e.getStatus();
  // The router's 404: no route matches (the controllers answer unknown ids with their own coded DomainErrors).
  if (status === 404) {
    const message = e.message.replace(/^Cannot (\S+) (.*)$/, 'no route $1 $2');
    const hint = 'the REST API is under /v1 (see /docs); GraphQL is POST /graphql';
    return new DomainError('ROUTE_NOT_FOUND', message, { hint });
  }
  if (status === 413) return new DomainError('MALFORMED_REQUEST', 'request body too large');
  return new DomainError('MALFORMED_REQUEST', status === 400 ? `malformed request: ${e.message}` : e.message);
}
