import { createServer, Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';

// A portal forwards its users' identity as OIDC JWTs; the service verifies them against a JWKS.
describe('OIDC/JWT bearer tokens', () => {
  let s: Stack;
  let jwks: Server;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  const issuer = 'https://portal.example.test';

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const port = (jwks.address() as { port: number }).port;
    s = await startStack({
      env: { AUTH_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`, AUTH_JWT_ISSUER: issuer, AUTH_JWT_AUDIENCE: 'osm-onboarding' },
    });
  });
  afterAll(async () => {
    await s.close();
    jwks.close();
  });

  const jwt = (claims: Record<string, unknown>, opts: { issuer?: string; audience?: string; expires?: string } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setSubject('alice@example.test')
      .setIssuer(opts.issuer ?? issuer)
      .setAudience(opts.audience ?? 'osm-onboarding')
      .setIssuedAt()
      .setExpirationTime(opts.expires ?? '5m')
      .sign(privateKey);

  it('takes the identity, roles and scopes from the verified token', async () => {
    const ns = uniqueName('team-a');
    seedAppNamespace(s.emulator.store, ns);
    const token = await jwt({ osm_roles: ['requester', 'viewer'], osm_scopes: ['emulator/team-a-*'] });
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns }, { authorization: `Bearer ${token}` });
    expect(r.status).toBe(202);
    expect(r.body.request.requestedBy).toBe('oidc:alice@example.test');
    await waitForStatus(s.url, r.body.id, ['SUCCEEDED']);
    const out = await http(s.url, 'POST', '/v1/onboardings', { namespace: 'bookbuyer' }, { authorization: `Bearer ${token}` });
    expect(out.status).toBe(403);
    const noRoles = await jwt({ osm_scopes: ['*/*'] });
    expect((await http(s.url, 'POST', '/v1/onboardings', { namespace: ns }, { authorization: `Bearer ${noRoles}` })).status).toBe(403);
  });

  it('refuses expired tokens, foreign issuers or audiences, and bad signatures with 401', async () => {
    const claims = { osm_roles: ['viewer'], osm_scopes: ['*/*'] };
    const good = await jwt(claims);
    expect((await http(s.url, 'GET', '/v1/onboardings', undefined, { authorization: `Bearer ${good}` })).status).toBe(200);
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
});
