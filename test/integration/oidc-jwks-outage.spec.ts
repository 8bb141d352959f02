// An outside audit: while the JWKS failed, every JWT with an unknown `kid` (no credential needed to write one) made a
// new JWKS fetch, a 503 and a warning, and never counted against the caller's address. Now a failed fetch is not
// tried again for JWKS_FAILED_FETCH_COOLDOWN_MS, and a 503 for a key the cached set does not hold counts
// (AUTH_FAILURES_PER_MINUTE); a token whose key the cached set holds is still verified.
import { Logger } from '@nestjs/common';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { JWKS_FAILED_FETCH_COOLDOWN_MS } from '../../src/auth/jwt-verifier.js';
import { http, startStack, Stack } from '../support/harness.js';
import { startIssuer, TestIssuer } from '../support/oidc-issuer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const b64 = (text: string) => Buffer.from(text).toString('base64url');

describe('OIDC while the JWKS fails: tokens with an unknown kid', () => {
  let s: Stack;
  let idp: TestIssuer;
  let serve: TestIssuer['answer'];
  const fail500: TestIssuer['answer'] = (_req, res) => res.writeHead(500).end('oops');
  const drop: TestIssuer['answer'] = (req) => req.socket.destroy();

  beforeAll(async () => {
    idp = await startIssuer();
    serve = idp.answer;
    s = await startStack({
      env: {
        ...idp.env,
        AUTH_FAILURES_PER_MINUTE: '3',
        // Each caller is the address named in X-Forwarded-For.
        TRUST_PROXY: 'loopback',
      },
    });
  });
  afterAll(async () => {
    await s.close();
    idp.close();
  });
  afterEach(() => vi.restoreAllMocks());

  /** What the audit sent: a header naming a key nobody has, a payload and a signature of nothing. */
  const unknownKid = `${b64('{"alg":"RS256","kid":"x24017"}')}.${b64('garbage')}.${b64('nothing')}`;
  const get = (token: string, from: string) =>
    http(s.url, 'GET', '/v1/onboardings?limit=1', undefined, {
      authorization: `Bearer ${token}`,
      'x-forwarded-for': from,
    });

  it('fetches once per cooldown, counts the 503s against the address, keeps known keys working', async () => {
    const known = await idp.sign({ osm_roles: ['viewer'], osm_scopes: ['*/*'] }, { subject: 'dave@example.test' });
    const user = '198.51.100.7';
    expect((await get(known, user)).status).toBe(200);
    expect(idp.fetches).toBe(1);
    const warnings = vi.spyOn(Logger.prototype, 'warn');
    const verifierWarnings = () =>
      warnings.mock.contexts.filter((l) => (l as { context?: string }).context === 'JwtVerifier');

    // One caller's burst: 3 (AUTH_FAILURES_PER_MINUTE) 503s, then 429s; one failed fetch for all of it.
    const burst = async (attacker: string) => {
      const before = idp.fetches;
      for (let i = 0; i < 3; i++) {
        const r = await get(unknownKid, attacker);
        expect([r.status, r.body.error?.code], `try ${i + 1}`).toEqual([503, 'DEPENDENCY_UNAVAILABLE']);
        expect(r.headers.get('retry-after')).toBe('5');
        // The key the cached set holds is verified all along, without a fetch.
        expect((await get(known, user)).status).toBe(200);
      }
      for (let i = 0; i < 20; i++) {
        const r = await get(unknownKid, attacker);
        expect([r.status, r.body.error?.code]).toEqual([429, 'RATE_LIMITED']);
      }
      expect(idp.fetches - before).toBe(1);
      expect((await get(known, user)).status).toBe(200);
    };

    // jose refetches for an unknown kid at most every 30 s after a successful fetch: wait that out, as the audit did.
    idp.answer = fail500;
    await sleep(30_500);
    await burst('203.0.113.9');
    expect(verifierWarnings()).toHaveLength(1);
    // Once the cooldown is over, a dropped connection: the same again, from another address.
    idp.answer = drop;
    await sleep(JWKS_FAILED_FETCH_COOLDOWN_MS + 200);
    await burst('203.0.113.10');
    expect(verifierWarnings()).toHaveLength(2);
    // The JWKS is back: after the cooldown an unknown kid is judged again (a 401), from the key set fetched anew.
    idp.answer = serve;
    await sleep(JWKS_FAILED_FETCH_COOLDOWN_MS + 200);
    const r = await get(unknownKid, '203.0.113.11');
    expect([r.status, r.body.error?.code]).toEqual([401, 'UNAUTHENTICATED']);
    expect(idp.fetches).toBe(4);
    expect((await get(known, user)).status).toBe(200);
  }, 90_000);
});
