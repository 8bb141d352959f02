// Bad input and abuse through the real stack: fuzzed REST bodies and GraphQL variables (coded 4xx, never a 5xx or
// INTERNAL), unstorable text in any string, GraphQL depth and alias limits, body size, rate limits, secrets in logs.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, gql, http, stackEnv, startStack, Stack, uniqueName } from '../support/harness.js';

describe('bad input and abuse', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ env: { RATE_LIMIT_PER_MINUTE: '1000', GRAPHQL_MAX_DEPTH: '3' } });
  });
  afterAll(() => s.close());

  it('fuzzed REST bodies get 4xx with field-level messages, never a 5xx', async () => {
    const value = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
    );
    const body = fc.oneof(
      fc.dictionary(
        fc.constantFrom(
          'namespace',
          'cluster',
          'meshName',
          'sidecarInjection',
          'restart',
          'trafficPolicy',
          'appProtocols',
          'dryRun',
          'bogus',
        ),
        value,
        { maxKeys: 5 },
      ),
      value,
    );
    await fc.assert(
      fc.asyncProperty(
        body,
        fc.constantFrom('/v1/onboardings', '/v1/offboardings', '/v1/onboardings/plan', '/v1/batches'),
        async (b, path) => {
          const r = await http(s.url, 'POST', path, JSON.stringify(b));
          expect(r.status, JSON.stringify({ b, r: r.body })).toBeLessThan(500);
          if (r.status >= 400) {
            expect(typeof r.body.error.code).toBe('string');
            if (r.body.error.code === 'VALIDATION_FAILED') expect(r.body.error.fields.length).toBeGreaterThan(0);
          }
          // Anything accepted must not linger as an active request for the next run.
          if (r.status === 202 && r.body.id) await http(s.url, 'POST', `/v1/onboardings/${r.body.id}/cancel`, {});
        },
      ),
      { numRuns: 150 },
    );
  });

  it('fuzzed GraphQL variables get coded errors, never INTERNAL', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), async (input) => {
        const r = await gql(
          s.url,
          `mutation($i: OnboardingInput!) { requestOnboarding(input: $i, dryRun: true) { id } }`.replace(
            ', dryRun: true',
            '',
          ),
          { i: input },
        );
        if (r.errors) {
          for (const e of r.errors) {
            expect(e.extensions?.code).toBeDefined();
            expect(e.extensions.code).not.toBe('INTERNAL');
          }
        } else {
          await http(s.url, 'POST', `/v1/onboardings/${r.data.requestOnboarding.id}/cancel`, {});
        }
      }),
      { numRuns: 100 },
    );
  });

  it('a NUL or lone surrogate in any string of a body: 422 naming its field (REST, GraphQL), never 5xx', async () => {
    const ns = uniqueName('text');
    const body = {
      namespace: ns,
      cluster: 'emulator',
      meshName: 'osm',
      dryRun: true,
      prerequisites: { acceptErrors: ['OSM_RESERVED_UID'] },
      appProtocols: [{ service: 'web', port: 'http', appProtocol: 'http' }],
      trafficPolicy: {
        mode: 'smi',
        smi: {
          httpRouteGroups: [
            { name: 'r', spec: { matches: [{ name: 'all', pathRegex: '.*', headers: { 'x-a': 'b' } }] } },
          ],
          tcpRoutes: [{ name: 't', spec: { matches: { ports: [5432] } } }],
        },
      },
      restart: { mode: 'selected', deployments: ['app-0'] },
    };
    /** Every string of the body (values and keys), by path. */
    const strings: { path: (string | number)[]; key: boolean }[] = [];
    const walk = (v: unknown, path: (string | number)[]) => {
      if (typeof v === 'string') strings.push({ path, key: false });
      else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (path.at(-1) === 'headers') strings.push({ path: [...path, k], key: true });
          walk(x, [...path, k]);
        }
      }
    };
    walk(body, []);
    const spoil = (at: { path: (string | number)[]; key: boolean }, bad: string) => {
      const copy = structuredClone(body) as any;
      const parent = at.path.slice(0, -1).reduce((o, k) => o[k], copy);
      const last = at.path.at(-1)!;
      if (at.key) {
        parent[`${String(last)}${bad}`] = parent[last];
        delete parent[last];
      } else parent[last] = `${parent[last]}${bad}`;
      return copy;
    };
    const mutation = `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }`;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...strings),
        fc.constantFrom('\u0000', '\ud800', '\udfff', 'x\u0000y', '\udc00\ud800'),
        async (at, bad) => {
          const input = spoil(at, bad);
          // A bad key names the object holding it; a bad value names itself.
          const field = (at.key ? at.path.slice(0, -1) : at.path).join('.');
          const r = await http(s.url, 'POST', '/v1/onboardings', input);
          expect([r.status, r.body.error?.code, r.body.error?.fields], field).toEqual([
            422,
            'VALIDATION_FAILED',
            [{ field, message: expect.any(String) }],
          ]);
          const g = await gql(s.url, mutation, { i: input });
          expect(g.errors?.[0]?.extensions, field).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field }] });
        },
      ),
      { numRuns: 60 },
    );
    expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);
  });

  it('limits GraphQL query depth and aliases', async () => {
    const deep = await gql(s.url, `{ onboardingRequests { edges { node { steps { name } } } } }`);
    expect(deep.errors[0].message).toMatch(/depth/i);
    expect(deep.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const aliases = Array.from(
      { length: 30 },
      (_, i) => `a${i}: auditEvents(requestId: "00000000-0000-4000-8000-000000000000") { id }`,
    ).join(' ');
    const many = await gql(s.url, `{ ${aliases} }`);
    expect(many.errors[0].message).toMatch(/alias/i);
  });

  it('a body of thousands of bad items: a bounded error, on REST and GraphQL', async () => {
    // 32,000 list items of the wrong type (64 kB, under the body limit): the error once listed every one (6 MB, built
    // in seconds while the process served nothing else). Every input list is bounded now, and its bound answers.
    const zeros = Array.from({ length: 32_000 }, () => 0);
    const rest = await http(s.url, 'POST', '/v1/onboardings/plan', {
      namespace: 'bookbuyer',
      prerequisites: { acceptErrors: zeros },
    });
    expect(rest.status).toBe(422);
    expect(rest.body.error.code).toBe('VALIDATION_FAILED');
    expect(rest.body.error.fields).toEqual([{ field: 'prerequisites.acceptErrors', message: 'at most 100 items' }]);
    const graphql = await gql(s.url, 'query ($i: OnboardingInput!) { planOnboarding(input: $i) { blocked } }', {
      i: { namespace: 'bookbuyer', prerequisites: { acceptErrors: Array.from({ length: 12_000 }, () => 'x') } },
    });
    expect(graphql.errors[0].extensions.code).toBe('VALIDATION_FAILED');
    expect(graphql.errors[0].extensions.fields).toEqual([
      { field: 'prerequisites.acceptErrors', message: 'at most 100 items' },
    ]);
    // 5,000 unknown fields: the first 20 named, and how many more.
    const unknown = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`f${i}`, 0]));
    const fields = await http(s.url, 'POST', '/v1/onboardings/plan', { namespace: 'bookbuyer', ...unknown });
    expect(fields.status).toBe(422);
    expect(fields.body.error.fields).toHaveLength(20);
    expect(fields.body.error.fields[0]).toEqual({ field: 'f0', message: 'unknown field' });
    expect(fields.body.error.message).toMatch(/; and 4980 more field\(s\)$/);
    expect(JSON.stringify(fields.body).length).toBeLessThan(5_000);
  });

  it('says which GraphQL limit a document passes, not "Syntax Error", and counts every alias', async () => {
    // (2 + 1.5 × (2 + 1.5 × 1)) × 200 = 1450 a list, 4 lists (GRAPHQL_MAX_DEPTH is 3 here).
    const lists = Array.from({ length: 4 }, (_, i) => `l${i}: onboardingRequests(first: 200) { edges { cursor } }`);
    const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `t${i}: __typename`).join(' ')} }`;
    const refused = [`{ ${lists.join(' ')} }`, aliased(21), '{ onboardingRequests { edges { node { id } } } }'];
    const refusals = await Promise.all(
      refused.map(async (q) => (await gql(s.url, q)).errors?.map((e: any) => [e.message, e.extensions.code])),
    );
    expect(refusals).toEqual([
      [['Query Cost limit of 5000 exceeded, found 5800.', 'GRAPHQL_VALIDATION_FAILED']],
      [['Aliases limit of 20 exceeded, found 21.', 'GRAPHQL_VALIDATION_FAILED']],
      [['Query depth limit of 3 exceeded, found 4.', 'GRAPHQL_VALIDATION_FAILED']],
    ]);
    expect((await gql(s.url, aliased(20))).data).toMatchObject({ t0: 'Query', t19: 'Query' });
  });

  it('limits the body size', async () => {
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: 'a', padding: 'x'.repeat(200_000) });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('MALFORMED_REQUEST');
  });

  it('rate-limits per token with 429 and Retry-After; other callers are unaffected', async () => {
    const limited = await startStack({ emulator: s.emulator, env: { RATE_LIMIT_PER_MINUTE: '3' } });
    try {
      const a = (
        await http(limited.url, 'POST', '/v1/tokens', { name: uniqueName('a'), roles: ['viewer'], scopes: ['*/*'] })
      ).body.token;
      const statuses = [];
      for (let i = 0; i < 5; i++)
        statuses.push(await http(limited.url, 'GET', '/v1/onboardings', undefined, { authorization: `Bearer ${a}` }));
      expect(statuses.map((r) => r.status)).toEqual([200, 200, 200, 429, 429]);
      expect(statuses[3].body.error.code).toBe('RATE_LIMITED');
      expect(Number(statuses[3].headers.get('retry-after'))).toBeGreaterThan(0);
      const b = (
        await http(limited.url, 'POST', '/v1/tokens', { name: uniqueName('b'), roles: ['viewer'], scopes: ['*/*'] })
      ).body;
      expect(b.token).toBeDefined(); // the admin had its own budget
    } finally {
      await limited.close();
    }
  });

  it('keeps tokens and kubeconfig credentials out of the logs', async () => {
    const env = await stackEnv(s.emulator, { ROLE: 'all', LOG_LEVEL: 'trace', PORT: '0' });
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, ['dist/bundle/main.mjs'], {
      cwd: resolve(import.meta.dirname, '../..'),
      env: { ...process.env, ...env, PORT: String(port) },
    });
    let logs = '';
    child.stdout.on('data', (d) => (logs += d));
    child.stderr.on('data', (d) => (logs += d));
    try {
      const base = `http://127.0.0.1:${port}`;
      for (let i = 0; i < 100 && !logs.includes('listening'); i++) await new Promise((r) => setTimeout(r, 100));
      const created = await http(base, 'POST', '/v1/tokens', {
        name: uniqueName('secret'),
        roles: ['requester'],
        scopes: ['*/*'],
      });
      const secret = created.body.token;
      await http(base, 'GET', '/v1/onboardings', undefined, { authorization: `Bearer ${secret}` });
      await http(base, 'GET', '/v1/onboardings', undefined, { authorization: `Bearer ${secret}x` });
      await http(base, 'POST', '/v1/offboardings', { namespace: 'bookbuyer' }, { authorization: `Bearer ${secret}` });
      await new Promise((r) => setTimeout(r, 500));
      expect(logs.length).toBeGreaterThan(0);
      expect(logs).toContain('/v1/onboardings');
      for (const needle of [secret, ADMIN_TOKEN, s.emulator.token]) expect(logs).not.toContain(needle);
      const audit = await http(base, 'GET', '/v1/onboardings?limit=200');
      expect(JSON.stringify(audit.body)).not.toContain(secret);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
