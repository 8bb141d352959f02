// The two HTTP platforms (HTTP_PLATFORM=express|fastify, src/http/platform.ts) answer the edge's cases the same
// way: the same status, body and headers (helmet's, the request id, content types, caching) for the same request.
// The rest of the suite runs on either (HTTP_PLATFORM=express|fastify npx vitest run …); this spec runs both at once.
// GraphQL subscriptions over HTTP and WebSocket upgrades off /graphql are refused with coded errors on both.
import { Logger, type INestApplication } from '@nestjs/common';
import { createHmac } from 'node:crypto';
import { connect } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { StreamSlots } from '../../src/events/stream-slots.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { ADMIN_TOKEN, stackEnv, startApi } from '../support/harness.js';

type Api = { app: INestApplication; url: string };

const SIGNING_SECRET = 'platform-spec-signing-secret';

/** The headers that must not differ between the platforms (helmet's, the edge's own, the body's). */
const COMPARED = [
  'content-type',
  'cache-control',
  'location',
  'retry-after',
  'x-request-id',
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
  'x-powered-by',
  'www-authenticate',
];

interface Probe {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
}

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const json = { ...auth, 'content-type': 'application/json' };
const slackBody = 'payload=' + encodeURIComponent(JSON.stringify({ type: 'block_actions' }));
const slackTs = () => String(Math.floor(Date.now() / 1000));
const typename = JSON.stringify({ query: '{ __typename }' });
/** An onboarding whose namespace is refused by input validation: 422 naming the field proves the body was read. */
const badNamespace = JSON.stringify({ cluster: 'default', namespace: 'Not_A_Name', meshName: 'osm' });
/** 100 kB of JSON that compresses to a few hundred bytes: over the 64 kB limit once inflated. */
const inflatesPastLimit = gzipSync(JSON.stringify({ query: `{ __typename } #${' '.repeat(100 * 1024)}` }));
const encoded = (encoding: string, body: Uint8Array | string): Probe => ({
  name: `${encoding}-encoded JSON`,
  method: 'POST',
  path: '/graphql',
  headers: { ...json, 'content-encoding': encoding },
  body: typeof body === 'string' ? body : new Uint8Array(body),
});

/** Paths no router should read, and a path parameter Postgres cannot store: `answer` is what both platforms say. */
const PATH_PROBES: (Probe & { answer: [number, string, string] })[] = [
  {
    name: 'path parameter over 100 characters (Fastify: FST_ERR_MAX_PARAM_LENGTH)',
    method: 'GET',
    path: `/v1/onboardings/${'a'.repeat(200)}`,
    headers: auth,
    answer: [414, 'MALFORMED_REQUEST', 'malformed request: a path segment is longer than 100 characters'],
  },
  {
    name: 'path segment over 100 characters where no route is',
    method: 'GET',
    path: `/v2/${'%41'.repeat(101)}`,
    headers: auth,
    answer: [414, 'MALFORMED_REQUEST', 'malformed request: a path segment is longer than 100 characters'],
  },
  {
    name: 'path that is not UTF-8 (Fastify: FST_ERR_BAD_URL)',
    method: 'GET',
    path: '/v1/clusters/%ED%A0%80/namespaces',
    headers: auth,
    answer: [400, 'MALFORMED_REQUEST', 'malformed request: the path is not valid percent-encoded UTF-8'],
  },
  {
    name: 'path with a broken percent escape',
    method: 'GET',
    path: '/v1/onboardings/%zz',
    headers: auth,
    answer: [400, 'MALFORMED_REQUEST', 'malformed request: the path is not valid percent-encoded UTF-8'],
  },
  {
    name: 'NUL in a path parameter (422)',
    method: 'GET',
    path: '/v1/clusters/%00/namespaces',
    headers: auth,
    answer: [
      422,
      'VALIDATION_FAILED',
      'invalid input: cluster: must not hold a NUL character (U+0000) or an unpaired UTF-16 surrogate',
    ],
  },
];

const PROBES: Probe[] = [
  encoded('gzip', gzipSync(typename)),
  encoded('deflate', deflateSync(typename)),
  encoded('br', brotliCompressSync(typename)),
  { ...encoded('gzip', inflatesPastLimit), name: 'gzip body over the limit once inflated (413)' },
  { ...encoded('gzip', 'not gzip at all'), name: 'gzip header with a plain body' },
  { ...encoded('compress', typename), name: 'unknown content encoding' },
  {
    name: 'a __proto__ key in the body',
    method: 'POST',
    path: '/v1/onboardings',
    headers: json,
    body: '{"cluster":"default","namespace":"a","meshName":"osm","__proto__":{"admin":true}}',
  },
  {
    name: 'application/*+json body',
    method: 'POST',
    path: '/v1/onboardings',
    headers: { ...auth, 'content-type': 'application/merge-patch+json' },
    body: badNamespace,
  },
  { name: 'health', method: 'GET', path: '/healthz' },
  { name: 'unknown route', method: 'GET', path: '/v2/nothing-here', headers: auth },
  { name: 'unauthenticated', method: 'GET', path: '/v1/onboardings' },
  { name: 'refused bearer token', method: 'GET', path: '/v1/onboardings', headers: { authorization: 'Bearer nope' } },
  { name: 'given request id', method: 'GET', path: '/healthz', headers: { 'x-request-id': 'trace-me-42' } },
  { name: 'bad request id', method: 'GET', path: '/healthz', headers: { 'x-request-id': 'bad id\twith tab' } },
  {
    name: 'non-JSON body (415)',
    method: 'POST',
    path: '/v1/onboardings',
    headers: { ...auth, 'content-type': 'text/plain' },
    body: 'namespace=a',
  },
  { name: 'malformed JSON', method: 'POST', path: '/v1/onboardings', headers: json, body: '{"namespace":' },
  {
    name: 'body too large (413)',
    method: 'POST',
    path: '/v1/onboardings',
    headers: json,
    body: JSON.stringify({ namespace: 'a', padding: 'x'.repeat(70_000) }),
  },
  {
    name: 'validation (422)',
    method: 'POST',
    path: '/v1/onboardings',
    headers: json,
    body: JSON.stringify({ namespace: 'Not_Valid', bogus: true }),
  },
  { name: 'unknown id', method: 'GET', path: `/v1/onboardings/${UNKNOWN_ID}`, headers: auth },
  { name: 'trailing slash', method: 'GET', path: '/v1/onboardings/?first=1', headers: auth },
  { name: 'docs asset', method: 'GET', path: '/docs/assets/swagger-ui.css' },
  { name: 'docs initializer', method: 'GET', path: '/docs/assets/swagger-initializer.js' },
  { name: 'docs asset outside the list', method: 'GET', path: '/docs/assets/package.json' },
  { name: 'GraphiQL', method: 'GET', path: '/graphql', headers: { accept: 'text/html' } },
  {
    name: 'GraphQL',
    method: 'POST',
    path: '/graphql',
    headers: json,
    body: JSON.stringify({ query: '{ __typename }' }),
  },
  {
    name: 'GraphQL unauthenticated',
    method: 'POST',
    path: '/graphql',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ __typename }' }),
  },
  {
    name: 'Slack, bad signature',
    method: 'POST',
    path: '/v1/integrations/slack/interactions',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': slackTs(),
      'x-slack-signature': 'v0=' + '0'.repeat(64),
    },
    body: slackBody,
  },
  {
    name: 'Slack, JSON instead of a form',
    method: 'POST',
    path: '/v1/integrations/slack/interactions',
    headers: {
      'content-type': 'application/json',
      'x-slack-request-timestamp': slackTs(),
      'x-slack-signature': 'v0=0',
    },
    body: '{}',
  },
  {
    name: 'Slack, JSON that does not parse, unsigned (415 before either)',
    method: 'POST',
    path: '/v1/integrations/slack/Interactions/',
    headers: { 'content-type': 'application/json' },
    body: '{"payload": ',
  },
  ...['iso-8859-1', 'UTF-16'].map((charset): Probe => ({
    name: `JSON body in charset ${charset} (415)`,
    method: 'POST',
    path: '/v1/onboardings',
    headers: { ...auth, 'content-type': `application/json; charset=${charset}` },
    body: badNamespace,
  })),
  {
    name: 'GraphQL body in charset windows-1252 (415)',
    method: 'POST',
    path: '/graphql',
    headers: { ...auth, 'content-type': 'application/json;charset="windows-1252"' },
    body: typename,
  },
  {
    name: 'JSON body with charset=UTF-8 (read)',
    method: 'POST',
    path: '/v1/onboardings',
    headers: { ...auth, 'content-type': 'application/json; Charset="UTF-8"' },
    body: badNamespace,
  },
  {
    name: 'a NUL in a body field (422)',
    method: 'POST',
    path: '/v1/onboardings',
    headers: json,
    body: JSON.stringify({ namespace: 'a', appProtocols: [{ service: 'web', port: 'h\u0000', appProtocol: 'http' }] }),
  },
  {
    name: 'a lone surrogate in a body field (422)',
    method: 'POST',
    path: '/v1/onboardings/plan',
    headers: json,
    body: '{"namespace":"a","cluster":"x\\ud800"}',
  },
  { name: 'a NUL in the query string (422)', method: 'GET', path: '/v1/onboardings?namespace=%00', headers: auth },
  ...PATH_PROBES,
  {
    name: 'GraphQL subscription over POST (400)',
    method: 'POST',
    path: '/graphql',
    headers: json,
    body: JSON.stringify({ query: `subscription { onboardingProgress(requestId: "${UNKNOWN_ID}") { cursor } }` }),
  },
  {
    name: 'GraphQL subscription over GET (405)',
    method: 'GET',
    path: '/graphql?query=' + encodeURIComponent(`subscription { batchProgress(batchId: "${UNKNOWN_ID}") { id } }`),
    headers: { ...auth, 'apollo-require-preflight': 'true' },
  },
];

/** A raw WebSocket upgrade request (graphql-ws's subprotocol) to `path`: the status line and body it is answered. */
function upgrade(base: string, path: string): Promise<{ status: string; body: unknown }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(base);
    const socket = connect(Number(port), hostname);
    let received = '';
    const answer = () => {
      const [head, body] = received.split('\r\n\r\n');
      return { status: head.split('\r\n')[0], body: body ? JSON.parse(body) : undefined };
    };
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      received += chunk;
      // Upgraded: the socket stays open (the server waits for connection_init).
      if (received.startsWith('HTTP/1.1 101 ') && received.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(answer());
      }
    });
    socket.on('end', () => resolve(answer()));
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        `Sec-WebSocket-Protocol: graphql-transport-ws\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n\r\n`,
    );
  });
}

/**
 * A refusal's code, message and fields in either shape, checking that it is the one its path takes: GraphQL's
 * (`errors[0]`, the rest in `extensions`) on /graphql, REST's (`error`) elsewhere.
 */
function refusalOf(body: any): { code: string; message: string; fields?: unknown; path: string } {
  if (body.errors) {
    expect(Object.keys(body)).toEqual(['errors']);
    const [{ message, extensions }] = body.errors;
    return { message, ...extensions, path: '/graphql' };
  }
  return { ...body.error, path: 'rest' };
}

/** Status, the compared headers and the body, with what differs per call by design (ids, times) masked. */
async function answer(base: string, probe: Probe) {
  const res = await fetch(base + probe.path, { method: probe.method, headers: probe.headers, body: probe.body });
  const text = await res.text();
  const headers = Object.fromEntries(COMPARED.map((h) => [h, res.headers.get(h)]));
  if (!probe.headers?.['x-request-id'] || probe.name === 'bad request id') {
    expect(headers['x-request-id'], probe.name).toMatch(/^[0-9a-f-]{36}$/);
    headers['x-request-id'] = '<uuid>';
  }
  return { status: res.status, headers, body: text.length > 2000 ? `${text.length} bytes` : text };
}

describe('HTTP platforms: Express and Fastify answer the edge the same way', () => {
  let emulator: Emulator;
  let express: Api;
  let fastify: Api;

  beforeAll(async () => {
    emulator = await startEmulator();
    const env = await stackEnv(emulator, { ROLE: 'api', SLACK_SIGNING_SECRET: SIGNING_SECRET });
    express = await startApi({ ...env, HTTP_PLATFORM: 'express' });
    fastify = await startApi({ ...env, HTTP_PLATFORM: 'fastify' });
  });

  afterAll(async () => {
    await express?.app.close();
    await fastify?.app.close();
    await emulator?.close();
  });

  it('runs each app on the platform it was configured with', () => {
    expect(express.app.getHttpAdapter().getType()).toBe('express');
    expect(fastify.app.getHttpAdapter().getType()).toBe('fastify');
  });

  it('keeps an idle client connection HTTP_KEEP_ALIVE_MS (72 s) on both; Node alone closes it at 5 s', async () => {
    /** Two GETs on one TCP connection, 7 s apart: what the server sent, and whether it closed in between. */
    const twice = (url: string) =>
      new Promise<{ received: string; closedEarly: boolean }>((resolve, reject) => {
        const { hostname, port } = new URL(url);
        const socket = connect(Number(port), hostname);
        const get = `GET /healthz HTTP/1.1\r\nHost: ${hostname}\r\nConnection: keep-alive\r\n\r\n`;
        let received = '';
        let answers = 0;
        socket.setEncoding('utf8');
        socket.on('error', reject);
        socket.on('data', (chunk: string) => {
          received += chunk;
          const seen = answers;
          answers = received.match(/HTTP\/1\.1 \d{3}/g)?.length ?? 0;
          if (seen === 0 && answers === 1) setTimeout(() => socket.write(get), 7_000);
          else if (seen < 2 && answers === 2) setTimeout(() => socket.end(), 200); // the rest of its body, if any
        });
        socket.on('close', () => resolve({ received, closedEarly: answers < 2 }));
        socket.write(get);
      });
    const results = await Promise.all([express.url, fastify.url].map(twice));
    for (const r of results) {
      expect(r.closedEarly).toBe(false);
      expect(r.received.match(/HTTP\/1\.1 \d{3} [^\r\n]*/g)).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
      expect(r.received).toMatch(/^keep-alive: timeout=72\r?$/im);
    }
  });

  for (const probe of PROBES) {
    it(`answers "${probe.name}" identically`, async () => {
      const [e, f] = [await answer(express.url, probe), await answer(fastify.url, probe)];
      expect(f).toEqual(e);
      expect(e.status, 'the probe reached the app').toBeGreaterThanOrEqual(200);
    });
  }

  it('refuses the cases the edge refuses, with coded errors, on both', async () => {
    for (const api of [express, fastify]) {
      const codes = await Promise.all(
        PROBES.filter((p) => /415|413|malformed|unknown route|unknown content|plain body/.test(p.name)).map(
          async (p) => {
            const res = await fetch(api.url + p.path, { method: p.method, headers: p.headers, body: p.body });
            return [p.path.replace(/\?.*/, ''), res.status, refusalOf(await res.json()).code];
          },
        ),
      );
      expect(codes).toEqual([
        ['/graphql', 413, 'MALFORMED_REQUEST'],
        ['/graphql', 400, 'MALFORMED_REQUEST'],
        ['/graphql', 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['/v2/nothing-here', 404, 'ROUTE_NOT_FOUND'],
        ['/v1/onboardings', 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['/v1/onboardings', 400, 'MALFORMED_REQUEST'],
        ['/v1/onboardings', 413, 'MALFORMED_REQUEST'],
        ['/v1/integrations/slack/Interactions/', 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['/v1/onboardings', 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['/v1/onboardings', 415, 'UNSUPPORTED_MEDIA_TYPE'],
        ['/graphql', 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ]);
    }
  });

  it("answers the edge's refusals of a /graphql body in GraphQL's error shape, the status kept, on both", async () => {
    const refusals: [Probe, number, object][] = [
      [
        { name: 'not JSON', method: 'POST', path: '/graphql', headers: json, body: '{"query": ' },
        400,
        { code: 'MALFORMED_REQUEST', message: 'malformed request: the body is not valid JSON' },
      ],
      [
        {
          name: 'over 64 kB',
          method: 'POST',
          path: '/graphql',
          headers: json,
          body: `{"query":"${' '.repeat(70_000)}"}`,
        },
        413,
        { code: 'MALFORMED_REQUEST', message: 'request body too large' },
      ],
      [
        {
          name: 'wrong type',
          method: 'POST',
          path: '/graphql',
          headers: { ...auth, 'content-type': 'text/plain' },
          body: typename,
        },
        415,
        {
          code: 'UNSUPPORTED_MEDIA_TYPE',
          message: 'the body must be JSON with Content-Type: application/json (got "text/plain")',
          hint: "curl: add -H 'content-type: application/json'",
        },
      ],
      [
        { ...encoded('gzip', 'not gzip at all'), path: '/GraphQL' },
        400,
        { code: 'MALFORMED_REQUEST', message: 'malformed request: the body could not be decoded (Content-Encoding)' },
      ],
    ];
    for (const api of [express, fastify]) {
      for (const [probe, status, { message, ...extensions }] of refusals as [Probe, number, any][]) {
        const res = await fetch(api.url + probe.path, {
          method: probe.method,
          headers: probe.headers,
          body: probe.body,
        });
        const body = await res.json();
        expect([res.status, body], `${api.app.getHttpAdapter().getType()} ${probe.name}`).toEqual([
          status,
          { errors: [{ message, extensions }] },
        ]);
      }
    }
    // REST keeps its shape.
    const rest = await fetch(express.url + '/v1/onboardings', { method: 'POST', headers: json, body: '{"x": ' });
    expect([rest.status, await rest.json()]).toEqual([
      400,
      { error: { code: 'MALFORMED_REQUEST', message: 'malformed request: the body is not valid JSON' } },
    ]);
  });

  it('reads a JSON body only as UTF-8: another declared charset is a 415 naming it, on both', async () => {
    for (const api of [express, fastify]) {
      const charsets = PROBES.filter((p) => /charset/.test(p.name));
      const answers = await Promise.all(
        charsets.map(async (p) => {
          const res = await fetch(api.url + p.path, { method: p.method, headers: p.headers, body: p.body });
          const error = refusalOf(await res.json());
          return [res.status, error.code, error.fields ? 'read' : error.message];
        }),
      );
      expect(answers).toEqual([
        [415, 'UNSUPPORTED_MEDIA_TYPE', 'a JSON body must be UTF-8 (got charset "iso-8859-1")'],
        [415, 'UNSUPPORTED_MEDIA_TYPE', 'a JSON body must be UTF-8 (got charset "utf-16")'],
        [415, 'UNSUPPORTED_MEDIA_TYPE', 'a JSON body must be UTF-8 (got charset "windows-1252")'],
        [422, 'VALIDATION_FAILED', 'read'], // UTF-8 (any case, quoted or not): the body reached validation
      ]);
    }
  });

  it('refuses text Postgres cannot store in a /v1 body or query string: 422 naming the field, on both', async () => {
    for (const api of [express, fastify]) {
      const probes = PROBES.filter((p) => /a NUL|a lone surrogate/.test(p.name));
      const answers = await Promise.all(
        probes.map(async (p) => {
          const res = await fetch(api.url + p.path, { method: p.method, headers: p.headers, body: p.body });
          const { error } = (await res.json()) as { error: { code: string; fields: { field: string }[] } };
          return [res.status, error.code, error.fields.map((f) => f.field)];
        }),
      );
      expect(answers).toEqual([
        [422, 'VALIDATION_FAILED', ['appProtocols.0.port']],
        [422, 'VALIDATION_FAILED', ['cluster']],
        [422, 'VALIDATION_FAILED', ['namespace']],
      ]);
    }
  });

  it('answers a path no router should read in the error shape, coded, without repeating it, on both', async () => {
    for (const api of [express, fastify]) {
      for (const probe of PATH_PROBES) {
        const res = await fetch(api.url + probe.path, { headers: probe.headers });
        const text = await res.text();
        const { error } = JSON.parse(text) as { error: { code: string; message: string } };
        expect([res.status, error.code, error.message], probe.name).toEqual(probe.answer);
        // Neither the path nor the parameter comes back, raw or decoded (%41 is A), nor a code of Fastify's (its own
        // body repeated the whole URL).
        const segment = probe.path.split('/').find((p) => p.length > 50 || p.includes('%'))!;
        expect(text, probe.name).not.toContain(segment);
        expect(text, probe.name).not.toMatch(/FST_|AAAAAAAAAA|\\u0000/);
        // Answered by the edge: its headers are there (Fastify's router refuses before any hook runs).
        expect(res.headers.get('x-request-id'), probe.name).toMatch(/^[0-9a-f-]{36}$/);
        expect(res.headers.get('x-content-type-options'), probe.name).toBe('nosniff');
      }
    }
  });

  it('refuses a subscription over HTTP before it runs, coded, holding no stream slot, logging no error', async () => {
    const errors = vi.spyOn(Logger.prototype, 'error');
    try {
      for (const api of [express, fastify]) {
        for (const subscription of [
          `onboardingProgress(requestId: "${UNKNOWN_ID}") { cursor }`,
          `batchProgress(batchId: "${UNKNOWN_ID}") { id }`,
        ]) {
          const res = await fetch(`${api.url}/graphql`, {
            method: 'POST',
            headers: json,
            body: JSON.stringify({ query: `subscription { ${subscription} }` }),
          });
          expect(res.status, subscription).toBe(400);
          expect(await res.json()).toEqual({
            errors: [
              {
                message: 'subscriptions are served over graphql-ws on /graphql',
                extensions: {
                  code: 'SUBSCRIPTION_OVER_HTTP',
                  hint: 'connect a graphql-ws client (subprotocol graphql-transport-ws) to ws(s)://<host>/graphql',
                },
              },
            ],
          });
        }
        // Over GET, Apollo refuses it first: GET runs queries only.
        const get = PROBES.find((p) => p.name === 'GraphQL subscription over GET (405)')!;
        const res = await fetch(api.url + get.path, { headers: get.headers });
        expect([res.status, ((await res.json()) as { errors: any[] }).errors[0].extensions.code]).toEqual([
          405,
          'BAD_REQUEST',
        ]);
        expect(api.app.get(StreamSlots).held()).toBe(0);
      }
      expect(errors.mock.calls).toEqual([]);
    } finally {
      errors.mockRestore();
    }
  });

  it('answers a WebSocket upgrade to another path than /graphql as the HTTP edge: 404 ROUTE_NOT_FOUND', async () => {
    const hint = 'the REST API is under /v1 (see /docs); GraphQL is POST /graphql';
    for (const api of [express, fastify]) {
      for (const path of ['/v1/nope', '/v1/nope?x=1', '/graphql/', '/v1/onboardings']) {
        const refused = await upgrade(api.url, path);
        expect(refused, path).toEqual({
          status: 'HTTP/1.1 404 Not Found',
          body: { error: { code: 'ROUTE_NOT_FOUND', message: `no route GET ${path}`, hint } },
        });
      }
      // The same body as a plain GET of a path no route has.
      const plain = await fetch(`${api.url}/v1/nope?x=1`, { headers: auth });
      expect((await upgrade(api.url, '/v1/nope?x=1')).body).toEqual(await plain.json());
      // /graphql itself upgrades.
      expect((await upgrade(api.url, '/graphql')).status).toBe('HTTP/1.1 101 Switching Protocols');
    }
  });

  it('reads application/*+json and gzip bodies as JSON on both', async () => {
    for (const api of [express, fastify]) {
      const plusJson = PROBES.find((p) => p.name === 'application/*+json body')!;
      const res = await fetch(api.url + plusJson.path, { ...plusJson, body: plusJson.body });
      const error = ((await res.json()) as { error: { fields: { field: string; message: string }[] } }).error;
      // Parsed: the namespace reached validation as the string it is (unparsed, it would be "must be a string").
      expect([res.status, error.fields[0].field]).toEqual([422, 'namespace']);
      expect(error.fields[0].message).not.toMatch(/string/);
      const gzip = PROBES.find((p) => p.name === 'gzip-encoded JSON')!;
      const answer = await fetch(api.url + gzip.path, { ...gzip, body: gzip.body });
      expect(await answer.json()).toEqual({ data: { __typename: 'Query' } });
    }
  });

  it('reads an empty JSON body as none, and refuses a field an operation does not take, on both', async () => {
    // A request that does not exist: the operation is reached (404) only when the body was read as none.
    const missing = '/v1/onboardings/00000000-0000-4000-8000-000000000000';
    for (const api of [express, fastify]) {
      for (const op of ['apply', 'retry']) {
        const empty = await fetch(`${api.url}${missing}/${op}`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
        });
        expect([api.app.getHttpAdapter().getType(), op, empty.status]).toEqual([
          api.app.getHttpAdapter().getType(),
          op,
          404,
        ]);
        const extra = await fetch(`${api.url}${missing}/${op}`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: '{"x":1}',
        });
        const error = ((await extra.json()) as { error: { code: string; fields: { field: string }[] } }).error;
        expect([extra.status, error.code, error.fields[0].field]).toEqual([422, 'VALIDATION_FAILED', 'x']);
      }
    }
  });

  it('verifies a Slack signature over the raw form bytes on both', async () => {
    for (const [i, api] of [express, fastify].entries()) {
      const ts = slackTs();
      const body = `${slackBody}&n=${i}`; // distinct bytes: a signed request is accepted once (replay protection)
      const signature = 'v0=' + createHmac('sha256', SIGNING_SECRET).update(`v0:${ts}:${body}`).digest('hex');
      const res = await fetch(`${api.url}/v1/integrations/slack/interactions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-slack-request-timestamp': ts,
          'x-slack-signature': signature,
        },
        body,
      });
      // Signed correctly: past the signature check, the form parsed from those bytes; the payload names no user.
      expect(res.status).toBe(422);
      expect(((await res.json()) as { error: { fields: { field: string }[] } }).error.fields[0].field).toBe('user');
    }
  });
});

describe('HTTP platforms: a Slack callback that is not a form', () => {
  let emulator: Emulator;
  const apis: Api[] = [];

  beforeAll(async () => {
    emulator = await startEmulator();
    const env = await stackEnv(emulator, { ROLE: 'api', SLACK_SIGNING_SECRET: SIGNING_SECRET });
    apis.push(
      await startApi({ ...env, HTTP_PLATFORM: 'express' }),
      await startApi({ ...env, HTTP_PLATFORM: 'fastify' }),
    );
  });
  afterAll(async () => {
    for (const api of apis) await api.app.close();
    await emulator?.close();
  });

  it('is 415 UNSUPPORTED_MEDIA_TYPE on both, whatever the type (Slack posts form-urlencoded)', async () => {
    for (const type of ['application/json', 'text/plain', 'multipart/form-data; boundary=x', undefined]) {
      const answers = [];
      for (const api of apis) {
        const ts = slackTs();
        const body = type === 'application/json' ? '{"payload":"{}"}' : 'payload=%7B%7D';
        const signature = 'v0=' + createHmac('sha256', SIGNING_SECRET).update(`v0:${ts}:${body}`).digest('hex');
        const res = await fetch(`${api.url}/v1/integrations/slack/interactions`, {
          method: 'POST',
          headers: {
            ...(type && { 'content-type': type }),
            'x-slack-request-timestamp': ts,
            'x-slack-signature': signature,
          },
          body: type ? body : new Uint8Array(Buffer.from(body)),
        });
        answers.push([res.status, ((await res.json()) as { error: { code: string } }).error.code]);
      }
      expect(answers, String(type)).toEqual([
        [415, 'UNSUPPORTED_MEDIA_TYPE'],
        [415, 'UNSUPPORTED_MEDIA_TYPE'],
      ]);
    }
  });
});
