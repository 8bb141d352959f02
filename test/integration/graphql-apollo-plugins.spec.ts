// What Apollo Server does by itself on /graphql (src/graphql/apollo-plugins.ts): every response over HTTP says
// `Cache-Control: no-store`, data and errors alike, and nothing reports to Apollo's cloud because of the
// environment: APOLLO_SCHEMA_REPORTING=true without a key, which makes a stock Apollo Server refuse to start, is
// ignored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { ADMIN_TOKEN, stackEnv, startApi } from '../support/harness.js';

describe('Apollo Server on /graphql', () => {
  let emulator: Emulator;
  let api: Awaited<ReturnType<typeof startApi>>;
  const saved = { reporting: process.env.APOLLO_SCHEMA_REPORTING, key: process.env.APOLLO_KEY };

  beforeAll(async () => {
    emulator = await startEmulator();
    process.env.APOLLO_SCHEMA_REPORTING = 'true';
    delete process.env.APOLLO_KEY;
    try {
      api = await startApi(await stackEnv(emulator, { ROLE: 'api' }));
    } finally {
      if (saved.reporting === undefined) delete process.env.APOLLO_SCHEMA_REPORTING;
      else process.env.APOLLO_SCHEMA_REPORTING = saved.reporting;
      if (saved.key !== undefined) process.env.APOLLO_KEY = saved.key;
    }
  }, 30_000);
  afterAll(async () => {
    await api?.app.close();
    await emulator?.close();
  });

  const post = (body: unknown) =>
    fetch(`${api.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('starts with APOLLO_SCHEMA_REPORTING=true in the environment, and answers', async () => {
    const res = await post({ query: '{ onboardingRequests(first: 1) { edges { node { id } } } }' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data?: unknown; errors?: unknown };
    expect(body.errors).toBeUndefined();
    expect(body.data).toBeDefined();
  });

  it('sends Cache-Control: no-store with data, with a refused query and with a syntax error', async () => {
    const ok = await post({ query: '{ __typename }' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toBe('no-store');
    const invalid = await post({ query: '{ noSuchField }' });
    expect(invalid.status).toBe(400);
    expect(invalid.headers.get('cache-control')).toBe('no-store');
    const syntax = await post({ query: '{' });
    expect(syntax.status).toBe(400);
    expect(syntax.headers.get('cache-control')).toBe('no-store');
  });
});
