import { createHmac, randomBytes } from 'node:crypto';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import { gql, http, stackEnv, startApi, startStack, startWorker, Stack, waitForStatus } from '../support/harness.js';
import { startEmulator } from '../support/emulator/index.js';
import { OWNER_GONE, SUBSCRIPTIONS_TTL_MS } from '../../src/webhooks/webhook-dispatcher.service.js';
import { createNamespace } from '../support/kube.js';
import { postJson } from '../../src/webhooks/webhook-http.js';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
}

/**
 * A local webhook receiver: records every POST; `answers[path]` is the status sequence to answer with
 * (the last one repeats); `before[path]`, when set, runs (once) before the answer.
 */
async function startReceiver() {
  const received: Received[] = [];
  const answers: Record<string, number[]> = {};
  const before: Record<string, () => Promise<unknown>> = {};
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, body, json: JSON.parse(body) });
      const hook = before[path];
      delete before[path];
      const answer = () => {
        const seq = answers[path] ?? [200];
        const status = seq.length > 1 ? seq.shift()! : seq[0];
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'receiver says no');
      };
      if (hook) void hook().finally(answer);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    received,
    answers,
    before,
    at: (path: string) => received.filter((r) => r.path === path),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function until<T>(fn: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${timeoutMs} ms: ${JSON.stringify(v)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const hmac = (secret: string, timestamp: string, body: string) =>
  `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;

describe('webhooks: signed deliveries to a local receiver, retried through BullMQ', () => {
  let s: Stack;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  let db: pg.Client;
  // Every namespace of this file starts with `p`; tokens are scoped to it, so other test files'
  // stacks (same database) never deliver their events to these subscriptions.
  const p = `wh${randomBytes(3).toString('hex')}`;
  const tokens: Record<'requester' | 'other' | 'viewer', string> = {} as never;
  const as = (t: string) => ({ authorization: `Bearer ${t}` });

  beforeAll(async () => {
    s = await startStack({
      env: { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_BACKOFF_MS: '50', WEBHOOK_MAX_ATTEMPTS: '4' },
    });
    rx = await startReceiver();
    db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
    for (const [key, roles, scopes] of [
      ['requester', ['requester'], [`emulator/${p}-*`]],
      ['other', ['requester'], [`emulator/${p}-other-*`]],
      ['viewer', ['viewer'], [`emulator/${p}-*`]],
    ] as const) {
      const r = await http(s.url, 'POST', '/v1/tokens', { name: `${p}-${key}`, roles, scopes });
      expect(r.status).toBe(201);
      tokens[key] = r.body.token;
    }
  });
  afterAll(async () => {
    await db?.end();
    await rx?.close();
    await s?.close();
  });

  async function onboard(ns: string, body: Record<string, unknown> = {}) {
    await createNamespace(s.emulator, ns);
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, ...body });
    expect(r.status).toBe(202);
    return waitForStatus(s.url, r.body.id, ['SUCCEEDED', 'FAILED']);
  }

  it('delivers matching events with a verifiable HMAC signature and a summary a bot can post', async () => {
    const secret = `s3cret-${randomBytes(12).toString('hex')}`;
    const created = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: rx.url('/ok'), eventTypes: ['request.succeeded', 'step.failed'], secret },
      as(tokens.requester),
    );
    expect(created.status).toBe(201);
    expect(created.body.secret).toBeNull(); // a given secret is never echoed
    expect(created.body.webhook).toMatchObject({
      url: rx.url('/ok'),
      eventTypes: ['request.succeeded', 'step.failed'],
      owner: `token:${p}-requester`,
      scopes: [`emulator/${p}-*`],
    });
    expect(JSON.stringify(created.body)).not.toContain(secret);

    const ns = `${p}-ok`;
    const done = await onboard(ns);
    expect(done.status).toBe('SUCCEEDED');
    const [hit] = await until(
      () => rx.at('/ok'),
      (r) => r.length >= 1,
    );
    await new Promise((r) => setTimeout(r, 300)); // nothing else matches: still exactly one
    expect(rx.at('/ok')).toHaveLength(1);

    // The receiver's side of the contract.
    const ts = hit.headers['x-osm-onboarding-timestamp'] as string;
    expect(ts).toMatch(/^\d{10}$/);
    expect(Math.abs(Date.now() / 1000 - Number(ts))).toBeLessThan(60);
    expect(hit.headers['x-osm-onboarding-signature']).toBe(hmac(secret, ts, hit.body));
    expect(hit.headers['x-osm-onboarding-signature']).not.toBe(hmac('wrong-secret-123456', ts, hit.body));
    expect(hit.headers['x-osm-onboarding-event']).toBe('request.succeeded');
    expect(hit.headers['content-type']).toBe('application/json');
    expect(hit.json).toMatchObject({
      id: hit.headers['x-osm-onboarding-delivery'],
      type: 'request.succeeded',
      requestId: done.id,
      cluster: 'emulator',
      namespace: ns,
      cursor: done.lastEventCursor,
      data: { status: 'SUCCEEDED' },
    });
    expect(Object.keys(hit.json).sort()).toEqual([
      'at',
      'cluster',
      'cursor',
      'data',
      'id',
      'namespace',
      'requestId',
      'summary',
      'type',
    ]);
    expect(hit.json.summary).toBe(`✅ onboarding of emulator/${ns} into mesh osm succeeded (4 steps, 1 changed)`);

    const deliveries = await http(
      s.url,
      'GET',
      `/v1/webhooks/${created.body.webhook.id}/deliveries`,
      undefined,
      as(tokens.requester),
    );
    expect(deliveries.status).toBe(200);
    expect(deliveries.body.items).toHaveLength(1);
    expect(deliveries.body.items[0]).toMatchObject({
      id: hit.json.id,
      requestId: done.id,
      eventType: 'request.succeeded',
      status: 'SUCCEEDED',
      attempts: 1,
      lastResponseCode: 200,
      lastError: null,
      nextAttemptAt: null,
      history: [{ attempt: 1, responseCode: 200, error: null }],
    });
    expect(deliveries.body.items[0].deliveredAt).toBeTruthy();
  });

  it('retries a failing receiver with backoff (500, 500, 200) and records every attempt', async () => {
    rx.answers['/flaky'] = [500, 500, 200];
    const metric = async (outcome: string) => {
      const text = (await http(s.url, 'GET', '/metrics')).body as string;
      const line = text
        .split('\n')
        .find(
          (l) =>
            l.startsWith('osm_onboarding_webhook_delivery_duration_seconds_count') &&
            l.includes('event="request.succeeded"') &&
            l.includes(`outcome="${outcome}"`),
        );
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    const before = { retrying: await metric('retrying'), delivered: await metric('delivered') };
    const w = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: rx.url('/flaky'), eventTypes: ['request.succeeded'] },
      as(tokens.requester),
    );
    expect(w.status).toBe(201);
    const secret = w.body.secret;
    expect(secret).toMatch(/^whsec_/); // generated: shown in this response only
    const done = await onboard(`${p}-flaky`);
    const hits = await until(
      () => rx.at('/flaky'),
      (r) => r.length >= 3,
    );
    expect(hits.map((h) => h.headers['x-osm-onboarding-delivery'])).toEqual(Array(3).fill(hits[0].json.id));
    expect(new Set(hits.map((h) => h.body)).size).toBe(1); // the same body each time, signed afresh
    for (const h of hits)
      expect(h.headers['x-osm-onboarding-signature']).toBe(
        hmac(secret, h.headers['x-osm-onboarding-timestamp'] as string, h.body),
      );
    const delivery = await until(
      async () =>
        (await http(s.url, 'GET', `/v1/webhooks/${w.body.webhook.id}/deliveries`, undefined, as(tokens.requester))).body
          .items[0],
      (d) => d?.status === 'SUCCEEDED',
    );
    expect(delivery).toMatchObject({ requestId: done.id, attempts: 3, lastResponseCode: 200, lastError: null });
    expect(delivery.history.map((a: any) => [a.attempt, a.responseCode])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
    // The status alone: none of the receiver's body (a target may be an internal service, outside audit).
    expect(delivery.history[0].error).toBe('HTTP 500');
    expect(JSON.stringify(delivery)).not.toContain('receiver says no');
    // Every attempt is counted by outcome (other subscriptions of this file may deliver the same event).
    expect((await metric('retrying')) - before.retrying).toBe(2);
    expect((await metric('delivered')) - before.delivered).toBeGreaterThanOrEqual(1);
  });

  it('gives up after WEBHOOK_MAX_ATTEMPTS and marks the delivery failed', async () => {
    rx.answers['/down'] = [503];
    const w = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: rx.url('/down'), eventTypes: ['request.succeeded'] },
      as(tokens.requester),
    );
    await onboard(`${p}-down`);
    const delivery = await until(
      async () =>
        (
          await http(
            s.url,
            'GET',
            `/v1/webhooks/${w.body.webhook.id}/deliveries?status=FAILED`,
            undefined,
            as(tokens.requester),
          )
        ).body.items[0],
      (d) => d !== undefined,
    );
    expect(delivery).toMatchObject({ status: 'FAILED', attempts: 4, lastResponseCode: 503, nextAttemptAt: null });
    expect(delivery.history.map((a: any) => a.responseCode)).toEqual([503, 503, 503, 503]);
    expect(rx.at('/down')).toHaveLength(4);
    // A network failure is an attempt too.
    const gone = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: 'http://127.0.0.1:1/nothing-listens', eventTypes: ['request.succeeded'] },
      as(tokens.requester),
    );
    await onboard(`${p}-gone`);
    const failed = await until(
      async () =>
        (await http(s.url, 'GET', `/v1/webhooks/${gone.body.webhook.id}/deliveries`, undefined, as(tokens.requester)))
          .body.items[0],
      (d) => d?.status === 'FAILED',
    );
    expect(failed.lastResponseCode).toBeNull();
    expect(failed.lastError).toBe('could not connect to the target'); // the same for a name that does not resolve
  });

  it("filters by event type (exact, prefix.*, *) and by the owner's scopes", async () => {
    const mk = async (path: string, eventTypes: string[], token: string) =>
      (await http(s.url, 'POST', '/v1/webhooks', { url: rx.url(path), eventTypes }, as(token))).body.webhook.id;
    await mk('/req-star', ['request.*'], tokens.requester);
    await mk('/all', ['*'], tokens.requester);
    await mk('/step-failed', ['step.failed'], tokens.requester);
    await mk('/other-scope', ['*'], tokens.other); // scoped to `${p}-other-*`: sees nothing of `${p}-filter`

    const ok = await onboard(`${p}-filter`);
    // A request that fails in the worker: the API server refuses the namespace patch.
    await createNamespace(s.emulator, `${p}-nope`);
    s.emulator.faults.add({ verb: 'patch', resource: 'namespaces', name: `${p}-nope`, status: 403, times: 1 });
    const missing = await http(s.url, 'POST', '/v1/onboardings', { namespace: `${p}-nope` });
    const failed = await waitForStatus(s.url, missing.body.id, ['FAILED']);

    const stored = async (id: string) =>
      (await http(s.url, 'GET', `/v1/onboardings/${id}/audit`)).body.items.map((e: any) => e.action);
    const okActions: string[] = await stored(ok.id);
    const failedActions: string[] = await stored(failed.id);
    const typesFor = (path: string, id: string) =>
      rx
        .at(path)
        .filter((r) => r.json.requestId === id)
        .sort((a, b) => a.json.cursor - b.json.cursor)
        .map((r) => r.json.type);

    await until(
      () => typesFor('/all', ok.id).length + typesFor('/all', failed.id).length,
      (n) => n === okActions.length + failedActions.length,
    );
    await until(
      () => typesFor('/step-failed', failed.id).length,
      (n) => n >= 1,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(typesFor('/all', ok.id)).toEqual(okActions);
    expect(typesFor('/req-star', ok.id)).toEqual(okActions.filter((a) => a.startsWith('request.')));
    expect(typesFor('/req-star', failed.id)).toEqual(failedActions.filter((a) => a.startsWith('request.')));
    expect(typesFor('/step-failed', ok.id)).toEqual([]);
    expect(typesFor('/step-failed', failed.id)).toEqual(['step.failed']);
    expect(rx.at('/other-scope')).toEqual([]);

    const failedHit = rx
      .at('/req-star')
      .find((r) => r.json.requestId === failed.id && r.json.type === 'request.failed')!;
    const failedLine = `^❌ onboarding of emulator/${p}-nope into mesh osm failed at step \\S+ \\(KUBE_FORBIDDEN\\)`;
    expect(failedHit.json.summary).toMatch(new RegExp(failedLine));
    const stepHit = rx.at('/step-failed').find((r) => r.json.requestId === failed.id)!;
    expect(stepHit.json.summary).toMatch(/^⚠️ step \S+ of the onboarding of .* failed \(KUBE_FORBIDDEN\)/);

    // The other owner's scope does cover `${p}-other-*`.
    await onboard(`${p}-other-x`);
    await until(
      () => rx.at('/other-scope').length,
      (n) => n > 0,
    );
    expect(new Set(rx.at('/other-scope').map((r) => r.json.namespace))).toEqual(new Set([`${p}-other-x`]));
  });

  /** A new requester token (named `${p}-<name>`) and the `request.succeeded` webhook to `path` it owns. */
  async function webhookOfNewToken(name: string, path: string) {
    const t = await http(s.url, 'POST', '/v1/tokens', {
      name: `${p}-${name}`,
      roles: ['requester'],
      scopes: [`emulator/${p}-*`],
    });
    const w = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: rx.url(path), eventTypes: ['request.succeeded'] },
      as(t.body.token),
    );
    return { tokenId: t.body.record.id as string, w };
  }

  it('stops delivering when the owner token is revoked or the webhook deleted', async () => {
    const { tokenId, w } = await webhookOfNewToken('shortlived', '/revoked');
    const d = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: rx.url('/deleted'), eventTypes: ['request.succeeded'] },
      as(tokens.requester),
    );
    expect((await http(s.url, 'DELETE', `/v1/tokens/${tokenId}`)).status).toBe(200);
    const del = await http(s.url, 'DELETE', `/v1/webhooks/${d.body.webhook.id}`, undefined, as(tokens.requester));
    expect(del.status).toBe(200);
    expect(
      (await http(s.url, 'GET', `/v1/webhooks/${d.body.webhook.id}/deliveries`, undefined, as(tokens.requester)))
        .status,
    ).toBe(404);
    await onboard(`${p}-after`);
    await until(
      () => rx.at('/ok').filter((r) => r.json.namespace === `${p}-after`),
      (r) => r.length === 1,
    ); // the first test's webhook still works
    await new Promise((r) => setTimeout(r, 300));
    expect(rx.at('/revoked')).toEqual([]);
    expect(rx.at('/deleted')).toEqual([]);
    expect(w.status).toBe(201);
  });

  it('a webhook deleted while a dispatcher still has it cached costs no other webhook its delivery', async () => {
    const kept = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: rx.url('/kept'), eventTypes: ['request.succeeded'] },
      as(tokens.requester),
    );
    expect(kept.status).toBe(201);
    const gone = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: rx.url('/gone'), eventTypes: ['request.succeeded'] },
      as(tokens.requester),
    );
    expect(gone.status).toBe(201);
    await onboard(`${p}-cached-1`); // the dispatcher reads the webhooks again (the creation dropped its cache)
    await until(
      () => rx.at('/gone'),
      (r) => r.length === 1,
    );
    // Deleted behind the dispatcher's back, as when the change message is lost: its cache still lists it, and the
    // next event's deliveries for it would refer to a subscription that is no more.
    await db.query('DELETE FROM webhook_subscription WHERE id = $1', [gone.body.webhook.id]);
    await onboard(`${p}-cached-2`);
    await until(
      () => rx.at('/kept').filter((r) => r.json.namespace === `${p}-cached-2`),
      (r) => r.length === 1,
    );
    expect(rx.at('/gone')).toHaveLength(1);
  });

  it('sends nothing more of a delivery queued before its owner token was revoked', async () => {
    const { tokenId, w } = await webhookOfNewToken('revokedlater', '/revoked-later');
    expect(w.status).toBe(201);
    // The first attempt fails, and the token is revoked before its answer: the retry finds no owner.
    rx.answers['/revoked-later'] = [500, 200];
    rx.before['/revoked-later'] = () => http(s.url, 'DELETE', `/v1/tokens/${tokenId}`);
    const done = await onboard(`${p}-revoked-later`);
    const delivery = await until(
      async () =>
        (await db.query('SELECT * FROM webhook_delivery WHERE subscription_id = $1', [w.body.webhook.id])).rows,
      (rows) => rows[0]?.status === 'FAILED' || rows[0]?.status === 'SUCCEEDED',
    );
    expect(delivery).toMatchObject([
      { request_id: done.id, status: 'FAILED', last_error: OWNER_GONE, next_attempt_at: null, delivered_at: null },
    ]);
    await new Promise((r) => setTimeout(r, 300));
    expect(rx.at('/revoked-later')).toHaveLength(1);
  });

  it('never returns, logs or audits the secret; only owners (and admins) see a webhook', async () => {
    const secret = `top-secret-${randomBytes(16).toString('hex')}`;
    const w = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: rx.url('/private?token=abc'), eventTypes: ['*'], secret, description: 'chatops' },
      as(tokens.requester),
    );
    expect(w.status).toBe(201);
    const id = w.body.webhook.id;
    const views = [
      w.body,
      (await http(s.url, 'GET', '/v1/webhooks', undefined, as(tokens.requester))).body,
      (await http(s.url, 'GET', `/v1/webhooks/${id}`, undefined, as(tokens.requester))).body,
      (await http(s.url, 'GET', '/v1/webhooks')).body,
      (await gql(s.url, '{ webhooks { id url eventTypes description owner scopes createdAt updatedAt } }')).data,
    ];
    for (const v of views) {
      const text = JSON.stringify(v);
      expect(text).not.toContain(secret);
      expect(text).not.toMatch(/secretCiphertext|secret_ciphertext|v1\.[A-Za-z0-9_-]{16}\./);
    }
    expect(views[1].items.map((x: any) => x.id)).toContain(id);
    expect(views[3].items.map((x: any) => x.id)).toContain(id); // the admin sees it too

    // Stored encrypted; the audit rows name the host only (a URL's path or query may be a credential).
    const { rows } = await db.query('SELECT secret_ciphertext FROM webhook_subscription WHERE id = $1', [id]);
    expect(rows[0].secret_ciphertext).toMatch(/^v1\./);
    expect(rows[0].secret_ciphertext).not.toContain(secret);
    const audit = await db.query(`SELECT actor, action, data::text AS data FROM audit_event WHERE target = $1`, [
      `webhooks/${id}`,
    ]);
    expect(audit.rows).toEqual([
      { actor: `token:${p}-requester`, action: 'webhook.created', data: expect.any(String) },
    ]);
    expect(audit.rows[0].data).not.toContain(secret);
    expect(audit.rows[0].data).not.toContain('token=abc');
    const all = await db.query(`SELECT count(*)::int AS n FROM audit_event WHERE data::text LIKE $1`, [`%${secret}%`]);
    expect(all.rows[0].n).toBe(0);

    // Someone else's webhook is "not found"; viewers may not register.
    expect((await http(s.url, 'GET', `/v1/webhooks/${id}`, undefined, as(tokens.other))).status).toBe(404);
    expect((await http(s.url, 'DELETE', `/v1/webhooks/${id}`, undefined, as(tokens.other))).status).toBe(404);
    expect((await http(s.url, 'GET', `/v1/webhooks/${id}/deliveries`, undefined, as(tokens.other))).status).toBe(404);
    expect(
      (await http(s.url, 'GET', '/v1/webhooks', undefined, as(tokens.other))).body.items.map((x: any) => x.id),
    ).not.toContain(id);
    const viewer = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: rx.url('/v'), eventTypes: ['*'] },
      as(tokens.viewer),
    );
    expect(viewer.status).toBe(403);
    expect((await http(s.url, 'GET', '/v1/webhooks', undefined, { authorization: '' })).status).toBe(401);
    expect((await http(s.url, 'DELETE', `/v1/webhooks/${id}`, undefined, as(tokens.requester))).status).toBe(200);
    const audited = await db.query(`SELECT action FROM audit_event WHERE target = $1 ORDER BY id`, [`webhooks/${id}`]);
    expect(audited.rows.map((r) => r.action)).toEqual(['webhook.created', 'webhook.deleted']);
  });

  it('answers bad input with 422 and field-level messages', async () => {
    const bad = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: 'ftp://example.com/x', eventTypes: [], secret: 'short', colour: 'red' },
      as(tokens.requester),
    );
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    const fields = Object.fromEntries(bad.body.error.fields.map((f: any) => [f.field, f.message]));
    expect(fields).toMatchObject({
      url: 'must use http or https',
      eventTypes: 'needs at least one event type',
      secret: 'must be at least 16 characters',
      colour: 'unknown field',
    });

    const more = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: 'https://user:pw@example.com/', eventTypes: ['Request Succeeded', 'request.*', 7] },
      as(tokens.requester),
    );
    expect(more.status).toBe(422);
    expect(more.body.error.fields.map((f: any) => f.field).sort()).toEqual(['eventTypes.0', 'eventTypes.2', 'url']);
    expect(
      (await http(s.url, 'POST', '/v1/webhooks', { eventTypes: ['*'] }, as(tokens.requester))).body.error.fields,
    ).toEqual([{ field: 'url', message: expect.any(String) }]);
    expect((await http(s.url, 'POST', '/v1/webhooks', '{not json', as(tokens.requester))).status).toBe(400);

    const list = await http(
      s.url,
      'GET',
      `/v1/webhooks/${randomUUIDish()}/deliveries`,
      undefined,
      as(tokens.requester),
    );
    expect(list.status).toBe(404);
    expect(list.body.error.code).toBe('WEBHOOK_NOT_FOUND');
    const w = await http(s.url, 'POST', '/v1/webhooks', { url: rx.url('/q'), eventTypes: ['*'] }, as(tokens.requester));
    const q = await http(
      s.url,
      'GET',
      `/v1/webhooks/${w.body.webhook.id}/deliveries?limit=0&status=DONE&after=zz`,
      undefined,
      as(tokens.requester),
    );
    expect(q.status).toBe(422);
    expect(q.body.error.fields.map((f: any) => f.field).sort()).toEqual(['limit', 'status']);
    await http(s.url, 'DELETE', `/v1/webhooks/${w.body.webhook.id}`, undefined, as(tokens.requester));

    const g = await gql(
      s.url,
      'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { id } } }',
      { i: { url: 'http://x', eventTypes: ['nope!'] } },
      as(tokens.requester),
    );
    expect(g.errors[0].extensions).toMatchObject({
      code: 'VALIDATION_FAILED',
      fields: [{ field: 'eventTypes.0', message: expect.any(String) }],
    });

    // An event type over 100 characters is told so (it read `must be a string`), on both transports.
    const long = { url: 'https://hooks.example.com/x', eventTypes: [`request.${'a'.repeat(100)}`] };
    const tooLong = [{ field: 'eventTypes.0', message: 'must be no more than 100 characters' }];
    const rest = await http(s.url, 'POST', '/v1/webhooks', long, as(tokens.requester));
    expect([rest.status, rest.body.error.fields]).toEqual([422, tooLong]);
    const overGql = await gql(
      s.url,
      'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }',
      { i: long },
      as(tokens.requester),
    );
    expect(overGql.errors[0].extensions).toMatchObject({ code: 'VALIDATION_FAILED', fields: tooLong });
  });

  it(
    'refuses, at delivery time, a name that resolves to an internal address (unless private targets are ' + 'allowed)',
    async () => {
      const url = rx.url('/dns').replace('127.0.0.1', 'localhost');
      const blocked = await postJson(url, '{}', {}, { timeoutMs: 2000, allowPrivate: false });
      expect(blocked.status).toBeUndefined();
      expect(blocked.refused).toBe(true);
      // The owner is told the target is refused, not what it resolved to (the service's debug log says that).
      expect(blocked.error).toBe('refused: the target resolves to an address webhooks may not reach');
      expect(blocked.detail).toMatch(/^localhost resolves to an internal address \(/);
      const missing = await postJson(
        'http://nonexistent-zz.invalid/',
        '{}',
        {},
        { timeoutMs: 2000, allowPrivate: false },
      );
      expect(missing.status).toBeUndefined();
      expect(missing.error).toBe('could not connect to the target');
      expect(missing.refused).toBeUndefined();
      expect(rx.at('/dns')).toEqual([]);
      expect(await postJson(url, '{}', {}, { timeoutMs: 2000, allowPrivate: true })).toMatchObject({ status: 200 });
      expect(rx.at('/dns')).toHaveLength(1);
    },
  );

  it('offers the same over GraphQL', async () => {
    const created = await gql(
      s.url,
      'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { id url eventTypes owner ' +
        'scopes } } }',
      { i: { url: rx.url('/gql'), eventTypes: ['request.succeeded'] } },
      as(tokens.requester),
    );
    expect(created.errors).toBeUndefined();
    const { secret, webhook } = created.data.createWebhook;
    expect(secret).toMatch(/^whsec_/);
    expect(webhook).toMatchObject({
      url: rx.url('/gql'),
      eventTypes: ['request.succeeded'],
      owner: `token:${p}-requester`,
    });
    const done = await onboard(`${p}-gql`);
    const [hit] = await until(
      () => rx.at('/gql'),
      (r) => r.length >= 1,
    );
    expect(hit.headers['x-osm-onboarding-signature']).toBe(
      hmac(secret, hit.headers['x-osm-onboarding-timestamp'] as string, hit.body),
    );
    const q =
      `query($id: ID!) { webhookDeliveries(webhookId: $id, first: 5) { edges { cursor node { id requestId ` +
      `eventType status attempts lastResponseCode payload history { attempt responseCode durationMs at } } } ` +
      `pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`;
    const page = await until(
      async () => (await gql(s.url, q, { id: webhook.id }, as(tokens.requester))).data,
      (d) => d?.webhookDeliveries.edges[0]?.node.status === 'SUCCEEDED',
    );
    const { edges, pageInfo } = page.webhookDeliveries;
    const edge = edges[0];
    expect(pageInfo).toEqual({
      hasNextPage: false,
      hasPreviousPage: false,
      startCursor: edge.cursor,
      endCursor: edges.at(-1).cursor,
    });
    expect(edge.node).toMatchObject({
      requestId: done.id,
      eventType: 'request.succeeded',
      attempts: 1,
      lastResponseCode: 200,
      payload: { summary: expect.stringMatching(/^✅/) },
    });
    const badFirst = await gql(
      s.url,
      'query($id: ID!) { webhookDeliveries(webhookId: $id, first: 0) { edges { node { id } } } }',
      { id: webhook.id },
      as(tokens.requester),
    );
    expect(badFirst.errors[0].extensions).toMatchObject({
      code: 'VALIDATION_FAILED',
      fields: [{ field: 'first', message: 'must be at least 1' }],
    });
    const other = await gql(s.url, q, { id: webhook.id }, as(tokens.other));
    expect(other.errors[0].extensions.code).toBe('WEBHOOK_NOT_FOUND');
    const deleted = await gql(
      s.url,
      'mutation($id: ID!) { deleteWebhook(id: $id) { id } }',
      { id: webhook.id },
      as(tokens.requester),
    );
    expect(deleted.data.deleteWebhook.id).toBe(webhook.id);
    expect(
      (await gql(s.url, '{ webhooks { id } }', {}, as(tokens.requester))).data.webhooks.map((x: any) => x.id),
    ).not.toContain(webhook.id);
  });
});

describe('webhooks: a subscription made on the API is seen by a separate worker at once', () => {
  it('delivers the first event after the change, though the worker had cached the subscriptions', async () => {
    const p = `whx${randomBytes(3).toString('hex')}`;
    const emulator = await startEmulator();
    const rx = await startReceiver();
    const env = await stackEnv(emulator, { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' });
    const api = await startApi({ ...env, ROLE: 'api' });
    const worker = await startWorker(env);
    try {
      const t = await http(api.url, 'POST', '/v1/tokens', {
        name: `${p}-requester`,
        roles: ['requester'],
        scopes: [`emulator/${p}-*`],
      });
      const as = { authorization: `Bearer ${t.body.token}` };
      const onboard = async (ns: string) => {
        await createNamespace(emulator, ns);
        const r = await http(api.url, 'POST', '/v1/onboardings', { namespace: ns });
        expect(r.status).toBe(202);
        return (await waitForStatus(api.url, r.body.id, ['SUCCEEDED', 'FAILED'])).id as string;
      };
      // The worker's dispatcher reads (and caches) the subscriptions on the events of a first request.
      const warm = await http(api.url, 'POST', '/v1/webhooks', { url: rx.url('/warm'), eventTypes: ['*'] }, as);
      expect(warm.status).toBe(201);
      await onboard(`${p}-warm`);
      await until(
        () => rx.at('/warm').filter((r) => r.json.type === 'request.succeeded'),
        (r) => r.length === 1,
      );
      const cachedAt = Date.now();
      // A subscription made now, on the API instance: the worker's cache is younger than its lifetime, so
      // only the change message makes the worker see it for the next request's first events.
      const w = await http(api.url, 'POST', '/v1/webhooks', { url: rx.url('/new'), eventTypes: ['*'] }, as);
      expect(w.status).toBe(201);
      const id = await onboard(`${p}-next`);
      const types = (
        await until(
          () => rx.at('/new').filter((r) => r.json.requestId === id),
          (r) => r.some((x) => x.json.type === 'request.succeeded'),
        )
      ).map((r) => r.json.type);
      expect(types).toContain('request.created');
      expect(types).toContain('request.started');
      expect(Date.now() - cachedAt).toBeLessThan(SUBSCRIPTIONS_TTL_MS); // else the lifetime, not the message, did it
    } finally {
      await worker.close();
      await api.app.close();
      await rx.close();
      await emulator.close();
    }
  });
});

describe("webhooks: the environment admin's webhooks end when OSM_ONBOARDING_ADMIN_TOKEN is removed", () => {
  it('delivers none of them after a restart without the admin token', async () => {
    const p = `wha${randomBytes(3).toString('hex')}`;
    const emulator = await startEmulator();
    const rx = await startReceiver();
    const db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
    const env = await stackEnv(emulator, {
      ROLE: 'all',
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
      WEBHOOK_SECRET_KEY: `key-${randomBytes(16).toString('hex')}`,
    });
    let admin: Awaited<ReturnType<typeof startApi>> | undefined = await startApi(env);
    let after: Awaited<ReturnType<typeof startApi>> | undefined;
    const ids: string[] = [];
    try {
      const t = await http(admin.url, 'POST', '/v1/tokens', {
        name: `${p}-requester`,
        roles: ['requester'],
        scopes: [`emulator/${p}-*`],
      });
      const as = { authorization: `Bearer ${t.body.token}` };
      const mine = await http(admin.url, 'POST', '/v1/webhooks', { url: rx.url('/admin'), eventTypes: ['request.*'] });
      expect(mine.body.webhook.owner).toBe('token:bootstrap-admin');
      // The requester's own webhook, delivered on both sides of the restart: it says when the events are through.
      const theirs = await http(
        admin.url,
        'POST',
        '/v1/webhooks',
        { url: rx.url('/req'), eventTypes: ['request.*'] },
        as,
      );
      ids.push(mine.body.webhook.id, theirs.body.webhook.id);
      await admin.app.close();
      admin = undefined;

      const { OSM_ONBOARDING_ADMIN_TOKEN: _removed, ...without } = env;
      after = await startApi(without);
      await createNamespace(emulator, `${p}-x`);
      const r = await http(after.url, 'POST', '/v1/onboardings', { namespace: `${p}-x` }, as);
      expect(r.status).toBe(202);
      await until(
        () => rx.at('/req').filter((h) => h.json.requestId === r.body.id && h.json.type === 'request.succeeded'),
        (h) => h.length === 1,
      );
      await new Promise((res) => setTimeout(res, 300));
      expect(rx.at('/admin').filter((h) => h.json.requestId === r.body.id)).toEqual([]);
    } finally {
      // Other stacks on this database still have an admin token: the */* webhook must not outlive the test.
      if (ids.length) await db.query('DELETE FROM webhook_subscription WHERE id = ANY($1::uuid[])', [ids]);
      await after?.app.close();
      await admin?.app.close();
      await db.end();
      await rx.close();
      await emulator.close();
    }
  });
});

function randomUUIDish(): string {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
