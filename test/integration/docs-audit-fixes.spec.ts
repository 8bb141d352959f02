// Fixes from the docs-vs-behaviour audit: REST names the Idempotency-Key header when a key is reused (GraphQL its
// argument), a batch whose refused targets share one code answers with it, a batch's 403s name
// `targets.<i>.<field>` / `options.<field>`, and webhook event types no event has are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { gql, http, startStack, Stack, uniqueName } from '../support/harness.js';

const REQUEST_BATCH = 'mutation($i: BatchInput!, $k: String) { requestBatch(input: $i, idempotencyKey: $k) { id } }';
const PLAN_BATCH = 'query($i: BatchInput!) { planBatch(input: $i) { namespace } }';
const fieldsOf = (r: { body: any }) => r.body.error?.fields?.map((f: { field: string }) => f.field);
const gqlRefusal = (g: { errors?: any[] }) => [
  g.errors?.[0]?.extensions?.code,
  g.errors?.[0]?.extensions?.fields?.map((f: { field: string }) => f.field),
];

describe('docs audit fixes', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ env: { MESH_WIDE_CHANGES: 'refuse' } });
  });
  afterAll(() => s?.close());

  const seed = async (prefix: string) => {
    const ns = uniqueName(prefix);
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    return ns;
  };

  it('a reused Idempotency-Key names the header on REST and the idempotencyKey argument on GraphQL', async () => {
    const ns = await seed('idem');
    const key = uniqueName('k');
    const first = await http(
      s.url,
      'POST',
      '/v1/onboardings',
      { namespace: ns, dryRun: true },
      { 'idempotency-key': key },
    );
    expect(first.status).toBe(202);
    const other = { namespace: ns, dryRun: true, restart: { mode: 'all' } };
    const rest = await http(s.url, 'POST', '/v1/onboardings', other, { 'idempotency-key': key });
    expect([rest.status, rest.body.error.code, fieldsOf(rest)]).toEqual([
      422,
      'IDEMPOTENCY_KEY_REUSED',
      ['Idempotency-Key'],
    ]);
    const g = await gql(
      s.url,
      'mutation($i: OnboardingInput!, $k: String) { requestOnboarding(input: $i, idempotencyKey: $k) { id } }',
      { i: other, k: key },
    );
    expect(gqlRefusal(g)).toEqual(['IDEMPOTENCY_KEY_REUSED', ['idempotencyKey']]);

    const batchKey = uniqueName('bk');
    const batch = { kind: 'ONBOARD', targets: [{ namespace: ns }], options: { dryRun: true } };
    const created = await http(s.url, 'POST', '/v1/batches', batch, { 'idempotency-key': batchKey });
    expect(created.status).toBe(202);
    const changed = { ...batch, options: { dryRun: true, restart: { mode: 'all' } } };
    const again = await http(s.url, 'POST', '/v1/batches', changed, { 'idempotency-key': batchKey });
    expect([again.status, again.body.error.code, fieldsOf(again)]).toEqual([
      422,
      'IDEMPOTENCY_KEY_REUSED',
      ['Idempotency-Key'],
    ]);
    expect(gqlRefusal(await gql(s.url, REQUEST_BATCH, { i: changed, k: batchKey }))).toEqual([
      'IDEMPOTENCY_KEY_REUSED',
      ['idempotencyKey'],
    ]);
  });

  it('a batch whose refused targets share one code answers with it; else VALIDATION_FAILED', async () => {
    const good = await seed('bc-ok');
    const missing = uniqueName('bc-missing');
    const input = { kind: 'ONBOARD', targets: [{ namespace: good }, { namespace: missing }] };
    for (const path of ['/v1/batches', '/v1/batches/plan']) {
      const r = await http(s.url, 'POST', path, input);
      expect([r.status, r.body.error.code], path).toEqual([422, 'NAMESPACE_NOT_FOUND']);
      expect(r.body.error.fields, path).toEqual([
        { field: 'targets.1.namespace', message: expect.stringContaining('(NAMESPACE_NOT_FOUND)') },
      ]);
    }
    expect(gqlRefusal(await gql(s.url, REQUEST_BATCH, { i: input }))).toEqual([
      'NAMESPACE_NOT_FOUND',
      ['targets.1.namespace'],
    ]);
    expect(gqlRefusal(await gql(s.url, PLAN_BATCH, { i: input }))).toEqual([
      'NAMESPACE_NOT_FOUND',
      ['targets.1.namespace'],
    ]);
    // Two targets, two codes: VALIDATION_FAILED, each field naming its own.
    const mixed = { kind: 'ONBOARD', targets: [{ namespace: missing }, { namespace: good, cluster: 'nowhere' }] };
    const r = await http(s.url, 'POST', '/v1/batches', mixed);
    expect([r.status, r.body.error.code, fieldsOf(r)]).toEqual([
      422,
      'VALIDATION_FAILED',
      ['targets.0.namespace', 'targets.1.cluster'],
    ]);
    expect(gqlRefusal(await gql(s.url, PLAN_BATCH, { i: mixed }))).toEqual([
      'VALIDATION_FAILED',
      ['targets.0.namespace', 'targets.1.cluster'],
    ]);
  });

  it("a batch's scope and mesh-wide refusals name targets.<i>.<field> and options.<field>", async () => {
    const prefix = uniqueName('bscope');
    const inside = `${prefix}-a`;
    seedAppNamespace(s.emulator.store, inside);
    const outside = await seed('bout');
    await s.emulator.idle();
    const token = (
      await http(s.url, 'POST', '/v1/tokens', {
        name: uniqueName('bscope'),
        roles: ['requester'],
        scopes: [`emulator/${prefix}-*`],
      })
    ).body.token;
    const as = { authorization: `Bearer ${token}` };
    const scoped = { kind: 'ONBOARD', targets: [{ namespace: inside }, { namespace: outside }] };
    for (const path of ['/v1/batches', '/v1/batches/plan']) {
      const r = await http(s.url, 'POST', path, scoped, as);
      expect([r.status, r.body.error.code, fieldsOf(r)], path).toEqual([403, 'FORBIDDEN', ['targets.1.namespace']]);
    }
    expect(gqlRefusal(await gql(s.url, REQUEST_BATCH, { i: scoped }, as))).toEqual([
      'FORBIDDEN',
      ['targets.1.namespace'],
    ]);
    expect(gqlRefusal(await gql(s.url, PLAN_BATCH, { i: scoped }, as))).toEqual(['FORBIDDEN', ['targets.1.namespace']]);

    const meshWide = {
      kind: 'ONBOARD',
      targets: [{ namespace: inside }],
      options: { apiServerAccess: { method: 'ip-exclusion' } },
    };
    const r = await http(s.url, 'POST', '/v1/batches', meshWide, as);
    expect([r.status, r.body.error.code, fieldsOf(r)]).toEqual([
      403,
      'MESH_WIDE_CHANGE_FORBIDDEN',
      ['options.apiServerAccess.method'],
    ]);
    expect(gqlRefusal(await gql(s.url, REQUEST_BATCH, { i: meshWide }, as))).toEqual([
      'MESH_WIDE_CHANGE_FORBIDDEN',
      ['options.apiServerAccess.method'],
    ]);
  });

  it('refuses webhook event types no event has, naming eventTypes.<i>, with the known types in the hint', async () => {
    const eventTypes = ['request.succeeded', 'bogus', 'request.succeded', 'none.*', 'step.*', '*'];
    const r = await http(s.url, 'POST', '/v1/webhooks', { url: 'https://bot.example.com/osm', eventTypes });
    expect([r.status, r.body.error.code, fieldsOf(r)]).toEqual([
      422,
      'VALIDATION_FAILED',
      ['eventTypes.1', 'eventTypes.2', 'eventTypes.3'],
    ]);
    expect(r.body.error.hint).toContain('request.succeeded');
    expect(r.body.error.hint).toContain('namespace.drifted');
    const g = await gql(s.url, 'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }', {
      i: { url: 'https://bot.example.com/osm', eventTypes },
    });
    expect(gqlRefusal(g)).toEqual(['VALIDATION_FAILED', ['eventTypes.1', 'eventTypes.2', 'eventTypes.3']]);
    expect(g.errors[0].extensions.hint).toContain('step.failed');
    const ok = await http(s.url, 'POST', '/v1/webhooks', {
      url: 'https://bot.example.com/osm',
      eventTypes: ['namespace.drifted', 'approval.*', 'step.failed', 'request.*', '*'],
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
  });
});
