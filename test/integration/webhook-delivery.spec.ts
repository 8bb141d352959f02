// One delivery attempt (WebhookDispatcher.deliver) against in-memory rows and a local receiver: the owner is
// checked again before every attempt (a revoked token, the environment admin once OSM_ONBOARDING_ADMIN_TOKEN is
// gone, or scopes that no longer hold the request end the delivery unsent), a target the address policy refuses
// ends it at once, what the owner sees of a network failure names no address and no DNS answer, and of a non-2xx
// answer only its status (never any of its body: the target may be an internal service the owner cannot read).
import { createServer, type Server } from 'node:http';
import type { LookupAddress } from 'node:dns';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Job } from 'bullmq';
import { loadConfig } from '../../src/config/config.js';
import {
  OUT_OF_SCOPE,
  OWNER_GONE,
  WebhookDispatcher,
  type DeliverJob,
} from '../../src/webhooks/webhook-dispatcher.service.js';
import { CONNECT_FAILED } from '../../src/webhooks/webhook-http.js';
import { SecretBox } from '../../src/webhooks/webhook-crypto.js';

// Two made-up names: one resolving to loopback (as `vm` did in the report), one that does not resolve.
vi.mock('node:dns', async (importOriginal) => {
  const dns = await importOriginal<typeof import('node:dns')>();
  type Callback = (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void;
  const lookup = (host: string, options: object, callback: Callback) => {
    if (host === 'inside.test') return callback(null, [{ address: '127.0.0.1', family: 4 }]);
    if (host === 'nowhere.test') {
      return callback(Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.test'), { code: 'ENOTFOUND' }), []);
    }
    return (dns.lookup as unknown as (h: string, o: object, c: Callback) => void)(host, options, callback);
  };
  return { ...dns, lookup };
});

const KEY = 'k'.repeat(32);
const INTERNAL_BODY = JSON.stringify({ error: 'db-password=hunter2', detail: 'x'.repeat(2000) });
const ADMIN = 'unit-admin-token-0123456789';

let server: Server;
let port: number;
let hits = 0;
beforeAll(async () => {
  server = createServer((req, res) => {
    hits += 1;
    // `/internal`: a service on this host that answers 500 with something it would show only to insiders.
    if (req.url === '/internal') {
      req.resume().on('end', () => res.writeHead(500, { 'content-type': 'application/json' }).end(INTERNAL_BODY));
      return;
    }
    req.resume().on('end', () => res.writeHead(200).end('ok'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

interface Setup {
  owner: string;
  url?: string;
  env?: Record<string, string>;
  token?: { revokedAt?: Date | null; expiresAt?: Date | null; scopes?: string[] };
}

/** The attempt row the last `attempt()` recorded. */
let lastAttempt: { responseCode?: number | null; error?: string | null } | undefined;

/** A dispatcher whose Prisma holds one delivery of one subscription; returns what deliver() recorded. */
async function attempt(o: Setup) {
  const config = loadConfig({ WEBHOOK_SECRET_KEY: KEY, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', ...o.env });
  const subscription = {
    id: 'sub-1',
    ownerId: o.owner,
    ownerRoles: ['admin'],
    ownerScopes: ['*/*'],
    url: o.url ?? `http://127.0.0.1:${port}/hook`,
    eventTypes: ['request.*'],
    secretCiphertext: new SecretBox(KEY).seal('whsec_unit'),
    format: 'json',
  };
  const recorded: { attempt?: any; update?: any } = {};
  const prisma = {
    webhookDelivery: {
      findUnique: async () => ({
        id: 'del-1',
        requestId: 'req-1',
        eventType: 'request.created',
        status: 'PENDING',
        attempts: 0,
        payload: { type: 'request.created' },
        subscription,
      }),
      update: async (args: unknown) => (recorded.update = args),
    },
    webhookDeliveryAttempt: { create: async (args: unknown) => (recorded.attempt = args) },
    apiToken: {
      findUnique: async () => ({ roles: ['requester'], scopes: ['*/*'], revokedAt: null, expiresAt: null, ...o.token }),
    },
    onboardingRequest: { findUnique: async () => ({ cluster: 'emulator', namespace: 'team-a' }) },
    $transaction: (ops: Promise<unknown>[]) => Promise.all(ops),
  };
  const metrics = { webhookDeliveries: { observe: () => undefined } };
  const dispatcher = new WebhookDispatcher(
    prisma as never,
    {} as never,
    {} as never,
    config,
    metrics as never,
    {
      current: async () => null,
    } as never,
  );
  const before = hits;
  let thrown: unknown;
  await dispatcher.deliver({ data: { deliveryId: 'del-1' } } as Job<DeliverJob>).catch((err) => (thrown = err));
  lastAttempt = recorded.attempt?.data;
  return {
    sent: hits - before,
    status: recorded.update?.data.status,
    lastError: recorded.update?.data.lastError,
    thrown,
  };
}

describe('webhook delivery: the owner is checked before every attempt', () => {
  it("sends the environment admin's deliveries only while OSM_ONBOARDING_ADMIN_TOKEN is configured", async () => {
    const owner = 'token:bootstrap-admin';
    expect(await attempt({ owner, env: { OSM_ONBOARDING_ADMIN_TOKEN: ADMIN } })).toMatchObject({
      sent: 1,
      status: 'SUCCEEDED',
    });
    expect(await attempt({ owner })).toEqual({ sent: 0, status: 'FAILED', lastError: OWNER_GONE, thrown: undefined });
  });

  it('ends, unsent and not retried, a delivery whose owner token was revoked or expired after fan-out', async () => {
    const owner = 'token:team-a-bot';
    expect(await attempt({ owner })).toMatchObject({ sent: 1, status: 'SUCCEEDED' });
    for (const token of [{ revokedAt: new Date() }, { expiresAt: new Date(Date.now() - 1000) }]) {
      expect(await attempt({ owner, token })).toEqual({
        sent: 0,
        status: 'FAILED',
        lastError: OWNER_GONE,
        thrown: undefined,
      });
    }
    // The owner's scopes no longer hold the request (an OIDC subject's newer token can narrow them).
    expect(await attempt({ owner, token: { scopes: ['staging/*'] } })).toMatchObject({
      sent: 0,
      status: 'FAILED',
      lastError: OUT_OF_SCOPE,
    });
  });
});

describe('webhook delivery: what a network failure shows', () => {
  const env = { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'false' };
  const owner = 'token:team-a-bot';

  it('refuses, once and for good, a name resolving to an internal address, without naming the address', async () => {
    const r = await attempt({ owner, env, url: `http://inside.test:${port}/x` });
    expect(r).toEqual({
      sent: 0,
      status: 'FAILED',
      lastError: 'refused: the target resolves to an address webhooks may not reach',
      thrown: undefined,
    });
  });

  it('reports a name that does not resolve like a closed port, and retries both', async () => {
    const missing = await attempt({ owner, env, url: 'http://nowhere.test/' });
    const closed = await attempt({ owner, url: 'http://127.0.0.1:1/' });
    for (const r of [missing, closed]) {
      expect(r).toMatchObject({ sent: 0, status: 'RETRYING', lastError: CONNECT_FAILED });
      expect(String(r.thrown)).toMatch(/attempt 1\/8 failed: could not connect to the target$/);
    }
  });
});

describe('webhook delivery: what a non-2xx answer shows', () => {
  it('records the status alone, none of the body, in the delivery and in its attempt', async () => {
    const r = await attempt({ owner: 'token:team-a-bot', url: `http://127.0.0.1:${port}/internal` });
    expect(r).toMatchObject({ sent: 1, status: 'RETRYING', lastError: 'HTTP 500' });
    expect(String(r.thrown)).toMatch(/attempt 1\/8 failed: HTTP 500$/);
    expect(lastAttempt).toMatchObject({ responseCode: 500, error: 'HTTP 500' });
    expect(JSON.stringify([r.lastError, lastAttempt, String(r.thrown)])).not.toMatch(/hunter2|db-password|xxxx/);
  });
});
