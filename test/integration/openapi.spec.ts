import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../../src/common/domain-error.js';
import { ERROR_DESCRIPTIONS } from '../../src/docs/error-docs.js';
import { REQUEST_BODIES, ROUTES, routeErrors } from '../../src/docs/openapi.js';
import * as R from '../../src/docs/response-schemas.js';
import { expressRoutes, nestRoutes } from '../../src/docs/served-routes.js';
import { OnboardingInputSchema } from '../../src/onboarding/onboarding.input.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';

// The API docs: /docs/openapi.json is generated from src/docs/openapi.ts (the route table), the
// zod input schemas and src/docs/response-schemas.ts. These tests keep it from going stale.

const key = (r: { method: string; path: string }) => `${r.method.toUpperCase()} ${r.path}`;

describe('OpenAPI document and /docs', () => {
  let s: Stack;
  let doc: any;

  beforeAll(async () => {
    s = await startStack();
    const res = await http(s.url, 'GET', '/docs/openapi.json', undefined, { authorization: '' });
    expect(res.status).toBe(200);
    doc = res.body;
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
    expect(undocumented, 'routes served but missing from the route table in src/docs/openapi.ts').toEqual([]);
    const servedKeys = new Set(served.map(key));
    expect(
      [...documented].filter((k) => !servedKeys.has(k)),
      'routes in src/docs/openapi.ts that no controller serves',
    ).toEqual([]);
    expect(ROUTES.length).toBe(documented.size); // no route listed twice
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
    const fromZod = z.toJSONSchema(OnboardingInputSchema, { io: 'input', unrepresentable: 'any' }) as any;
    expect(Object.keys(input.properties)).toEqual(Object.keys(fromZod.properties));
    expect(input.required).toEqual(['namespace']);
    expect(input.additionalProperties).toBe(false); // unknown fields are refused
    const { description, ...namespace } = input.properties.namespace;
    expect(namespace).toEqual(fromZod.properties.namespace);
    expect(description).toContain('RFC 1123');
    expect(input.properties.restart.anyOf[0].properties.mode.enum).toEqual(['none', 'needed', 'all', 'selected']);
    expect(
      input.properties.trafficPolicy.anyOf[0].properties.smi.properties.trafficTargets.items.properties.spec.required,
    ).toEqual(['destination', 'sources', 'rules']);
    for (const name of Object.keys(REQUEST_BODIES)) expect(doc.components.schemas[name], name).toBeDefined();
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
    for (const route of ROUTES.filter((r) => r.example)) {
      const parsed = REQUEST_BODIES[route.body!].safeParse(route.example);
      expect(parsed.success, `${route.operationId} example: ${parsed.error?.message}`).toBe(true);
      expect(doc.paths[route.path][route.method].requestBody.content['application/json'].example).toEqual(
        route.example,
      );
    }

    const list = doc.paths['/v1/onboardings'].get.parameters;
    expect(list.find((p: any) => p.name === 'limit')).toEqual({
      name: 'limit',
      in: 'query',
      required: false,
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

  it('documents the error codes of every route, by HTTP status', () => {
    const missing = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => !ERROR_DESCRIPTIONS[c]);
    expect(missing, 'error codes without a description in src/docs/error-docs.ts').toEqual([]);
    for (const code of Object.keys(ERROR_CODES)) expect(doc.info.description).toContain(`| \`${code}\` |`);

    for (const route of ROUTES) {
      const op = doc.paths[route.path][route.method];
      expect(op['x-error-codes']).toEqual(routeErrors(route));
      for (const code of op['x-error-codes'] as ErrorCode[]) {
        const res = op.responses[String(ERROR_CODES[code])];
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
    expect(doc.paths['/healthz'].get).toMatchObject({ security: [], 'x-error-codes': ['INTERNAL'] });
    expect(doc.components.schemas.ErrorCode.enum).toEqual(Object.keys(ERROR_CODES));
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
      eventTypes: ['docs.never'],
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
    expect((await fetch(`${s.url}/docs/assets/package.json`)).status).toBe(404);
    expect((await fetch(`${s.url}/docs/assets/..%2Fpackage.json`)).status).toBe(404);
    const json = await fetch(`${s.url}/docs/openapi.json`);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    // The API itself still needs credentials.
    expect((await http(s.url, 'GET', '/v1/onboardings', undefined, { authorization: '' })).status).toBe(401);
  });
});
