import { hostname } from 'node:os';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
} from '@opentelemetry/api';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { AppConfig } from '../config/config.js';
import { parseOrigin, type RequestOrigin } from './log-context.js';

/**
 * OpenTelemetry tracing, off unless configured (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_TRACES_EXPORTER=console). Spans: the HTTP call (SERVER), the job that runs a request
 * (CONSUMER, a child of the HTTP call that created it, through the request's stored origin),
 * each step attempt, and each Kubernetes API call (CLIENT; its traceparent is sent to the API
 * server, which joins the trace when its own tracing is on). Off, every span is the API's no-op.
 */
export const tracer = trace.getTracer('osm-onboarding');

let provider: NodeTracerProvider | undefined;

export async function startTracing(config: AppConfig): Promise<void> {
  const t = config.tracing;
  if (!t || provider) return; // one provider per process (tests build several apps in one)
  // The SDK is loaded only when tracing is on (it costs ~15 MB of memory otherwise unused).
  const [{ OTLPTraceExporter }, { resourceFromAttributes }, base, { NodeTracerProvider }] = await Promise.all([
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/sdk-trace-node'),
  ]);
  const { BatchSpanProcessor, ConsoleSpanExporter, ParentBasedSampler, TraceIdRatioBasedSampler } = base;
  const exporter: import('@opentelemetry/sdk-trace-base').SpanExporter =
    t.exporter === 'console' ? new ConsoleSpanExporter() : new OTLPTraceExporter({ url: t.url });
  if (provider) return;
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': t.serviceName,
      'service.instance.id': `${hostname()}:${process.pid}`,
      'service.namespace': 'osm-onboarding',
      'osm_onboarding.role': config.role,
    }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(t.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  // The AsyncLocalStorage context manager and the W3C trace-context propagator.
  provider.register();
}

/** Sends what is buffered (shutdown; tests). */
export async function flushTracing(): Promise<void> {
  await provider?.forceFlush().catch(() => undefined);
}

export async function stopTracing(): Promise<void> {
  await provider?.shutdown().catch(() => undefined);
  provider = undefined;
}

/** Runs `fn` in a new active span; records a thrown error on it and rethrows. */
export function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; parent?: Context },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  return tracer.startActiveSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/** The trace context a request was created under (the parent of the job that runs it). */
export function originContext(origin: unknown): Context {
  const o: RequestOrigin = parseOrigin(origin);
  if (!o.traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, {
    traceparent: o.traceparent,
    ...(o.tracestate ? { tracestate: o.tracestate } : {}),
  });
}

/** W3C headers for an outgoing call made in the active context (empty when tracing is off). */
export function traceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

export { SpanKind, SpanStatusCode };
