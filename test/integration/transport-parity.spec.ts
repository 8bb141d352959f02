// Attacks on the transports other than plain HTTP calls: graphql-ws must refuse what HTTP refuses
// (validation limits, rate limit, a revoked or expired credential), its server must not read huge or
// never-initialised connections, and open SSE streams and sockets end when their token is revoked, on
// every API instance (issue 10, items 3 and 7).
import type { INestApplication } from '@nestjs/common';
import pg from 'pg';
import WebSocket from 'ws';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { ADMIN_TOKEN, gql, http, stackEnv, startApi, uniqueName } from '../support/harness.js';
import { createNamespace, writesTo } from '../support/kube.js';

type Api = { app: INestApplication; url: string };

/** A graphql-ws client that keeps its socket open between operations (the attacks need one socket). */
const wsClient = (base: string, token = ADMIN_TOKEN): Client =>
  createClient({
    url: base.replace(/^http/, 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazyCloseTimeout: 60_000,
    connectionParams: { authorization: `Bearer ${token}` },
  });

/** One operation over graphql-ws: its result, its error message, or the close that ended it. */
function wsRun(client: Client, query: string, variables: Record<string, unknown> = {}) {
  return new Promise<{ data?: any; errors?: any[]; closeCode?: number }>((resolve) => {
    let result: { data?: any; errors?: any[] } = {};
    client.subscribe(
      { query, variables },
      {
        next: (msg) => (result = msg as typeof result),
        error: (err) => resolve(Array.isArray(err) ? { errors: err } : { closeCode: (err as { code?: number }).code }),
        complete: () => resolve(result),
      },
    );
  });
}

/** Resolves with the close code of the client's socket. */
function closeCodeOf(client: Client): Promise<number> {
  return new Promise((resolve) => client.on('closed', (event) => resolve((event as { code: number }).code)));
}

/** A raw WebSocket on /graphql speaking graphql-transport-ws; resolves with its close code and when it came. */
function rawSocket(base: string, onOpen: (ws: WebSocket) => void = () => undefined) {
  const ws = new WebSocket(base.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws');
  const opened = Date.now();
  ws.on('error', () => undefined); // a reset while we still write is expected when the server refuses
  ws.on('open', () => onOpen(ws));
  return new Promise<{ code: number; afterMs: number }>((resolve) =>
    ws.on('close', (code) => resolve({ code, afterMs: Date.now() - opened })),
  );
}

/** Reads an SSE stream until the server ends it; the blocks it sent and when it ended. */
async function sseUntilEnd(base: string, path: string, token: string, onOpen: () => Promise<void>) {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const first = await reader.read(); // the replayed events: the stream is open and waiting
  text += decoder.decode(first.value);
  const t0 = Date.now();
  await onOpen();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
  }
  return { text, endedAfterMs: Date.now() - t0 };
}

const aliasField = (i: number) => `a${i}: onboardingRequests(first: 200) { edges { node { id } } }`;
const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => aliasField(i)).join(' ')} }`;

describe('WebSocket and SSE parity with HTTP', () => {
  let emulator: Emulator;
  let env: Record<string, string>;
  let a: Api; // API + worker
  let b: Api; // a second API instance
  let db: pg.Client;

  const token = async (api: Api, roles: string[]) =>
    (await http(api.url, 'POST', '/v1/tokens', { name: uniqueName('ws'), roles, scopes: ['emulator/*'] })).body as {
      token: string;
      record: { id: string };
    };

  beforeAll(async () => {
    emulator = await startEmulator();
    // Revocations must reach B over pub/sub: its periodic re-check is out of the way here.
    env = await stackEnv(emulator, { AUTH_SESSION_RECHECK_MS: '600000' });
    // A short init deadline on A; B's is long enough for a client to mask and send 30 MB on a busy machine.
    a = await startApi({ ...env, ROLE: 'all', GRAPHQL_WS_INIT_TIMEOUT_MS: '400' });
    b = await startApi({ ...env, ROLE: 'api', GRAPHQL_WS_INIT_TIMEOUT_MS: '20000' });
    db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await Promise.all([a?.app.close(), b?.app.close()]);
    await emulator?.close();
  });

  it('refuses 200 aliases × first: 200 over graphql-ws as over HTTP (the same validation rules)', async () => {
    const overHttp = await gql(a.url, aliases(200));
    expect(overHttp.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const client = wsClient(b.url);
    try {
      const r = await wsRun(client, aliases(200));
      expect(r.data).toBeUndefined();
      expect(r.errors?.[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(r.errors?.map((e) => e.message).join(' ')).toMatch(/alias/i);
      // Within the limits the same socket answers.
      const ok = await wsRun(
        client,
        `{ a0: onboardingRequests(first: 2) { edges { cursor } } a1: onboardingRequests { edges { cursor } } }`,
      );
      expect(ok.errors).toBeUndefined();
      expect(ok.data.a0.edges).toBeInstanceOf(Array);
    } finally {
      await client.dispose();
    }
  });

  it('refuses a WebSocket message over 64 KB from its frame header, before reading or parsing it', async () => {
    const payload = JSON.stringify({
      type: 'connection_init',
      payload: { authorization: 'Bearer nope', pad: 'x'.repeat(30 * 1024 * 1024) },
    });
    const closed = await rawSocket(b.url, (ws) => ws.send(payload));
    // 1009 (message too big) is the frame-length check; a parsed message would have been refused with 4403.
    expect(closed.code, JSON.stringify(closed)).toBe(1009);
  });

  it('closes a socket that never sends connection_init after GRAPHQL_WS_INIT_TIMEOUT_MS (4408)', async () => {
    const closed = await rawSocket(a.url);
    expect(closed.code).toBe(4408);
    expect(closed.afterMs).toBeGreaterThanOrEqual(350);
    expect(closed.afterMs).toBeLessThan(2000); // graphql-ws's own default is 3 s
  });

  it('answers only /graphql upgrades', async () => {
    const ws = new WebSocket(b.url.replace(/^http/, 'ws') + '/v1/onboardings', 'graphql-transport-ws');
    const status = await new Promise<number>((resolve) =>
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
    );
    expect(status).toBe(404);
  });

  it('closes open sockets and SSE streams on another instance with 4401 when the token is revoked', async () => {
    const ns = uniqueName('ws-rev');
    await createNamespace(emulator, ns);
    // A request that stays open (PLANNED), so its streams wait for events.
    const planned = await http(a.url, 'POST', '/v1/onboardings', { namespace: ns, dryRun: true });
    expect(planned.status).toBe(202);
    const t = await token(a, ['requester', 'viewer']);
    const client = wsClient(b.url, t.token);
    const closed = closeCodeOf(client);
    const sub = new Promise<void>((resolve) =>
      client.subscribe(
        {
          query: `subscription($id: ID!) { onboardingProgress(requestId: $id) { cursor type } }`,
          variables: { id: planned.body.id },
        },
        { next: () => resolve(), error: () => resolve(), complete: () => resolve() },
      ),
    );
    await sub; // the replayed event arrived: the socket is open on B
    const sse = await sseUntilEnd(b.url, `/v1/onboardings/${planned.body.id}/events`, t.token, async () => {
      expect((await http(a.url, 'DELETE', `/v1/tokens/${t.record.id}`)).status).toBe(200);
    });
    expect(sse.text).toContain('event: error');
    expect(sse.text).toContain('UNAUTHENTICATED');
    expect(sse.endedAfterMs).toBeLessThan(3000);
    expect(await closed).toBe(4401);
    // And a new socket with it is refused at the handshake.
    const again = wsClient(b.url, t.token);
    const r = await wsRun(again, `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }`, {
      i: { namespace: ns },
    });
    expect(r.closeCode).toBe(4403);
    await again.dispose();
  });

  it('checks the credential for every operation: an expired token cannot requestOnboarding on its socket', async () => {
    const ns = uniqueName('ws-exp');
    await createNamespace(emulator, ns);
    const t = await token(a, ['requester', 'viewer']);
    // It expires in 2 s; no revocation message and no periodic re-check will close the socket first.
    await db.query(`UPDATE api_token SET expires_at = now() + interval '2 seconds' WHERE id = $1`, [t.record.id]);
    const client = wsClient(b.url, t.token);
    const closed = closeCodeOf(client);
    try {
      expect((await wsRun(client, `{ onboardingRequests(first: 1) { edges { cursor } } }`)).errors).toBeUndefined();
      await new Promise((r) => setTimeout(r, 2300));
      const writes = writesTo(emulator, ns);
      const r = await wsRun(client, `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }`, {
        i: { namespace: ns },
      });
      expect(r.data?.requestOnboarding).toBeFalsy();
      expect(r.errors?.[0].extensions.code ?? `closed ${r.closeCode}`).toBe('UNAUTHENTICATED');
      expect(await closed).toBe(4401);
      // Nothing stored, nothing written to the cluster.
      expect((await http(a.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);
      await new Promise((r) => setTimeout(r, 300));
      expect(writesTo(emulator, ns)).toBe(writes);
    } finally {
      await client.dispose();
    }
  });

  it("charges every WebSocket operation to the caller's rate limit, shared with HTTP", async () => {
    const limited = await startApi({
      ...env,
      ROLE: 'api',
      RATE_LIMIT_PER_MINUTE: '4',
      QUEUE_PREFIX: `${env.QUEUE_PREFIX}-rl`,
    });
    try {
      const t = await token(a, ['viewer']);
      const as = { authorization: `Bearer ${t.token}` };
      const client = wsClient(limited.url, t.token);
      try {
        expect((await wsRun(client, `{ onboardingRequests(first: 1) { edges { cursor } } }`)).errors).toBeUndefined();
        const statuses = [];
        for (let i = 0; i < 4; i++)
          statuses.push((await http(limited.url, 'GET', '/v1/onboardings?limit=1', undefined, as)).status);
        expect(statuses).toEqual([200, 200, 200, 429]);
        const r = await wsRun(client, `{ onboardingRequests(first: 1) { edges { cursor } } }`);
        expect(r.data).toBeUndefined();
        expect(r.errors?.[0].extensions.code).toBe('RATE_LIMITED');
        expect(r.errors?.[0].extensions.details.retryAfterSeconds).toBeGreaterThan(0);
      } finally {
        await client.dispose();
      }
    } finally {
      await limited.app.close();
    }
  });
});

describe('streams of a token revoked without a message (Redis lost it, or the row was changed directly)', () => {
  let emulator: Emulator;
  let api: Api;
  let db: pg.Client;

  beforeAll(async () => {
    emulator = await startEmulator();
    api = await startApi(await stackEnv(emulator, { ROLE: 'api', AUTH_SESSION_RECHECK_MS: '300' }));
    db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await api?.app.close();
    await emulator?.close();
  });

  it('ends the SSE stream within AUTH_SESSION_RECHECK_MS', async () => {
    const ns = uniqueName('sse-rev');
    await createNamespace(emulator, ns);
    const planned = await http(api.url, 'POST', '/v1/onboardings', { namespace: ns, dryRun: true });
    const t = (
      await http(api.url, 'POST', '/v1/tokens', { name: uniqueName('sse'), roles: ['viewer'], scopes: ['*/*'] })
    ).body;
    const sse = await sseUntilEnd(api.url, `/v1/onboardings/${planned.body.id}/events`, t.token, async () => {
      await db.query(`UPDATE api_token SET revoked_at = now() WHERE id = $1`, [t.record.id]);
    });
    expect(sse.text).toContain('event: error');
    expect(sse.endedAfterMs).toBeLessThan(2500);
  });
});
