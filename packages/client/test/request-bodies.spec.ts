// The generated types take a body as the server does: a field the server defaults (a webhook's `format`, a token's
// `scopes`, a batch's `options`, the SMI lists) may be left out. `npm run typecheck` (in CI) compiles these calls;
// with openapi-typescript's defaultNonNullable they were required. At run time, each body is sent as written.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOsmClient } from '../src/index.js';

let server: Server;
const bodies: unknown[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(text));
      res.writeHead(201, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('request bodies without the fields the server defaults', () => {
  it('compile and are sent as written', async () => {
    const { port } = server.address() as AddressInfo;
    const c = createOsmClient({ baseUrl: `http://127.0.0.1:${port}`, token: 't' });
    await c.api.POST('/v1/webhooks', { body: { url: 'https://hooks.example.com/x', eventTypes: ['request.*'] } });
    await c.api.POST('/v1/tokens', { body: { name: 'bot', roles: ['viewer'] } });
    await c.api.POST('/v1/batches', { body: { kind: 'ONBOARD', targets: [{ namespace: 'team-a' }] } });
    await c.api.POST('/v1/onboardings', {
      body: { namespace: 'team-a', trafficPolicy: { mode: 'smi', smi: { httpRouteGroups: [] } } },
    });
    expect(bodies).toEqual([
      { url: 'https://hooks.example.com/x', eventTypes: ['request.*'] },
      { name: 'bot', roles: ['viewer'] },
      { kind: 'ONBOARD', targets: [{ namespace: 'team-a' }] },
      { namespace: 'team-a', trafficPolicy: { mode: 'smi', smi: { httpRouteGroups: [] } } },
    ]);
  });
});
