import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { ADMIN_TOKEN, http, stackEnv, uniqueName, waitForStatus } from '../support/harness.js';
import { createNamespace } from '../support/kube.js';

// The API and the worker as separate OS processes (as deployed), exporting spans over OTLP/HTTP
// (JSON) to a collector this test runs, and writing JSON logs to stdout that the test reads.
const ROOT = resolve(import.meta.dirname, '../..');

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
  status?: { code?: number };
  service: string;
  role: string;
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v ? (v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue) : undefined;
};

/** A minimal OTLP/HTTP JSON trace receiver. */
function startCollector(): Promise<{ server: Server; url: string; spans: OtlpSpan[]; bodies: string[] }> {
  const spans: OtlpSpan[] = [];
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      bodies.push(`${JSON.stringify(req.headers)} ${body}`);
      const parsed = JSON.parse(body) as {
        resourceSpans: {
          resource: { attributes: OtlpSpan['attributes'] };
          scopeSpans: { spans: Omit<OtlpSpan, 'service' | 'role'>[] }[];
        }[];
      };
      for (const rs of parsed.resourceSpans) {
        const r = { attributes: rs.resource.attributes } as OtlpSpan;
        const service = String(attr(r, 'service.name'));
        const role = String(attr(r, 'osm_onboarding.role'));
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service, role });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((r) =>
    server.listen(0, '127.0.0.1', () =>
      r({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, spans, bodies }),
    ),
  );
}

interface Proc {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  raw: () => string;
}

function spawnProcess(
  script: string,
  env: Record<string, string>,
  ready: RegExp,
): Promise<Proc & { match: RegExpExecArray }> {
  const child = spawn(process.execPath, [script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let out = '';
  return new Promise((resolveStarted, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of d.toString().split('\n')) {
        if (line.startsWith('{')) {
          try {
            lines.push(JSON.parse(line));
          } catch {
            /* a line split across chunks: the raw text still has it */
          }
        }
      }
      const match = ready.exec(out);
      if (match) resolveStarted({ child, lines, raw: () => out, match });
    });
    child.stderr.on('data', (d) => (out += d.toString()));
    child.on('exit', (code) => reject(new Error(`${script} exited with ${code}: ${out}`)));
  });
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('tracing (OpenTelemetry) and the request id in logs, API and worker as separate processes', () => {
  let emulator: Emulator;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let api: Proc;
  let worker: Proc;
  let url: string;

  beforeAll(async () => {
    emulator = await startEmulator();
    collector = await startCollector();
    const env = await stackEnv(emulator, {
      LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=collector-secret-0000',
      OTEL_SERVICE_NAME: 'osm-onboarding-test',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    const a = await spawnProcess('dist/bundle/main.mjs', { ...env, ROLE: 'api' }, /listening on (http:\/\/[\d.]+:\d+)/);
    api = a;
    url = a.match[1];
    worker = await spawnProcess('dist/bundle/worker.mjs', { ...env, ROLE: 'worker' }, /worker started/);
  });

  afterAll(async () => {
    for (const p of [api, worker]) p?.child.kill('SIGTERM');
    await Promise.all(
      [api, worker].map(
        (p) => p && new Promise((r) => (p.child.exitCode !== null ? r(null) : p.child.once('exit', r))),
      ),
    );
    collector?.server.close();
    await emulator?.close();
  });

  it(
    'one trace from the HTTP call through the job and its steps to each Kubernetes call; the X-Request-Id on every ' +
      'log line of the job',
    async () => {
      const ns = uniqueName('traced');
      await createNamespace(emulator, ns);
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const callerSpan = '00f067aa0ba902b7';
      const requestId = `req-${ns}`;
      const created = await http(
        url,
        'POST',
        '/v1/onboardings',
        { namespace: ns },
        { traceparent: `00-${traceId}-${callerSpan}-01`, 'x-request-id': requestId },
      );
      expect(created.status).toBe(202);
      expect(created.headers.get('x-request-id')).toBe(requestId);
      const id = created.body.id as string;
      const done = await waitForStatus(url, id, ['SUCCEEDED', 'FAILED']);
      expect(done.status).toBe('SUCCEEDED');
      const steps = (done.steps as { name: string }[]).map((s) => s.name);

      // Spans arrive in batches; the job's span ends last (after the request's final transition).
      const inTrace = () => collector.spans.filter((s) => s.traceId === traceId);
      await until('the job span', () => inTrace().some((s) => s.name === 'onboarding.run onboard'));

      const server = inTrace().find((s) => s.kind === 2 && attr(s, 'http.route') === '/v1/onboardings');
      expect(server, JSON.stringify(inTrace().map((s) => s.name))).toBeDefined();
      expect(server!.name).toBe('POST /v1/onboardings');
      expect(server!.parentSpanId).toBe(callerSpan);
      expect(server!.role).toBe('api');
      expect(server!.service).toBe('osm-onboarding-test');
      expect(attr(server!, 'http.response.status_code')).toBe(202);
      expect(attr(server!, 'http.request.id')).toBe(requestId);

      const job = inTrace().find((s) => s.name === 'onboarding.run onboard')!;
      expect(job.kind).toBe(5); // CONSUMER
      expect(job.role).toBe('worker');
      expect(job.parentSpanId).toBe(server!.spanId);
      expect(attr(job, 'osm_onboarding.request.id')).toBe(id);
      expect(attr(job, 'k8s.namespace.name')).toBe(ns);

      const stepSpans = inTrace().filter((s) => s.name.startsWith('onboarding.step '));
      expect(stepSpans.map((s) => attr(s, 'osm_onboarding.step'))).toEqual(steps);
      for (const s of stepSpans) expect(s.parentSpanId).toBe(job.spanId);
      const namespaceStep = stepSpans.find((s) => attr(s, 'osm_onboarding.step') === 'namespace')!;
      expect(attr(namespaceStep, 'osm_onboarding.step.result')).toBe('CHANGED');

      // Each Kubernetes call is a CLIENT span under its step, and its traceparent reached the API server.
      const calls = inTrace().filter((s) => s.name.startsWith('k8s '));
      const patch = calls.find(
        (s) => s.name === 'k8s patch namespaces' && attr(s, 'url.path') === `/api/v1/namespaces/${ns}`,
      )!;
      expect(patch.kind).toBe(3); // CLIENT
      expect(patch.parentSpanId).toBe(namespaceStep.spanId);
      expect(attr(patch, 'http.request.method')).toBe('PATCH');
      expect(attr(patch, 'http.response.status_code')).toBe(200);
      const seen = emulator.requests.all().find((r) => r.method === 'PATCH' && r.path === `/api/v1/namespaces/${ns}`)!;
      expect(seen.traceparent).toBe(`00-${traceId}-${patch.spanId}-01`);
      const spanIds = new Set(inTrace().map((s) => s.spanId));
      for (const c of calls) expect(spanIds.has(c.parentSpanId!)).toBe(true);

      // Logs: the worker's lines for this request carry the caller's X-Request-Id, the request, the
      // step and the trace; the Kubernetes write is logged with them.
      const patchLine = await until('the namespace patch log line', () =>
        worker.lines.find(
          (l) => typeof l.msg === 'string' && l.msg.startsWith(`kubernetes: patch namespace ${ns} → 200`),
        ),
      );
      expect(patchLine).toMatchObject({
        httpRequestId: requestId,
        requestId: id,
        step: 'namespace',
        traceId,
        spanId: patch.spanId,
        verb: 'patch',
        resource: 'namespaces',
        status: 200,
      });
      const jobLines = worker.lines.filter((l) => l.requestId === id);
      expect(jobLines.length).toBeGreaterThan(steps.length);
      for (const l of jobLines) expect(l.httpRequestId).toBe(requestId);
      const stepLine = jobLines.find((l) => String(l.msg).startsWith('step namespace: changed'))!;
      expect(stepLine.msg).toMatch(/ \(2 API call\(s\), \d+ ms\)$/);
      expect(stepLine).toMatchObject({ step: 'namespace', traceId, spanId: namespaceStep.spanId });
      // The API's access log line for the call has the same id.
      const access = await until('the access log line', () =>
        api.lines.find((l) => (l.req as { id?: string } | undefined)?.id === requestId),
      );
      expect((access.req as { url: string }).url).toBe('/v1/onboardings');

      // No credential reaches a log line or a span.
      const everything = api.raw() + worker.raw() + collector.bodies.join('\n').replace(/x-collector-key[^,]*,/, '');
      expect(everything).not.toContain(ADMIN_TOKEN);
      expect(api.raw() + worker.raw()).not.toContain('collector-secret-0000');
      // The exporter sent the configured header to the collector.
      expect(collector.bodies.some((b) => b.includes('"x-collector-key":"collector-secret-0000"'))).toBe(true);
    },
  );

  it(
    'a caller without trace context gets a fresh trace and a generated request id; an unsafe X-Request-Id is ' +
      'replaced',
    async () => {
      const ns = uniqueName('untraced');
      await createNamespace(emulator, ns);
      const created = await http(
        url,
        'POST',
        '/v1/onboardings',
        { namespace: ns },
        { 'x-request-id': 'bad id; with spaces' },
      );
      expect(created.status).toBe(202);
      const given = created.headers.get('x-request-id')!;
      expect(given).toMatch(/^[0-9a-f-]{36}$/);
      const id = created.body.id as string;
      await waitForStatus(url, id, ['SUCCEEDED']);
      const job = await until('the job span', () =>
        collector.spans.find((s) => s.name === 'onboarding.run onboard' && attr(s, 'osm_onboarding.request.id') === id),
      );
      const server = collector.spans.find((s) => s.spanId === job.parentSpanId)!;
      expect(server.name).toBe('POST /v1/onboardings');
      expect(server.parentSpanId ?? '').toBe(''); // a root span
      expect(attr(server, 'http.request.id')).toBe(given);
      const line = await until('a job log line', () => worker.lines.find((l) => l.requestId === id));
      expect(line.httpRequestId).toBe(given);
    },
  );

  it("the access log writes only the values of the API's own query parameters: no credential from a URL", async () => {
    const secret = 'osmo_query-secret-0123456789';
    const refused = await fetch(`${url}/v1/onboardings?limit=5&access_token=${secret}&status=QUEUED`);
    expect(refused.status).toBe(401); // a token is taken from the Authorization header only
    const graphqlGet = await fetch(
      `${url}/graphql?query=${encodeURIComponent(`{ webhooks { id } }`)}&variables=${encodeURIComponent(
        JSON.stringify({ secret }),
      )}`,
      { headers: { 'apollo-require-preflight': '1' } },
    );
    expect(graphqlGet.status).toBe(401);
    const logged = await until('both access log lines', () => {
      const urls = api.lines
        .map((l) => (l.req as { url?: string } | undefined)?.url)
        .filter((u): u is string => !!u && (u.startsWith('/v1/onboardings?') || u.startsWith('/graphql?')));
      return urls.length >= 2 ? urls : undefined;
    });
    expect(logged).toEqual(
      expect.arrayContaining([
        '/v1/onboardings?limit=5&access_token=[REDACTED]&status=QUEUED',
        '/graphql?query=[REDACTED]&variables=[REDACTED]',
      ]),
    );
    expect(api.raw()).not.toContain(secret);
  });

  it("the API's namespace informer, started by the first request, belongs to no caller", async () => {
    // The first test's POST started the API's namespace watch. Make it log: another kind's write moves the
    // revision on, compaction drops the informer's resourceVersion, and the closed watch gets 410 and lists again.
    emulator.store.create({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: uniqueName('sa'), namespace: 'default' },
    });
    emulator.compact();
    emulator.closeWatches();
    const expired = await until('the informer log line', () =>
      api.lines.find((l) => String(l.msg).includes('namespace informer of cluster') && /410/.test(String(l.msg))),
    );
    expect(expired.httpRequestId).toBeUndefined();
    expect(expired.traceId).toBeUndefined();
    // Its list and watch calls are spans of traces of their own, not children of the request that started it.
    const informerCalls = () =>
      collector.spans.filter(
        (s) => s.role === 'api' && s.name.startsWith('k8s ') && attr(s, 'url.path') === '/api/v1/namespaces',
      );
    await until('the informer spans', () => informerCalls().length >= 2 || undefined);
    const callers = new Set(collector.spans.filter((s) => s.kind === 2).map((s) => s.traceId));
    for (const s of informerCalls()) expect(callers.has(s.traceId), s.name).toBe(false);
  });

  it('GraphQL calls are spans named by route with the operation name', async () => {
    const res = await http(url, 'POST', '/graphql', {
      query: 'query Recent { onboardingRequests(first: 1) { edges { node { id } } } }',
      operationName: 'Recent',
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id')!;
    const span = await until('the GraphQL span', () =>
      collector.spans.find((s) => attr(s, 'http.request.id') === requestId),
    );
    expect(span.name).toBe('POST /graphql');
    expect(attr(span, 'graphql.operation.name')).toBe('Recent');
  });
});
