// One owner's slow webhook targets cannot hold back another owner's deliveries: a dispatcher sends at most
// OWNER_SLOTS deliveries of one owner at once (webhook-dispatcher.service.ts). An outside audit had one requester's
// 8 webhooks to a receiver that never answers delay another requester's delivery by 70 s.
import { randomBytes } from 'node:crypto';
import { createServer, Server, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startStack, Stack, waitForStatus } from '../support/harness.js';
import { createNamespace } from '../support/kube.js';
import { OWNER_SLOTS } from '../../src/webhooks/webhook-dispatcher.service.js';

describe('webhook deliveries are shared fairly between owners', () => {
  let s: Stack;
  let server: Server;
  let port: number;
  const held: ServerResponse[] = [];
  const fastAt: number[] = [];
  const p = `whf${randomBytes(3).toString('hex')}`;
  const tokens: Record<'slow' | 'fast', string> = {} as never;
  const as = (t: string) => ({ authorization: `Bearer ${t}` });

  beforeAll(async () => {
    // `/hang` never answers (until the end); `/fast` answers at once.
    server = createServer((req, res) => {
      req.resume().on('end', () => {
        if (req.url === '/fast') {
          fastAt.push(Date.now());
          res.writeHead(204).end();
        } else held.push(res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    s = await startStack({
      env: { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_TIMEOUT_MS: '8000', WEBHOOK_MAX_ATTEMPTS: '1' },
    });
    for (const key of ['slow', 'fast'] as const) {
      const r = await http(s.url, 'POST', '/v1/tokens', {
        name: `${p}-${key}`,
        roles: ['requester'],
        scopes: [`emulator/${p}-*`],
      });
      expect(r.status).toBe(201);
      tokens[key] = r.body.token;
    }
  });
  afterAll(async () => {
    for (const res of held) res.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    await s?.close();
  });

  it("another owner's delivery goes out while one owner's targets hang", async () => {
    const url = (path: string) => `http://127.0.0.1:${port}${path}`;
    // More hanging webhooks than the dispatcher has slots (8).
    for (let i = 0; i < 10; i++) {
      const r = await http(
        s.url,
        'POST',
        '/v1/webhooks',
        { url: url(`/hang?${i}`), eventTypes: ['request.succeeded'] },
        as(tokens.slow),
      );
      expect(r.status).toBe(201);
    }
    const fast = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: url('/fast'), eventTypes: ['request.succeeded'] },
      as(tokens.fast),
    );
    expect(fast.status).toBe(201);

    // One request: both owners' webhooks want its request.succeeded.
    const ns = `${p}-a`;
    await createNamespace(s.emulator, ns);
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
    const done = await waitForStatus(s.url, r.body.id, ['SUCCEEDED', 'FAILED']);
    expect(done.status).toBe('SUCCEEDED');
    const succeededAt = Date.now();
    for (let i = 0; i < 100 && fastAt.length === 0; i++) await new Promise((res) => setTimeout(res, 50));
    // Delivered within seconds, not after the hanging ones' 8 s timeouts; and at most OWNER_SLOTS of them hang at once.
    expect(fastAt.length).toBe(1);
    expect(fastAt[0] - succeededAt).toBeLessThan(4000);
    expect(held.length).toBeLessThanOrEqual(OWNER_SLOTS);
  });
});
