import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JWKS_FAILED_FETCH_COOLDOWN_MS } from '../../src/auth/jwt-verifier.js';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { gql, http, startStack, Stack, uniqueName, waitForStatus, wsHandshake } from '../support/harness.js';
import { createNamespace } from '../support/kube.js';
import { JwtOptions, startIssuer, TestIssuer } from '../support/oidc-issuer.js';

/** A local webhook receiver: the JSON bodies POSTed to each path. */
async function startReceiver() {
  const received: { path: string; json: any }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ path: req.url ?? '/', json: JSON.parse(body) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: (path: string) => `http://127.0.0.1:${port}${path}`, received, close: () => server.close() };
}

// A portal forwards its users' identity as OIDC JWTs; the service verifies them against a JWKS.
describe('OIDC/JWT bearer tokens', () => {
  let s: Stack;
  let idp: TestIssuer;

  beforeAll(async () => {
    idp = await startIssuer();
    s = await startStack({
      env: {
        ...idp.env,
        WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
        WEBHOOK_BACKOFF_MS: '50',
      },
    });
  });
  afterAll(async () => {
    await s.close();
    idp.close();
  });

  const jwt = (claims: Record<string, unknown>, opts: JwtOptions = {}) => idp.sign(claims, opts);

  it('takes the identity, roles and scopes from the verified token', async () => {
    const ns = uniqueName('team-a');
    seedAppNamespace(s.emulator.store, ns);
    const token = await jwt({ osm_roles: ['requester', 'viewer'], osm_scopes: ['emulator/team-a-*'] });
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns }, { authorization: `Bearer ${token}` });
    expect(r.status).toBe(202);
    expect(r.body.request.requestedBy).toBe('oidc:alice@example.test');
    await waitForStatus(s.url, r.body.id, ['SUCCEEDED']);
    const out = await http(
      s.url,
      'POST',
      '/v1/onboardings',
      { namespace: 'bookbuyer' },
      { authorization: `Bearer ${token}` },
    );
    expect(out.status).toBe(403);
    const noRoles = await jwt({ osm_scopes: ['*/*'] });
    expect(
      (await http(s.url, 'POST', '/v1/onboardings', { namespace: ns }, { authorization: `Bearer ${noRoles}` })).status,
    ).toBe(403);
  });

  it('refuses expired tokens, foreign issuers or audiences, and bad signatures with 401', async () => {
    const claims = { osm_roles: ['viewer'], osm_scopes: ['*/*'] };
    const good = await jwt(claims);
    expect((await http(s.url, 'GET', '/v1/onboardings', undefined, { authorization: `Bearer ${good}` })).status).toBe(
      200,
    );
    for (const bad of [
      await jwt(claims, { expires: '-1m' }),
      await jwt(claims, { issuer: 'https://evil.test' }),
      await jwt(claims, { audience: 'other' }),
      good.slice(0, -4) + 'AAAA',
    ]) {
      const r = await http(s.url, 'GET', '/v1/onboardings', undefined, { authorization: `Bearer ${bad}` });
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses malformed scope claims with 401 INVALID_TOKEN_CLAIMS, never a 500, never cut down', async () => {
    for (const osm_scopes of [
      ['x'],
      ['a/b/c'],
      ['emulator/team-a-*', 'emulator/*/x'],
      'emulator/team-a-* x',
      42,
      [{ cluster: '*' }],
    ]) {
      const token = await jwt({ osm_roles: ['viewer'], osm_scopes });
      const as = { authorization: `Bearer ${token}` };
      const rest = await http(s.url, 'GET', '/v1/onboardings', undefined, as);
      expect(rest.status, JSON.stringify(osm_scopes)).toBe(401);
      expect(rest.body.error.code).toBe('INVALID_TOKEN_CLAIMS');
      const graphql = await gql(s.url, '{ onboardingRequests(first: 1) { edges { cursor } } }', {}, as);
      expect(graphql.status).toBe(401);
      expect(graphql.errors[0].extensions.code).toBe('INVALID_TOKEN_CLAIMS');
    }
    // The WebSocket handshake refuses it as it refuses any bad credential.
    const bad = await jwt({ osm_roles: ['viewer'], osm_scopes: ['a/b/c'] });
    const ws = new WebSocket(s.url.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws');
    ws.on('open', () =>
      ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${bad}` } })),
    );
    expect(await new Promise((r) => ws.on('close', r))).toBe(4403);
    // Every valid form is accepted, the mesh-level grant `<cluster-glob>/mesh:<mesh-glob>` included.
    const good = await jwt({ osm_roles: ['viewer'], osm_scopes: ['emulator/mesh:osm', 'prod*/team-a-*', '*/*'] });
    expect((await http(s.url, 'GET', '/v1/onboardings', undefined, { authorization: `Bearer ${good}` })).status).toBe(
      200,
    );
  });

  it("delivers an OIDC subject's webhook only while its last token is valid, within that token's scopes", async () => {
    const rx = await startReceiver();
    const p = `oi${randomBytes(3).toString('hex')}`;
    const subject = `${p}@example.test`;
    try {
      // A control webhook owned by an API token with the same scopes: when it has an event, the
      // OIDC-owned one has been considered for it too.
      const control = await http(s.url, 'POST', '/v1/tokens', {
        name: `${p}-control`,
        roles: ['requester'],
        scopes: [`emulator/${p}-*`],
      });
      const controlHook = await http(
        s.url,
        'POST',
        '/v1/webhooks',
        { url: rx.url('/control'), eventTypes: ['request.succeeded'] },
        {
          authorization: `Bearer ${control.body.token}`,
        },
      );
      expect(controlHook.status).toBe(201);
      const first = await jwt(
        { osm_roles: ['requester', 'viewer'], osm_scopes: [`emulator/${p}-a-*`, `emulator/${p}-b-*`] },
        { subject },
      );
      const hook = await http(
        s.url,
        'POST',
        '/v1/webhooks',
        { url: rx.url('/oidc'), eventTypes: ['request.succeeded'] },
        {
          authorization: `Bearer ${first}`,
        },
      );
      expect(hook.status).toBe(201);
      expect(hook.body.webhook.owner).toBe(`oidc:${subject}`);

      const offboard = async (ns: string) => {
        await createNamespace(s.emulator, ns);
        const r = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns });
        await waitForStatus(s.url, r.body.id, ['SUCCEEDED']);
        for (let i = 0; i < 200 && !rx.received.some((x) => x.path === '/control' && x.json.namespace === ns); i++) {
          await new Promise((r2) => setTimeout(r2, 50));
        }
        expect(rx.received.some((x) => x.path === '/control' && x.json.namespace === ns)).toBe(true);
        await new Promise((r2) => setTimeout(r2, 200));
        return rx.received.some((x) => x.path === '/oidc' && x.json.namespace === ns);
      };

      expect(await offboard(`${p}-b-1`)).toBe(true);
      // A newer token narrows the scopes: deliveries follow it, not the scopes at creation.
      await new Promise((r) => setTimeout(r, 1100)); // a later `iat` (seconds)
      const narrower = await jwt(
        { osm_roles: ['requester', 'viewer'], osm_scopes: [`emulator/${p}-a-*`] },
        { subject },
      );
      expect(
        (await http(s.url, 'GET', '/v1/onboardings?limit=1', undefined, { authorization: `Bearer ${narrower}` }))
          .status,
      ).toBe(200);
      expect(await offboard(`${p}-b-2`)).toBe(false);
      expect(await offboard(`${p}-a-1`)).toBe(true);
      // The last token seen expires: nothing is delivered any more.
      await new Promise((r) => setTimeout(r, 1100));
      const shortLived = await jwt(
        { osm_roles: ['requester', 'viewer'], osm_scopes: [`emulator/${p}-a-*`] },
        { subject, expires: '2s' },
      );
      expect(
        (await http(s.url, 'GET', '/v1/onboardings?limit=1', undefined, { authorization: `Bearer ${shortLived}` }))
          .status,
      ).toBe(200);
      await new Promise((r) => setTimeout(r, 2500));
      expect(await offboard(`${p}-a-2`)).toBe(false);
    } finally {
      rx.close();
    }
  });
});

// The JWKS is a dependency: while it cannot be fetched no token is judged, so a valid one is not refused as
// invalid and nothing counts against the caller's failed-authentication budget (AUTH_FAILURES_PER_MINUTE).
describe('OIDC with the JWKS unavailable', () => {
  let s: Stack;
  let idp: TestIssuer;

  beforeAll(async () => {
    // Nothing listens on the JWKS's port yet: connections are refused.
    idp = await startIssuer({ listening: false });
    s = await startStack({ env: { ...idp.env, AUTH_FAILURES_PER_MINUTE: '3' } });
  });
  afterAll(async () => {
    await s.close();
    idp.close();
  });

  const jwt = (kid = 'k1') =>
    idp.sign({ osm_roles: ['viewer'], osm_scopes: ['*/*'] }, { kid, subject: 'carol@example.test' });
  const get = (token: string) =>
    http(s.url, 'GET', '/v1/onboardings?limit=1', undefined, { authorization: `Bearer ${token}` });
  const handshake = (token: string) => wsHandshake(s.url, token);

  it('answers 503 DEPENDENCY_UNAVAILABLE on every transport, never 401, and never locks the address out', async () => {
    const token = await jwt();
    const unavailable = async (what: string) => {
      for (let i = 0; i < 4; i++) {
        const r = await get(token);
        expect([r.status, r.body.error?.code], what).toEqual([503, 'DEPENDENCY_UNAVAILABLE']);
        expect(r.headers.get('retry-after'), what).toBe('5');
      }
      const graphql = await gql(s.url, '{ __typename }', {}, { authorization: `Bearer ${token}` });
      expect([graphql.status, graphql.errors?.[0]?.extensions?.code], what).toEqual([503, 'DEPENDENCY_UNAVAILABLE']);
      const sse = await fetch(`${s.url}/v1/onboardings/00000000-0000-4000-8000-000000000000/events`, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      });
      expect(sse.status, what).toBe(503);
      expect((await sse.json()).error.code, what).toBe('DEPENDENCY_UNAVAILABLE');
      expect(await handshake(token), what).toBe(4500);
    };
    // A failed fetch is not tried again for JWKS_FAILED_FETCH_COOLDOWN_MS: each answer is waited out.
    const cooldown = () => new Promise((r) => setTimeout(r, JWKS_FAILED_FETCH_COOLDOWN_MS + 200));
    // Connection refused, then a JWKS that answers 500, something that is not JSON, JSON that is not a key set.
    await unavailable('connection refused');
    idp.answer = (_req, res) => res.writeHead(500).end('oops');
    await idp.listen();
    await cooldown();
    await unavailable('500');
    idp.answer = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('<html>');
    await cooldown();
    await unavailable('not JSON');
    idp.answer = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":"none"}');
    await cooldown();
    await unavailable('not a key set');
    // Far more than AUTH_FAILURES_PER_MINUTE tries, and none counted (no key set was ever fetched, so no kid is
    // unknown): the admin token and, with the JWKS back, the JWT are accepted once the cooldown is over.
    expect((await http(s.url, 'GET', '/v1/onboardings?limit=1')).status).toBe(200);
    idp.answer = (_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [idp.jwk] }));
    await cooldown();
    expect((await get(token)).status).toBe(200);
  }, 60_000);

  it('still refuses, and counts, what the JWKS can judge: an unknown key, a bad signature', async () => {
    const unknownKid = await jwt('k2');
    const badSignature = (await jwt()).slice(0, -4) + 'AAAA';
    for (const token of [unknownKid, badSignature, unknownKid]) {
      const r = await get(token);
      expect([r.status, r.body.error?.code]).toEqual([401, 'UNAUTHENTICATED']);
    }
    const over = await get(badSignature);
    expect([over.status, over.body.error?.code]).toEqual([429, 'RATE_LIMITED']);
  });
});
