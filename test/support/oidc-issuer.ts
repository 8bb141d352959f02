// Owns the tests' stand-in for a portal's identity provider: an RS256 key (kid `k1`), the JWKS endpoint that serves
// it on 127.0.0.1 (what it answers can be changed, and it can start without listening: connections refused), the
// settings that point the service at it, and the JWTs it signs.
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { freePort } from './free-port.js';

export const TEST_ISSUER = 'https://portal.example.test';
export const TEST_AUDIENCE = 'osm-onboarding';

export interface JwtOptions {
  kid?: string;
  subject?: string;
  issuer?: string;
  audience?: string;
  /** jose's time span, e.g. '5m' (the default) or '-1m'. */
  expires?: string;
}

export interface TestIssuer {
  /** AUTH_JWKS_URL, AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE for startStack. */
  env: Record<string, string>;
  /** The public key as the JWKS serves it. */
  jwk: Record<string, unknown>;
  /** JWKS requests received so far. */
  readonly fetches: number;
  /** What the JWKS answers; by default the key set with `jwk`. */
  answer: (req: IncomingMessage, res: ServerResponse) => void;
  /** Starts serving (needed only after `startIssuer({ listening: false })`). */
  listen(): Promise<void>;
  sign(claims: Record<string, unknown>, opts?: JwtOptions): Promise<string>;
  close(): void;
}

/** `listening: false`: the JWKS's port is chosen but nothing listens on it until `listen()`. */
export async function startIssuer({ listening = true } = {}): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const port = await freePort();
  let server: Server | undefined;
  let fetches = 0;
  const issuer: TestIssuer = {
    env: {
      AUTH_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
      AUTH_JWT_ISSUER: TEST_ISSUER,
      AUTH_JWT_AUDIENCE: TEST_AUDIENCE,
    },
    jwk,
    get fetches() {
      return fetches;
    },
    answer: (_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
    listen: () =>
      new Promise<void>((resolve) => {
        server = createServer((req, res) => {
          fetches++;
          issuer.answer(req, res);
        });
        server.listen(port, '127.0.0.1', resolve);
      }),
    sign: (claims, opts = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'k1' })
        .setSubject(opts.subject ?? 'alice@example.test')
        .setIssuer(opts.issuer ?? TEST_ISSUER)
        .setAudience(opts.audience ?? TEST_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(opts.expires ?? '5m')
        .sign(privateKey),
    close: () => server?.close(),
  };
  if (listening) await issuer.listen();
  return issuer;
}
