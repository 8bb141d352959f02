import { AsyncLocalStorage } from 'node:async_hooks';
import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';

/**
 * What every log line written on behalf of one piece of work carries: the HTTP request id
 * (X-Request-Id) of the call that started it, the onboarding request, the step, and the
 * trace/span ids when tracing is on. The HTTP middleware opens it for each call; the worker
 * re-opens it from the request's stored origin, so a job's logs and its Kubernetes calls
 * carry the id of the HTTP call that created the request.
 */
export interface LogContext {
  httpRequestId?: string;
  requestId?: string;
  step?: string;
}

const store = new AsyncLocalStorage<LogContext>();

export function withLogContext<T>(fields: LogContext, fn: () => T): T {
  return store.run({ ...store.getStore(), ...fields }, fn);
}

export const logContext = (): LogContext | undefined => store.getStore();

/**
 * Runs `fn`, and everything it starts, outside the current caller's context: no log fields and no active span.
 * For work that one call starts but that outlives it and serves every caller (the API's namespace watch per
 * cluster): its log lines and Kubernetes spans must not carry that first call's request id or join its trace.
 */
export function runDetached<T>(fn: () => T): T {
  return store.exit(() => context.with(ROOT_CONTEXT, fn));
}

/** pino `mixin`: the fields above plus the active span's ids, on every line. */
export function logMixin(): Record<string, string> {
  const fields: Record<string, string> = { ...store.getStore() };
  const span = trace.getSpan(context.active())?.spanContext();
  if (span && trace.isSpanContextValid(span)) {
    fields.traceId = span.traceId;
    fields.spanId = span.spanId;
  }
  return fields;
}

/** Stored with a request: where it came from. */
export type RequestOrigin = {
  httpRequestId?: string;
  traceparent?: string;
  tracestate?: string;
};

/** The origin of work started now (null outside an HTTP call and a trace). */
export function currentOrigin(): RequestOrigin | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const origin: RequestOrigin = {
    ...(store.getStore()?.httpRequestId ? { httpRequestId: store.getStore()!.httpRequestId } : {}),
    ...(carrier.traceparent ? { traceparent: carrier.traceparent } : {}),
    ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}),
  };
  return Object.keys(origin).length ? origin : null;
}

export function parseOrigin(value: unknown): RequestOrigin {
  if (!value || typeof value !== 'object') return {};
  const v = value as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === 'string' && x.length <= 512 ? x : undefined);
  return { httpRequestId: str(v.httpRequestId), traceparent: str(v.traceparent), tracestate: str(v.tracestate) };
}

/** X-Request-Id from a caller is kept when it is a plain token; anything else gets a fresh id. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
