// The failed-authentication budget (AUTH_FAILURES_PER_MINUTE) is shared by every API instance: once one instance
// blocks an address, every other one refuses that address at once (429), whatever token it sends, before any token
// is looked up; an instance that was not running then learns the block at that address's first failure.
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { ADMIN_TOKEN, gql, http, stackEnv, startApi } from '../support/harness.js';

const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
const lookups = async (base: string) =>
  metric((await http(base, 'GET', '/metrics')).body, 'osm_onboarding_auth_token_lookups_total');
const badToken = () => `osmo_${randomBytes(32).toString('base64url')}`;
const get = (base: string, token: string) =>
  http(base, 'GET', '/v1/onboardings?limit=1', undefined, { authorization: `Bearer ${token}` });

/** The HTTP status of a WebSocket upgrade on /graphql (101 when accepted). */
const upgradeStatus = (base: string) =>
  new Promise<number>((resolve) => {
    const ws = new WebSocket(base.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws');
    ws.on('error', () => undefined);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
  });

describe('failed authentications: one block for every API instance', () => {
  let emulator: Emulator;
  let env: Record<string, string>;
  const apps: INestApplication[] = [];
  let a: string;
  let b: string;

  beforeAll(async () => {
    emulator = await startEmulator();
    env = await stackEnv(emulator, { ROLE: 'api', AUTH_FAILURES_PER_MINUTE: '3', RATE_LIMIT_PER_MINUTE: '0' });
    for (const which of ['a', 'b']) {
      const api = await startApi(env);
      apps.push(api.app);
      if (which === 'a') a = api.url;
      else b = api.url;
    }
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await emulator?.close();
  });

  it('once A blocks an address, B refuses any token from it at once, no lookup, until the block ends', async () => {
    expect((await get(b, ADMIN_TOKEN)).status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(a, badToken())).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const blockedOnA = Number((await get(a, ADMIN_TOKEN)).headers.get('retry-after'));
    expect(blockedOnA).toBeGreaterThan(0);

    // The announcement travels over Redis pub/sub: B knows within moments, without a failure of its own.
    const lookupsBefore = await lookups(b);
    let admin = await get(b, ADMIN_TOKEN);
    for (let i = 0; i < 40 && admin.status !== 429; i++) {
      await new Promise((r) => setTimeout(r, 50));
      admin = await get(b, ADMIN_TOKEN);
    }
    expect([admin.status, admin.body.error?.code]).toEqual([429, 'RATE_LIMITED']);
    const bad = await get(b, badToken());
    expect([bad.status, bad.body.error?.code]).toEqual([429, 'RATE_LIMITED']);
    // The block ends when A's window ends, not a new minute from now.
    const retryAfter = Number(bad.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(blockedOnA);
    const graphql = await gql(b, '{ __typename }', {}, { authorization: `Bearer ${badToken()}` });
    expect([graphql.status, graphql.errors?.[0]?.extensions?.code]).toEqual([429, 'RATE_LIMITED']);
    expect(await upgradeStatus(b)).toBe(429);
    expect(await lookups(b)).toBe(lookupsBefore);
  });

  it('an instance started after the block learns it at the first failure from that address', async () => {
    const c = await startApi(env);
    apps.push(c.app);
    // It missed the announcement: a valid token is still served.
    expect((await get(c.url, ADMIN_TOKEN)).status).toBe(200);
    const r = await get(c.url, badToken());
    expect([r.status, r.body.error?.code]).toEqual([429, 'RATE_LIMITED']);
    expect((await get(c.url, ADMIN_TOKEN)).status).toBe(429);
  });
});
