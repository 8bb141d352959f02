// The number of webhooks one owner may have (WEBHOOKS_PER_OWNER, webhook.service.ts): each one is read on every
// event and may hold a socket per delivery, so a requester cannot make them without bound. Concurrent creations are
// counted under one lock per owner.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, http, startStack, Stack } from '../support/harness.js';

describe('webhooks: at most WEBHOOKS_PER_OWNER per owner', () => {
  let s: Stack;
  const p = `whl${randomBytes(3).toString('hex')}`;
  const tokens: Record<'a' | 'b', string> = {} as never;
  const as = (t: string) => ({ authorization: `Bearer ${t}` });
  const hook = (i: number) => ({ url: `https://hooks.example.com/${p}/${i}`, eventTypes: ['request.*'] });

  beforeAll(async () => {
    s = await startStack({ env: { WEBHOOKS_PER_OWNER: '3' } });
    for (const key of ['a', 'b'] as const) {
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
    await s?.close();
  });

  it('refuses one more with 409 WEBHOOK_LIMIT_REACHED on REST and GraphQL, counting concurrent creations', async () => {
    // Five at once: exactly three land.
    const first = await Promise.all(
      [0, 1, 2, 3, 4].map((i) => http(s.url, 'POST', '/v1/webhooks', hook(i), as(tokens.a))),
    );
    expect(first.map((r) => r.status).sort()).toEqual([201, 201, 201, 409, 409]);
    const refused = first.find((r) => r.status === 409)!;
    expect(refused.body.error).toMatchObject({ code: 'WEBHOOK_LIMIT_REACHED' });
    expect(refused.body.error.message).toContain('WEBHOOKS_PER_OWNER=3');
    const mine = await http(s.url, 'GET', '/v1/webhooks', undefined, as(tokens.a));
    expect(mine.body.items).toHaveLength(3);

    const viaGql = await gql(
      s.url,
      'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }',
      { i: hook(5) },
      as(tokens.a),
    );
    expect(viaGql.errors?.[0].extensions.code).toBe('WEBHOOK_LIMIT_REACHED');

    // Another owner is not counted against it; a deletion makes room.
    expect((await http(s.url, 'POST', '/v1/webhooks', hook(6), as(tokens.b))).status).toBe(201);
    const del = await http(s.url, 'DELETE', `/v1/webhooks/${mine.body.items[0].id}`, undefined, as(tokens.a));
    expect(del.status).toBeLessThan(300);
    expect((await http(s.url, 'POST', '/v1/webhooks', hook(7), as(tokens.a))).status).toBe(201);
    expect((await http(s.url, 'POST', '/v1/webhooks', hook(8), as(tokens.a))).status).toBe(409);
  });
});
