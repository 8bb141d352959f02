// Refusals REST and GraphQL owe every caller alike (an outside audit's findings): the role is checked before the
// cluster is looked up (a caller without it learns nothing about clusters); a batch stream refuses an empty cursor as
// a request stream does; an optional body field sent as null is one left out, on REST as on GraphQL; a `__proto__`
// key of a batch's options is an unknown field; the webhook list refuses unknown query parameters; a re-apply's body
// is checked before the namespace's history is looked up.
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { ADMIN_TOKEN, gql, http, refusal, startStack, type Stack, uniqueName, wsClient } from '../support/harness.js';

/** One operation over graphql-ws: its first result, or the errors it was refused with. */
function wsRun(client: Client, query: string, variables: Record<string, unknown> = {}) {
  return new Promise<{ data?: any; errors?: any[] }>((resolve, reject) => {
    client.subscribe(
      { query, variables },
      {
        next: (msg) => resolve(msg as { data?: any; errors?: any[] }),
        error: (err) => (Array.isArray(err) ? resolve({ errors: err }) : reject(err as Error)),
        complete: () => resolve({}),
      },
    );
  });
}

const codeOf = (r: { errors?: any[] }) => r.errors?.[0]?.extensions?.code;
const fieldsOf = (r: { errors?: any[] }) => r.errors?.[0]?.extensions?.fields?.map((f: { field: string }) => f.field);

describe('refusals the same for every caller and transport', () => {
  let s: Stack;
  const tokens: Record<'viewer' | 'approver' | 'requester', string> = { viewer: '', approver: '', requester: '' };
  const as = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    s = await startStack();
    for (const role of ['viewer', 'approver', 'requester'] as const) {
      const name = uniqueName(role);
      const r = await http(s.url, 'POST', '/v1/tokens', { name, roles: [role], scopes: ['emulator/*'] });
      expect(r.status).toBe(201);
      tokens[role] = r.body.token;
    }
  });
  afterAll(() => s?.close());

  describe('the role before the cluster is looked up', () => {
    const target = (cluster: string) => ({ namespace: 'bookstore', cluster });
    const batch = (cluster: string) => ({ kind: 'ONBOARD', targets: [target(cluster)] });
    const rest: [string, (cluster: string) => unknown][] = [
      ['/v1/onboardings', target],
      ['/v1/offboardings', target],
      ['/v1/onboardings/plan', target],
      ['/v1/offboardings/plan', target],
      ['/v1/batches', batch],
      ['/v1/batches/plan', batch],
    ];
    const graphql: [string, string, (cluster: string) => unknown][] = [
      ['requestOnboarding', 'mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }', target],
      ['requestOffboarding', 'mutation($i: OffboardingInput!) { requestOffboarding(input: $i) { id } }', target],
      ['planOnboarding', 'query($i: OnboardingInput!) { planOnboarding(input: $i) { blocked } }', target],
      ['planOffboarding', 'query($i: OffboardingInput!) { planOffboarding(input: $i) { blocked } }', target],
      ['requestBatch', 'mutation($i: BatchInput!) { requestBatch(input: $i) { id } }', batch],
      ['planBatch', 'query($i: BatchInput!) { planBatch(input: $i) { blocked } }', batch],
    ];

    it.each(['viewer', 'approver'] as const)(
      'a %s is refused (403) on every REST route that needs the requester role, known cluster or not',
      async (role) => {
        for (const [path, body] of rest) {
          for (const cluster of ['nonexistent', 'emulator']) {
            const r = await http(s.url, 'POST', path, body(cluster), as(tokens[role]));
            expect(refusal(r), `${path} ${cluster}`).toEqual([403, 'FORBIDDEN']);
            expect(JSON.stringify(r.body)).not.toContain('nonexistent');
          }
        }
        for (const cluster of ['nonexistent', 'emulator']) {
          const r = await http(s.url, 'POST', `/v1/namespaces/${cluster}/bookstore/reapply`, {}, as(tokens[role]));
          expect(refusal(r), `reapply ${cluster}`).toEqual([403, 'FORBIDDEN']);
        }
      },
    );

    it.each(['viewer', 'approver'] as const)('a %s is refused (FORBIDDEN) by GraphQL the same way', async (role) => {
      for (const [name, query, input] of graphql) {
        for (const cluster of ['nonexistent', 'emulator']) {
          const r = await gql(s.url, query, { i: input(cluster) }, as(tokens[role]));
          expect(codeOf(r), `${name} ${cluster}`).toBe('FORBIDDEN');
        }
      }
      const reapply = await gql(
        s.url,
        'mutation($c: String!) { reapplyOnboarding(cluster: $c, namespace: "bookstore") { id } }',
        { c: 'nonexistent' },
        as(tokens[role]),
      );
      expect(codeOf(reapply)).toBe('FORBIDDEN');
    });

    it('a caller with the role still gets CLUSTER_NOT_FOUND for an unknown cluster, on both transports', async () => {
      const r = await http(s.url, 'POST', '/v1/onboardings', target('nonexistent'), as(tokens.requester));
      expect(refusal(r)).toEqual([422, 'CLUSTER_NOT_FOUND']);
      const plan = await http(s.url, 'POST', '/v1/batches/plan', batch('nonexistent'), as(tokens.requester));
      // Every refused target with the same code: the batch's error carries it (as the single request's).
      expect(refusal(plan)).toEqual([422, 'CLUSTER_NOT_FOUND']);
      expect(plan.body.error.fields.map((f: { field: string }) => f.field)).toEqual(['targets.0.cluster']);
      const g = await gql(s.url, graphql[0][1], { i: target('nonexistent') }, as(tokens.requester));
      expect(codeOf(g)).toBe('CLUSTER_NOT_FOUND');
    });

    it('a bad body is still refused (422) before the role, as before', async () => {
      const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: 'Bad_Name' }, as(tokens.viewer));
      expect(refusal(r)).toEqual([422, 'VALIDATION_FAILED']);
    });
  });

  describe("a batch stream's cursor", () => {
    let batchId: string;
    beforeAll(async () => {
      const names = [uniqueName('rr'), uniqueName('rr')];
      for (const ns of names) seedAppNamespace(s.emulator.store, ns);
      await s.emulator.idle();
      const created = await http(s.url, 'POST', '/v1/batches', {
        kind: 'ONBOARD',
        targets: names.map((namespace) => ({ namespace })),
        options: { dryRun: true },
      });
      expect(created.status).toBe(202);
      batchId = created.body.id;
    });

    /** The answer's status and, for a refusal, its error; a stream that opens is let go at once. */
    async function open(query: string, headers: Record<string, string> = {}) {
      const aborter = new AbortController();
      const res = await fetch(`${s.url}/v1/batches/${batchId}/events${query}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers },
        signal: aborter.signal,
      });
      const error = res.status === 200 ? undefined : ((await res.json()) as { error: any }).error;
      aborter.abort();
      return { status: res.status, error };
    }

    it('refuses an empty or blank one over SSE (422 naming after or Last-Event-ID), as a request stream', async () => {
      for (const [query, headers, field] of [
        ['?after=', {}, 'after'],
        ['?after=%20', {}, 'after'],
        ['?after', {}, 'after'],
        ['', { 'last-event-id': '' }, 'Last-Event-ID'],
        ['', { 'last-event-id': ' ' }, 'Last-Event-ID'],
      ] as const) {
        const r = await open(query, headers);
        expect([r.status, r.error?.code], `${query} ${JSON.stringify(headers)}`).toEqual([422, 'VALIDATION_FAILED']);
        expect(r.error.fields.map((f: { field: string }) => f.field)).toEqual([field]);
      }
      // Left out, the stream opens from the start.
      expect((await open('')).status).toBe(200);
    });

    it('refuses an empty or blank one over graphql-ws (batchProgress(after:)), naming after', async () => {
      const ws = wsClient(s.url);
      try {
        for (const after of ['', ' ']) {
          const r = await wsRun(
            ws,
            'subscription($b: ID!, $a: String) { batchProgress(batchId: $b, after: $a) { id } }',
            { b: batchId, a: after },
          );
          expect([codeOf(r), fieldsOf(r)], JSON.stringify(after)).toEqual(['VALIDATION_FAILED', ['after']]);
        }
      } finally {
        await ws.dispose();
      }
    });
  });

  describe('an optional body field sent as null is one left out, on REST as on GraphQL', () => {
    const WEBHOOK = { url: 'https://hooks.example.com/x', eventTypes: ['request.rejected'] };

    it('POST /v1/tokens and createApiToken take scopes and expiresInDays as null', async () => {
      const r = await http(s.url, 'POST', '/v1/tokens', {
        name: uniqueName('nulls'),
        roles: ['viewer'],
        scopes: null,
        expiresInDays: null,
      });
      expect(r.status).toBe(201);
      expect(r.body.record).toMatchObject({ scopes: [], expiresAt: null });
      const g = await gql(
        s.url,
        'mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { record { scopes expiresAt } } }',
        { i: { name: uniqueName('nulls'), roles: ['viewer'], scopes: null, expiresInDays: null } },
      );
      expect(g.errors).toBeUndefined();
      expect(g.data.createApiToken.record).toEqual({ scopes: [], expiresAt: null });
    });

    it('POST /v1/webhooks and createWebhook take secret, description and format as null', async () => {
      const body = { ...WEBHOOK, secret: null, description: null, format: null };
      const r = await http(s.url, 'POST', '/v1/webhooks', body, as(tokens.requester));
      expect(r.status).toBe(201);
      expect(r.body.secret).toEqual(expect.any(String)); // generated, as when left out
      expect(r.body.webhook).toMatchObject({ format: 'json', description: null });
      const g = await gql(
        s.url,
        'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { format description } } }',
        { i: body },
        as(tokens.requester),
      );
      expect(g.errors).toBeUndefined();
      expect(g.data.createWebhook).toEqual({
        secret: expect.any(String),
        webhook: { format: 'json', description: null },
      });
    });

    it("both take a webhook's description and store it; both refuse one over 200 characters", async () => {
      const r = await http(s.url, 'POST', '/v1/webhooks', { ...WEBHOOK, description: 'team-a' }, as(tokens.requester));
      expect(r.status).toBe(201);
      expect((await http(s.url, 'GET', `/v1/webhooks/${r.body.webhook.id}`)).body.description).toBe('team-a');
      const g = await gql(
        s.url,
        'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { description } } }',
        { i: { ...WEBHOOK, description: 'team-b' } },
        as(tokens.requester),
      );
      expect(g.data.createWebhook.webhook.description).toBe('team-b');
      const long = { ...WEBHOOK, description: 'x'.repeat(201) };
      const tooLong = await http(s.url, 'POST', '/v1/webhooks', long, as(tokens.requester));
      expect(refusal(tooLong)).toEqual([422, 'VALIDATION_FAILED']);
      const gTooLong = await gql(
        s.url,
        'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret } }',
        { i: long },
        as(tokens.requester),
      );
      expect([codeOf(gTooLong), fieldsOf(gTooLong)]).toEqual(['VALIDATION_FAILED', ['description']]);
    });

    /** A dry run of a fresh namespace: a stored request that runs nothing (PLANNED). */
    async function planned() {
      const ns = uniqueName('nullc');
      seedAppNamespace(s.emulator.store, ns);
      await s.emulator.idle();
      const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, dryRun: true });
      expect(r.status).toBe(202);
      return { id: r.body.id as string, ns };
    }

    it("an approval's comment as null: taken on both transports (the request's state refuses it)", async () => {
      const { id } = await planned();
      const approve = await http(s.url, 'POST', `/v1/onboardings/${id}/approve`, { comment: null });
      expect(approve.body.error.code).toBe('REQUEST_NOT_PENDING_APPROVAL');
      const query = 'mutation($id: ID!) { approveOnboardingRequest(id: $id, comment: null) { id } }';
      expect(codeOf(await gql(s.url, query, { id }))).toBe('REQUEST_NOT_PENDING_APPROVAL');
    });

    it("a re-apply's restart and dryRun as null: left out (the namespace's history refuses it)", async () => {
      const { ns } = await planned();
      for (const body of [{ dryRun: null }, { restart: null }]) {
        const r = await http(s.url, 'POST', `/v1/namespaces/emulator/${ns}/reapply`, body);
        expect(refusal(r), JSON.stringify(body)).toEqual([409, 'NOTHING_TO_REAPPLY']);
      }
    });

    it("a cancellation's reason as null, for a request and for a batch", async () => {
      const { id } = await planned();
      const cancel = await http(s.url, 'POST', `/v1/onboardings/${id}/cancel`, { reason: null });
      expect([cancel.status, cancel.body.status]).toEqual([200, 'CANCELLED']);
      const ns = uniqueName('nullb');
      seedAppNamespace(s.emulator.store, ns);
      await s.emulator.idle();
      const b = await http(s.url, 'POST', '/v1/batches', {
        kind: 'ONBOARD',
        targets: [{ namespace: ns }],
        options: { dryRun: true },
      });
      expect(b.status).toBe(202);
      const batchCancel = await http(s.url, 'POST', `/v1/batches/${b.body.id}/cancel`, { reason: null });
      expect(batchCancel.status).toBe(200);
      expect(batchCancel.body.results).toEqual([expect.objectContaining({ ok: true })]);
    });
  });

  describe("a batch's options", () => {
    const ns = 'bookstore';
    const raw = (options: string) => `{"kind":"ONBOARD","targets":[{"namespace":"${ns}"}],"options":${options}}`;

    it('refuse a top-level __proto__ key as an unknown field (REST plan and create), as options.zz', async () => {
      for (const path of ['/v1/batches/plan', '/v1/batches']) {
        for (const [options, field] of [
          ['{"__proto__":{"restart":{"mode":"all"}}}', 'options.__proto__'],
          ['{"__proto__":1}', 'options.__proto__'],
          ['{"zz":1}', 'options.zz'],
        ]) {
          const r = await http(s.url, 'POST', path, raw(options));
          expect(refusal(r), `${path} ${options}`).toEqual([422, 'VALIDATION_FAILED']);
          expect(r.body.error.fields.map((f: { field: string }) => f.field)).toEqual([field]);
        }
      }
    });

    it('the same over GraphQL: planBatch and requestBatch with it in a variable or in the document', async () => {
      for (const op of [
        'query($i: BatchInput!) { planBatch(input: $i) { blocked } }',
        'mutation($i: BatchInput!) { requestBatch(input: $i) { id } }',
      ]) {
        const input = raw('{"__proto__":{"restart":{"mode":"all"}}}');
        const body = `{"query":${JSON.stringify(op)},"variables":{"i":${input}}}`;
        const r = await http(s.url, 'POST', '/graphql', body);
        expect([codeOf(r.body), fieldsOf(r.body)], op).toEqual(['VALIDATION_FAILED', ['options.__proto__']]);
      }
      const literal = await gql(
        s.url,
        `query { planBatch(input: {kind: ONBOARD, targets: [{namespace: "${ns}"}], ` +
          `options: {__proto__: {restart: {mode: "all"}}}}) { blocked } }`,
      );
      expect([codeOf(literal), fieldsOf(literal)]).toEqual(['VALIDATION_FAILED', ['options.__proto__']]);
    });
  });

  it('GET /v1/webhooks refuses an unknown query parameter (422 naming it), as /v1/tokens does', async () => {
    for (const path of ['/v1/webhooks?zz=1', '/v1/tokens?zz=1']) {
      const r = await http(s.url, 'GET', path);
      expect(refusal(r), path).toEqual([422, 'VALIDATION_FAILED']);
      expect(r.body.error.fields).toEqual([{ field: 'zz', message: 'unknown field' }]);
    }
    expect((await http(s.url, 'GET', '/v1/webhooks')).status).toBe(200);
  });

  describe("a re-apply's body is checked before the namespace's history is looked up", () => {
    it.each([
      [{ restart: 'x' }, 'restart'],
      [{ restart: { mode: 'bogus' } }, 'restart.mode'],
      [{ restart: { mode: 'selected' } }, 'restart.deployments'],
      [{ restart: { mode: 'all', zz: 1 } }, 'restart.zz'],
      [{ dryRun: 'yes' }, 'dryRun'],
    ])('REST %j: 422 naming %s, not 409 NOTHING_TO_REAPPLY', async (body, field) => {
      const r = await http(s.url, 'POST', '/v1/namespaces/emulator/bookbuyer/reapply', body);
      expect(refusal(r)).toEqual([422, 'VALIDATION_FAILED']);
      expect(r.body.error.fields.map((f: { field: string }) => f.field)).toEqual([field]);
    });

    it('GraphQL reapplyOnboarding the same', async () => {
      for (const [restart, field] of [
        ['{mode: "bogus"}', 'restart.mode'],
        ['{mode: "selected"}', 'restart.deployments'],
      ]) {
        const r = await gql(
          s.url,
          `mutation { reapplyOnboarding(cluster: "emulator", namespace: "bookbuyer", restart: ${restart}) { id } }`,
        );
        expect([codeOf(r), fieldsOf(r)], restart).toEqual(['VALIDATION_FAILED', [field]]);
      }
      const fine = await http(s.url, 'POST', '/v1/namespaces/emulator/bookbuyer/reapply', { restart: { mode: 'all' } });
      expect(refusal(fine)).toEqual([409, 'NOTHING_TO_REAPPLY']);
    });
  });
});
