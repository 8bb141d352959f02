// Owns the per-call HTTP context: request id, SERVER span, log context (both HTTP platforms, src/http/platform.ts).
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { context, propagation, ROOT_CONTEXT, trace, type Context, type Span } from '@opentelemetry/api';
import { REQUEST_ID_PATTERN, withLogContext } from './log-context.js';
import { SpanKind, SpanStatusCode, tracer } from './tracing.js';

/** The HTTP call as both platforms describe it (src/http/platform.ts builds it). */
export interface EdgeRequest {
  method: string;
  /** The path, without the query string. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The id, when the platform has already chosen it with requestIdFor (Fastify's genReqId). */
  id?: string;
  /** The route pattern that matched (read when the response finishes). */
  route: () => string | undefined;
}

export interface HttpCall {
  id: string;
  span: Span;
  parent: Context;
}

/** The caller's X-Request-Id when it is a plain token, else a new UUID. */
export function requestIdFor(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
}

/**
 * Every HTTP call gets a request id (the caller's X-Request-Id when it is a plain token, else a
 * new UUID), echoed in the response, on every log line (pino-http's `req.id` and the log context)
 * and stored with any request the call creates. With tracing on, the call is a SERVER span that
 * continues the caller's `traceparent`, named by its route when it finishes.
 */
export function startHttpCall(req: EdgeRequest, res: ServerResponse): HttpCall {
  const id = req.id ?? requestIdFor(req.headers);
  res.setHeader('X-Request-Id', id);
  const parent = propagation.extract(ROOT_CONTEXT, req.headers);
  const span = tracer.startSpan(
    req.method,
    {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': req.method, 'url.path': req.path, 'http.request.id': id },
    },
    parent,
  );
  res.on('finish', () => {
    const path = req.route();
    span.updateName(path ? `${req.method} ${path}` : req.method);
    if (path) span.setAttribute('http.route', path);
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  res.on('close', () => {
    if (!res.writableFinished) span.end(); // the client went away (SSE, aborted calls)
  });
  return { id, span, parent };
}

/**
 * Runs the rest of the call (once its body is parsed) inside the call's span and log context, so the handlers and
 * everything they await are in both.
 */
export function enterHttpCall(call: HttpCall, body: unknown, next: () => void): void {
  call.span.setAttributes(graphqlOperation(body));
  context.with(trace.setSpan(call.parent, call.span), () => withLogContext({ httpRequestId: call.id }, next));
}

/** The GraphQL operation name of a request body, if it has one (bounded: it is a span attribute). */
function graphqlOperation(body: unknown): Record<string, string> {
  const name = (body as { operationName?: unknown } | undefined)?.operationName;
  return typeof name === 'string' ? { 'graphql.operation.name': name.slice(0, 100) } : {};
}
