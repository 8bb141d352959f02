import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { REQUEST_ID_PATTERN, withLogContext } from './log-context.js';
import { SpanKind, SpanStatusCode, tracer } from './tracing.js';

/**
 * Every HTTP call gets a request id (the caller's X-Request-Id when it is a plain token, else a
 * new UUID), echoed in the response, on every log line (pino-http's `req.id` and the log context)
 * and stored with any request the call creates. With tracing on, the call is a SERVER span that
 * continues the caller's `traceparent`. Registered after the body parser, so the handlers and
 * everything they await run inside both contexts.
 */
export function httpContext() {
  return (req: Request & { id?: string }, res: Response, next: NextFunction): void => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    req.id = id;
    res.setHeader('X-Request-Id', id);
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(
      req.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': req.method,
          'url.path': req.path,
          'http.request.id': id,
          ...graphqlOperation(req.body),
        },
      },
      parent,
    );
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path;
      // Express 5 patterns such as Apollo's `/graphql{/*splat}` are named by their fixed part.
      const path = route ? `${req.baseUrl ?? ''}${route}`.replace(/\{\/\*\w+\}$/, '') : undefined;
      span.updateName(path ? `${req.method} ${path}` : req.method);
      if (path) span.setAttribute('http.route', path);
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    res.on('close', () => {
      if (!res.writableFinished) span.end(); // the client went away (SSE, aborted calls)
    });
    context.with(trace.setSpan(parent, span), () => withLogContext({ httpRequestId: id }, next));
  };
}

/** The GraphQL operation name of a request body, if it has one (bounded: it is a span attribute). */
function graphqlOperation(body: unknown): Record<string, string> {
  const name = (body as { operationName?: unknown } | undefined)?.operationName;
  return typeof name === 'string' ? { 'graphql.operation.name': name.slice(0, 100) } : {};
}
