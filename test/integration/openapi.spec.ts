import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Controller, Get, Post } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DOMAIN_ERROR_CODES, type ErrorCode } from '../../src/common/domain-error.js';
import { HTTP_STATUS } from '../../src/common/http-status.js';
import { ApiOperation } from '../../src/docs/api-operation.js';
import { ERROR_DESCRIPTIONS } from '../../src/docs/error-docs.js';
import { routeErrors, undocumented } from '../../src/docs/openapi.js';
import * as R from '../../src/docs/response-schemas.js';
import { controllerRoutes, type DocumentedRoute, expressRoutes, nestRoutes } from '../../src/docs/served-routes.js';
import { batchFingerprint, encodeBatchCursor, parseBatchCursor } from '../../src/events/batch-cursor.js';
import { OnboardingInputSchema } from '../../src/onboarding/onboarding.input.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';

// The API docs: /docs/openapi.json is derived from the served handlers (Nest's route metadata and each
// handler's @ApiOperation), the zod input schemas and src/docs/response-schemas.ts. These tests keep it
// from going stale: a handler without @ApiOperation fails the first one.

const ROOT = resolve(import.meta.dirname, '../..');
const bin = (name: string) => join(ROOT, 'node_modules/.bin', name);
const run = promisify(execFile);

const key = (r: { method: string; path: string }) => `${r.method.toUpperCase()} ${r.path}`;

describe('OpenAPI document and /docs', () => {
  let s: Stack;
  let doc: any;
  let routes: DocumentedRoute[];

  beforeAll(async () => {
    s = await startStack();
    const res = await http(s.url, 'GET', '/docs/openapi.json', undefined, { authorization: '' });
    expect(res.status).toBe(200);
    doc = res.body;
    routes = nestRoutes(s.app);
  });
  afterAll(() => s?.close());

  it('documents exactly the REST routes Nest serves', () => {
    const served = nestRoutes(s.app);
    expect(served.length).toBeGreaterThan(15);
    // Sanity: what Nest mapped is what Express routes.
    const express = new Set(expressRoutes(s.app).map(key));
    for (const r of served) expect(express, `${key(r)} (${r.handler}) not in the Express router`).toContain(key(r));

    const documented = new Set(
      Object.entries(doc.paths as Record<string, object>).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => key({ method: m, path })),
      ),
    );
    const undocumented = served.filter((r) => !documented.has(key(r))).map((r) => `${key(r)} (${r.handler})`);
    expect(undocumented, 'routes served but missing from /docs/openapi.json').toEqual([]);
    const servedKeys = new Set(served.map(key));
    expect(
      [...documented].filter((k) => !servedKeys.has(k)),
      'routes documented that no controller serves',
    ).toEqual([]);
    expect(served.length).toBe(documented.size); // no route served twice
  });

  it('fails on a served handler without @ApiOperation', () => {
    expect(undocumented(routes), 'handlers without @ApiOperation (src/docs/api-operation.ts)').toEqual([]);
    // The check itself: a controller whose handler forgot the decorator is reported.
    @Controller('v1/forgotten')
    class ForgottenController {
      @ApiOperation({ operationId: 'documented', tag: 'docs', summary: 'Documented', responses: {}, errors: [] })
      @Get()
      documented() {}

      @Post(':id')
      forgot() {}
    }
    expect(undocumented(controllerRoutes([ForgottenController]))).toEqual([
      'POST /v1/forgotten/{id} (ForgottenController.forgot)',
    ]);
  });

  it('is an OpenAPI 3.1 document whose references all resolve', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: 'osm-onboarding', version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearer: [] }]);

    const refs: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object')
        for (const [k, x] of Object.entries(v)) {
          if (k === '$ref') refs.push(x as string);
          else walk(x);
        }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas[ref.split('/').at(-1)!], ref).toBeDefined();
    }

    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(ops)) {
        expect(ids.has(op.operationId), `duplicate operationId ${op.operationId}`).toBe(false);
        ids.add(op.operationId);
        expect(op.summary, `${method} ${path}`).toBeTruthy();
        const bodies = Object.values((op.requestBody?.content ?? {}) as Record<string, { example?: unknown }>);
        for (const b of bodies) expect(b.example, `${method} ${path} request body example`).toBeDefined();
        expect(
          Object.keys(op.responses).some((st) => st.startsWith('2')),
          `${method} ${path} has no success response`,
        ).toBe(true);
        for (const p of params)
          expect(
            op.parameters.find((x: any) => x.in === 'path' && x.name === p),
            `${method} ${path} {${p}}`,
          ).toMatchObject({ required: true });
        const isPublic = Array.isArray(op.security) && op.security.length === 0;
        if (!isPublic) expect(op.responses['401'], `${method} ${path}`).toBeDefined();
      }
    }
  });

  it('takes request bodies and query parameters from the zod schemas', () => {
    const post = doc.paths['/v1/onboardings'].post;
    expect(post.requestBody).toMatchObject({
      required: true,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/OnboardingInput' } } },
    });
    expect(post.parameters.map((p: any) => [p.in, p.name])).toEqual([['header', 'Idempotency-Key']]);
    const input = doc.components.schemas.OnboardingInput;
    const zodJson = z.toJSONSchema(OnboardingInputSchema, { io: 'input', unrepresentable: 'any' }) as any;
    const fromZod = zodJson.$defs.OnboardingInput;
    expect(Object.keys(input.properties)).toEqual(Object.keys(fromZod.properties));
    expect(input.required).toEqual(['namespace']);
    expect(input.additionalProperties).toBe(false); // unknown fields are refused
    expect(input.properties.namespace).toEqual(fromZod.properties.namespace);
    expect(input.properties.namespace.description).toContain('RFC 1123');
    expect(input.description).toBe(OnboardingInputSchema.description);
    expect(input.properties.restart.anyOf[0].properties.mode.enum).toEqual(['none', 'needed', 'all', 'selected']);
    expect(
      input.properties.trafficPolicy.anyOf[0].properties.smi.properties.trafficTargets.items.properties.spec.required,
    ).toEqual(['destination', 'sources', 'rules']);
    for (const r of routes.filter((x) => x.doc?.body)) {
      const id = z.globalRegistry.get(r.doc!.body!)?.id;
      expect(doc.components.schemas[id!], `${r.handler} body ${id}`).toBeDefined();
    }
    expect(doc.paths['/v1/offboardings'].post.requestBody.content['application/json'].schema.$ref).toBe(
      '#/components/schemas/OffboardingInput',
    );
    expect(doc.components.schemas.OffboardingInput.properties).toHaveProperty('deleteOwnedPolicies');
    expect(doc.components.schemas.RejectInput.required).toEqual(['reason']);
    expect(doc.components.schemas.CreateTokenInput.properties.roles.items.enum).toEqual([
      'viewer',
      'requester',
      'approver',
      'admin',
    ]);

    // The request-body examples shown on /docs are valid input.
    for (const route of routes.filter((r) => r.doc?.example)) {
      const { body, example, operationId, bodyMedia } = route.doc!;
      const parsed = body!.safeParse(example);
      expect(parsed.success, `${operationId} example: ${parsed.error?.message}`).toBe(true);
      const media = bodyMedia === 'form' ? 'application/x-www-form-urlencoded' : 'application/json';
      expect(doc.paths[route.path][route.method].requestBody.content[media].example).toEqual(example);
    }

    const list = doc.paths['/v1/onboardings'].get.parameters;
    expect(list.find((p: any) => p.name === 'limit')).toEqual({
      name: 'limit',
      in: 'query',
      required: false,
      description: 'How many requests to return (1 to 200).',
      schema: { default: 20, type: 'integer', minimum: 1, maximum: 200 },
    });
    expect(list.find((p: any) => p.name === 'status').schema.enum).toContain('PENDING_APPROVAL');
    expect(doc.paths['/v1/onboardings/{id}/events'].get.parameters.map((p: any) => p.name)).toEqual([
      'id',
      'after',
      'Last-Event-ID',
    ]);
    expect(Object.keys(doc.paths['/v1/onboardings/{id}/events'].get.responses['200'].content)).toEqual([
      'text/event-stream',
    ]);
  });

  it("gives each stream's Last-Event-ID its own type: a request's cursor, a batch's cursor (a string)", () => {
    const lastEventId = (path: string) =>
      doc.paths[path].get.parameters.find((p: any) => p.in === 'header' && p.name === 'Last-Event-ID').schema;
    expect(lastEventId('/v1/onboardings/{id}/events')).toEqual({ type: 'integer', minimum: 0, maximum: 2 ** 31 - 1 });
    const batch = lastEventId('/v1/batches/{id}/events');
    expect(batch).toEqual({ type: 'string', pattern: expect.any(String) });
    // The pattern holds every SSE id of a batch stream and the older event ids, and what the stream refuses by shape.
    const pattern = new RegExp(batch.pattern);
    const view = (ids: string[]) => ({ batchId: 'x', members: ids.map((id) => ({ id, lastSeq: 2 ** 31 - 1 })) });
    const members = ['a', 'b', 'c'];
    const accepted: [string, string[]][] = [
      [encodeBatchCursor(members, new Map([['b', 12]]), batchFingerprint('x', members)), members],
      ['b1.2147483647', ['a']],
      ['0', members],
      ['9223372036854775807', members],
    ];
    for (const [id, of] of accepted) {
      expect(id).toMatch(pattern);
      expect(() => parseBatchCursor(id, view(of), 'after')).not.toThrow();
    }
    for (const id of ['b1.', 'b1.-1', 'b1.1..2', 'b2.1', '12345678901234567890', 'b1.12345678901', ' 1'])
      expect(id).not.toMatch(pattern);
    // The query parameter takes the same.
    const after = doc.paths['/v1/batches/{id}/events'].get.parameters.find((p: any) => p.name === 'after');
    expect(after.schema).toEqual({ type: 'string', pattern: batch.pattern });
  });

  it('documents the error codes of every route, by HTTP status', () => {
    const missing = (Object.keys(HTTP_STATUS) as ErrorCode[]).filter((c) => !ERROR_DESCRIPTIONS[c]);
    expect(missing, 'error codes without a description in src/docs/error-docs.ts').toEqual([]);
    for (const code of Object.keys(HTTP_STATUS)) expect(doc.info.description).toContain(`| \`${code}\` |`);

    for (const route of routes) {
      const op = doc.paths[route.path][route.method];
      expect(op['x-error-codes']).toEqual(routeErrors(route));
      for (const code of op['x-error-codes'] as ErrorCode[]) {
        const res = op.responses[String(HTTP_STATUS[code])];
        expect(res?.['x-error-codes'], `${route.method} ${route.path}: ${code}`).toContain(code);
        expect(res.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
        expect(res.content['application/json'].examples[code].value.error.code).toBe(code);
      }
    }
    const create = doc.paths['/v1/onboardings'].post;
    expect(create['x-error-codes']).toEqual(
      expect.arrayContaining([
        'VALIDATION_FAILED',
        'MALFORMED_REQUEST',
        'UNAUTHENTICATED',
        'FORBIDDEN',
        'REQUEST_CONFLICT',
        'IDEMPOTENCY_KEY_REUSED',
        'MESH_NOT_FOUND',
        'RATE_LIMITED',
      ]),
    );
    expect(create.responses['413']['x-error-codes']).toEqual(['MALFORMED_REQUEST']);
    expect(create.responses['429'].headers['Retry-After']).toBeDefined();
    expect(doc.paths['/v1/onboardings/{id}/approve'].post['x-error-codes']).toContain('SELF_APPROVAL_FORBIDDEN');
    expect(doc.paths['/healthz'].get).toMatchObject({
      security: [],
      'x-error-codes': ['MALFORMED_REQUEST', 'INTERNAL'],
    });
    expect(doc.components.schemas.ErrorCode.enum).toEqual([...DOMAIN_ERROR_CODES]);
  });

  it('describes the real answers: the response schemas parse them strictly', async () => {
    const ns = uniqueName('docs');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();

    const created = await http(
      s.url,
      'POST',
      '/v1/onboardings',
      { namespace: ns, restart: { mode: 'all' } },
      { 'idempotency-key': `k-${ns}` },
    );
    expect(created.status).toBe(202);
    R.AcceptedSchema.parse(created.body);
    const done = await waitForStatus(s.url, created.body.id, ['SUCCEEDED', 'FAILED']);
    R.RequestSchema.parse(done);
    R.RequestPageSchema.parse((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body);
    const audit = await http(s.url, 'GET', `/v1/onboardings/${created.body.id}/audit`);
    R.AuditPageSchema.parse(audit.body);

    const events = await fetch(`${s.url}/v1/onboardings/${created.body.id}/events`, {
      headers: { authorization: `Bearer ${s.env.OSM_ONBOARDING_ADMIN_TOKEN}` },
    });
    const frames = (await events.text()).split('\n').filter((l) => l.startsWith('data: '));
    expect(frames.length).toBe(audit.body.items.length);
    for (const f of frames) R.ProgressEventSchema.parse(JSON.parse(f.slice(6)));

    R.PlanSchema.parse(
      (await http(s.url, 'POST', '/v1/onboardings/plan', { namespace: ns, restart: { mode: 'all' } })).body,
    );
    R.PlanSchema.parse(
      (await http(s.url, 'POST', '/v1/offboardings/plan', { namespace: ns, deleteOwnedPolicies: true })).body,
    );
    const token = await http(s.url, 'POST', '/v1/tokens', {
      name: uniqueName('docs'),
      roles: ['viewer'],
      scopes: ['*/*'],
    });
    expect(token.status).toBe(201);
    R.TokenCreatedSchema.parse(token.body);
    R.TokenListSchema.parse((await http(s.url, 'GET', '/v1/tokens')).body);
    R.TokenSchema.parse((await http(s.url, 'DELETE', `/v1/tokens/${token.body.record.id}`)).body);

    const batch = await http(s.url, 'POST', '/v1/batches', { kind: 'OFFBOARD', targets: [{ namespace: ns }] });
    expect(batch.status).toBe(202);
    R.BatchSchema.parse(batch.body);
    R.BatchPlansSchema.parse(
      (await http(s.url, 'POST', '/v1/batches/plan', { kind: 'ONBOARD', targets: [{ namespace: ns }] })).body,
    );
    R.BatchOperationSchema.parse((await http(s.url, 'POST', `/v1/batches/${batch.body.id}/cancel`, {})).body);

    const hook = await http(s.url, 'POST', '/v1/webhooks', {
      url: 'https://chat.example.com/hook',
      eventTypes: ['namespace.drifted'],
    });
    expect(hook.status).toBe(201);
    R.WebhookCreatedSchema.parse(hook.body);
    const hookId = hook.body.webhook.id;
    R.WebhookListSchema.parse((await http(s.url, 'GET', '/v1/webhooks')).body);
    R.WebhookSchema.parse((await http(s.url, 'GET', `/v1/webhooks/${hookId}`)).body);
    R.WebhookDeliveryPageSchema.parse((await http(s.url, 'GET', `/v1/webhooks/${hookId}/deliveries?limit=5`)).body);
    R.WebhookSchema.parse((await http(s.url, 'DELETE', `/v1/webhooks/${hookId}`)).body);

    const nsPage = await http(s.url, 'GET', '/v1/clusters/emulator/namespaces?limit=50');
    R.NamespaceStatusPageSchema.parse(nsPage.body);
    expect(nsPage.body.items.some((n: { lastRequest: unknown }) => n.lastRequest)).toBe(true);
    const exported = await fetch(`${s.url}/v1/audit?requestId=${created.body.id}`, {
      headers: { authorization: `Bearer ${s.env.OSM_ONBOARDING_ADMIN_TOKEN}` },
    });
    const rows = (await exported.text()).split('\n').filter(Boolean);
    expect(rows.length).toBe(audit.body.items.length);
    for (const row of rows) R.AuditExportRowSchema.parse(JSON.parse(row));

    R.HealthSchema.parse((await http(s.url, 'GET', '/healthz')).body);
    R.ReadySchema.parse((await http(s.url, 'GET', '/readyz')).body);
    const invalid = await http(s.url, 'POST', '/v1/onboardings', { namespace: 'Nope', colour: 'blue' });
    expect(invalid.status).toBe(422);
    R.ErrorBodySchema.parse(invalid.body);
  });

  it("passes Redocly's recommended rules, strictly (redocly.yaml), as scripts/dump-api.ts writes it too", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'openapi-'));
    const served = join(dir, 'served.json');
    await writeFile(served, JSON.stringify(doc));
    const lint = await run(bin('redocly'), ['lint', served, '--config', join(ROOT, 'redocly.yaml')], {
      cwd: ROOT,
      env: { ...process.env, REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    })
      .then((r) => ({ code: 0, out: r.stdout + r.stderr }))
      .catch((e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }));
    expect(lint.out, lint.out).toContain('Your API description is valid');
    expect(lint.code, lint.out).toBe(0);
    // npm run lint:api lints the document scripts/dump-api.ts builds without starting the app: the same one.
    const dumped = join(dir, 'dumped.json');
    await run(bin('tsx'), ['scripts/dump-api.ts', dumped], { cwd: ROOT });
    expect(JSON.parse(await readFile(dumped, 'utf8'))).toEqual(doc);
  });

  it('serves the docs page, its assets and the document without credentials', async () => {
    const page = await fetch(`${s.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('<div id="swagger-ui"></div>');
    for (const asset of [...html.matchAll(/(?:src|href)="(\/docs\/assets\/[^"]+)"/g)].map((m) => m[1])) {
      const res = await fetch(s.url + asset);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('content-type'), asset).toMatch(/javascript|css|png/);
    }
    const init = await (await fetch(`${s.url}/docs/assets/swagger-initializer.js`)).text();
    expect(init).toContain("url: '/docs/openapi.json'");
    const bundle = await fetch(`${s.url}/docs/assets/swagger-ui-bundle.js`);
    expect((await bundle.text()).length).toBeGreaterThan(100_000); // the real Swagger UI, from node_modules
    // A file the page does not serve is a path nothing serves: ROUTE_NOT_FOUND, its name not repeated.
    for (const missing of ['package.json', '..%2Fpackage.json', 'nope.js']) {
      const res = await http(s.url, 'GET', `/docs/assets/${missing}`);
      expect([res.status, res.body.error.code], missing).toEqual([404, 'ROUTE_NOT_FOUND']);
      expect(JSON.stringify(res.body), missing).not.toMatch(/package\.json|nope/);
    }
    const json = await fetch(`${s.url}/docs/openapi.json`);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    // The API itself still needs credentials.
    expect((await http(s.url, 'GET', '/v1/onboardings', undefined, { authorization: '' })).status).toBe(401);
  });
});
