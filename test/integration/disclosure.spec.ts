// Answers that tell only what the caller may know (issue 10, items 6 and 7): introspection behind authentication,
// GraphiQL and introspection off in production unless asked for, GraphiQL served without a CDN, and the list of
// kubeconfig contexts shown to admins only.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, gql, http, startStack, Stack, uniqueName } from '../support/harness.js';

const INTROSPECTION = '{ __schema { queryType { name } } }';

/** One query over graphql-ws; its errors or data. */
async function overWs(base: string, query: string) {
  const client = createClient({
    url: base.replace(/^http/, 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  try {
    return await new Promise<{ data?: any; errors?: any[] }>((resolve) => {
      let result = {};
      client.subscribe(
        { query },
        { next: (m) => (result = m), error: (e) => resolve({ errors: e as any[] }), complete: () => resolve(result) },
      );
    });
  } finally {
    await client.dispose();
  }
}

const graphiqlPage = (base: string) => fetch(`${base}/graphql`, { headers: { accept: 'text/html' } });

describe('disclosure (development settings)', () => {
  let s: Stack;
  const viewer = { authorization: '' };
  const requester = { authorization: '' };

  beforeAll(async () => {
    s = await startStack({ env: { ROLE: 'api' } });
    for (const [who, roles] of [
      [viewer, ['viewer']],
      [requester, ['requester']],
    ] as const) {
      const r = await http(s.url, 'POST', '/v1/tokens', { name: uniqueName('disc'), roles, scopes: ['*/*'] });
      who.authorization = `Bearer ${r.body.token}`;
    }
  });
  afterAll(async () => {
    await s?.close();
  });

  it('answers introspection only to an authenticated caller', async () => {
    const anonymous = await gql(s.url, INTROSPECTION, {}, { authorization: '' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(anonymous.data).toBeUndefined();
    const typeQuery = await gql(s.url, '{ __type(name: "Query") { name } }', {}, { authorization: 'Bearer nope' });
    expect(typeQuery.status).toBe(401);
    const authenticated = await gql(s.url, INTROSPECTION, {}, viewer);
    expect(authenticated.data.__schema.queryType.name).toBe('Query');
    expect((await overWs(s.url, INTROSPECTION)).data.__schema.queryType.name).toBe('Query');
  });

  it('serves GraphiQL from the service itself, nothing from a CDN', async () => {
    const res = await graphiqlPage(s.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toContain('osm-onboarding GraphiQL');
    expect(html).toContain('renderYogaGraphiQL');
    // No script, stylesheet or font is fetched from elsewhere.
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)=["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/unpkg\.com|jsdelivr|cdnjs|esm\.sh|fonts\.googleapis/);
  });

  it('names the known clusters to admins only', async () => {
    const path = '/v1/clusters/no-such-cluster/namespaces';
    for (const who of [viewer, requester]) {
      const r = await http(s.url, 'GET', path, undefined, who);
      expect(r.status).toBe(422);
      expect(r.body.error.code).toBe('CLUSTER_NOT_FOUND');
      expect(JSON.stringify(r.body)).not.toMatch(/staging|known clusters/);
    }
    const plan = await http(
      s.url,
      'POST',
      '/v1/onboardings/plan',
      { cluster: 'no-such-cluster', namespace: 'bookbuyer' },
      requester,
    );
    expect(plan.body.error.code).toBe('CLUSTER_NOT_FOUND');
    expect(JSON.stringify(plan.body)).not.toMatch(/staging|known clusters/);
    const g = await gql(s.url, '{ namespaceStatuses(cluster: "no-such-cluster") { cluster } }', {}, viewer);
    expect(g.errors[0].extensions.code).toBe('CLUSTER_NOT_FOUND');
    expect(JSON.stringify(g.errors)).not.toMatch(/staging|known clusters/);
    const admin = await http(s.url, 'GET', path);
    expect(admin.body.error.hint).toBe('known clusters: emulator, staging');
    const adminGql = await gql(s.url, '{ namespaceStatuses(cluster: "no-such-cluster") { cluster } }');
    expect(adminGql.errors[0].extensions.hint).toBe('known clusters: emulator, staging');
  });
});

describe('disclosure with NODE_ENV=production', () => {
  let prod: Stack;
  let opted: Stack;

  beforeAll(async () => {
    prod = await startStack({ env: { ROLE: 'api', NODE_ENV: 'production' } });
    opted = await startStack({
      emulator: prod.emulator,
      env: { ROLE: 'api', NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true', GRAPHIQL: 'true' },
    });
  });
  afterAll(async () => {
    await opted?.close();
    await prod?.close();
  });

  it('has no GraphiQL and refuses introspection, over HTTP and WebSocket, even to an admin', async () => {
    const page = await graphiqlPage(prod.url);
    expect(page.headers.get('content-type') ?? '').not.toContain('text/html');
    const http = await gql(prod.url, INTROSPECTION);
    expect(http.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(http.errors[0].message).toMatch(/introspection/i);
    const ws = await overWs(prod.url, INTROSPECTION);
    expect(ws.errors?.[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(ws.errors?.[0].message).toMatch(/introspection/i);
    // Ordinary queries are unaffected.
    expect((await gql(prod.url, '{ onboardingRequests(first: 1) { edges { cursor } } }')).errors).toBeUndefined();
  });

  it('serves both when GRAPHIQL and GRAPHQL_INTROSPECTION say so', async () => {
    expect((await graphiqlPage(opted.url)).status).toBe(200);
    expect((await gql(opted.url, INTROSPECTION)).data.__schema.queryType.name).toBe('Query');
    expect((await overWs(opted.url, INTROSPECTION)).data.__schema.queryType.name).toBe('Query');
  });
});
