import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import {
  currentOrigin,
  logMixin,
  parseOrigin,
  REQUEST_ID_PATTERN,
  withLogContext,
} from '../../src/observability/log-context.js';

describe('tracing configuration (OpenTelemetry variable names)', () => {
  it('is off by default', () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    expect(
      loadConfig({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' }).tracing,
    ).toBeUndefined();
  });

  it('an OTLP endpoint turns it on; the traces endpoint is <endpoint>/v1/traces unless given', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318/' }).tracing).toEqual({
      exporter: 'otlp',
      url: 'http://otel:4318/v1/traces',
      serviceName: 'osm-onboarding',
      sampleRatio: 1,
    });
    const c = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example/traces',
      OTEL_SERVICE_NAME: 'onboarding-prod',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    expect(c.tracing).toEqual({
      exporter: 'otlp',
      url: 'https://collector.example/traces',
      serviceName: 'onboarding-prod',
      sampleRatio: 0.25,
    });
    expect(loadConfig({ OTEL_TRACES_EXPORTER: 'console' }).tracing?.exporter).toBe('console');
  });

  it('refuses what cannot work, naming the key', () => {
    expect(() => loadConfig({ OTEL_TRACES_EXPORTER: 'otlp' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => loadConfig({ OTEL_TRACES_EXPORTER: 'otlp' })).toThrow(ConfigError);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://otel:4317' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
    expect(() => loadConfig({ OTEL_TRACES_SAMPLER_ARG: '2' })).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
    expect(() => loadConfig({ OTEL_TRACES_EXPORTER: 'jaeger' })).toThrow(/OTEL_TRACES_EXPORTER/);
  });
});

describe('log context', () => {
  it('nests, and reaches every log line through the pino mixin', async () => {
    expect(logMixin()).toEqual({});
    await withLogContext({ httpRequestId: 'abc' }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      await withLogContext({ requestId: 'r1', step: 'namespace' }, async () => {
        await Promise.resolve();
        expect(logMixin()).toEqual({ httpRequestId: 'abc', requestId: 'r1', step: 'namespace' });
      });
      expect(logMixin()).toEqual({ httpRequestId: 'abc' });
      // Tracing is off here: the origin is the request id alone.
      expect(currentOrigin()).toEqual({ httpRequestId: 'abc' });
    });
    expect(currentOrigin()).toBeNull();
  });

  it('keeps only plain request ids and well-formed stored origins', () => {
    for (const ok of ['abc', 'req-1.2:3_x', 'a'.repeat(128), '4bf92f35-77b3-4da6-a3ce-929d0e0e4736'])
      expect(REQUEST_ID_PATTERN.test(ok)).toBe(true);
    for (const bad of ['', 'a b', 'a;b', 'a'.repeat(129), 'x\ny', '<script>'])
      expect(REQUEST_ID_PATTERN.test(bad)).toBe(false);
    expect(parseOrigin(null)).toEqual({});
    expect(parseOrigin('x')).toEqual({});
    expect(parseOrigin({ httpRequestId: 7, traceparent: 'x'.repeat(600), tracestate: 'a=b' })).toEqual({
      httpRequestId: undefined,
      traceparent: undefined,
      tracestate: 'a=b',
    });
  });
});
