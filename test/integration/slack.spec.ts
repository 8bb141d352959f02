// Slack-native chatops end to end: a webhook with format "slack" delivers a Block Kit message to a local
// receiver standing in for Slack's incoming-webhook URL, and button presses signed as Slack signs them
// (the signing secret is in the test's env) approve or reject the held request through
// POST /v1/integrations/slack/interactions. Every guard has a test that fails without it.
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, http, startApi, startStack, Stack, waitForStatus } from '../support/harness.js';
import { createNamespace, namespaceMeta, writesTo } from '../support/kube.js';
import { ErrorBodySchema, SlackInteractionAnswerSchema } from '../../src/docs/response-schemas.js';

const SIGNING_SECRET = `slack-signing-${randomBytes(16).toString('hex')}`;
const p = `sl${randomBytes(3).toString('hex')}`;
// Slack user ids of the test's people; APPROVER and SELF are mapped to API tokens by name, CAROL in full.
const U = {
  approver: 'U0APPROVER',
  self: 'U0SELF',
  carol: 'U0CAROL',
  stranger: 'U0STRANGER',
  noMesh: 'U0NOMESH',
  revoked: 'U0REVOKED',
};

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  json: any;
}

async function startReceiver() {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      received.push({ path: req.url ?? '/', headers: req.headers, json });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'); // what Slack's incoming webhooks answer
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    at: (path: string) => received.filter((r) => r.path === path),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function until<T>(fn: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`not met in ${timeoutMs} ms: ${JSON.stringify(v)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A block_actions payload as Slack sends it for a button press on the delivered message. */
function press(user: string, action: { action_id: string; value: string }, message?: unknown) {
  return {
    type: 'block_actions',
    team: { id: 'T0TEST', domain: 'test' },
    user: { id: user, username: user.toLowerCase().slice(2), name: user.toLowerCase().slice(2), team_id: 'T0TEST' },
    api_app_id: 'A0TEST',
    container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'C0MESH', is_ephemeral: false },
    trigger_id: '1.2.3',
    channel: { id: 'C0MESH', name: 'mesh' },
    message,
    response_url: 'https://hooks.slack.com/actions/T0TEST/1/x',
    actions: [
      { type: 'button', block_id: 'b', text: { type: 'plain_text', text: 'x' }, action_ts: '1700000001.1', ...action },
    ],
  };
}

const formBody = (payload: unknown) => new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
const sign = (secret: string, ts: string, body: string) =>
  `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
const now = () => Math.floor(Date.now() / 1000).toString();

/** POSTs a form body to the interactions route, signed unless `headers` says otherwise. */
async function interact(base: string, body: string, headers?: Record<string, string>) {
  const ts = now();
  const res = await fetch(`${base}/v1/integrations/slack/interactions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(headers ?? { 'x-slack-request-timestamp': ts, 'x-slack-signature': sign(SIGNING_SECRET, ts, body) }),
    },
    body,
  });
  const text = await res.text();
  const parsed = text ? JSON.parse(text) : undefined;
  // Every answer is one the API docs describe (src/docs/response-schemas.ts), strictly.
  (res.ok ? SlackInteractionAnswerSchema : ErrorBodySchema).parse(parsed);
  return { status: res.status, body: parsed };
}

describe('Slack: Block Kit webhook messages and approvals from Slack with real signatures', () => {
  let s: Stack;
  let second: INestApplication | undefined;
  let secondUrl: string;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  const tokens = {} as Record<'requester' | 'approver' | 'noMesh' | 'revoked', string>;
  const as = (t: string) => ({ authorization: `Bearer ${t}` });

  beforeAll(async () => {
    const env = {
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', // the receiver is on 127.0.0.1
      WEBHOOK_BACKOFF_MS: '50',
      PUBLIC_BASE_URL: 'https://osm.example.com/',
      APPROVAL_POLICY: JSON.stringify({ rules: [{ name: 'slack-held', namespaces: [`${p}-*`], approvals: 1 }] }),
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_USER_MAP: JSON.stringify({
        [U.approver]: `token:${p}-approver`,
        [U.self]: `token:${p}-requester`,
        [U.noMesh]: `token:${p}-nomesh`,
        [U.revoked]: `token:${p}-revoked`,
        [U.carol]: { id: 'oidc:carol', roles: ['approver'], scopes: ['emulator/elsewhere-*'] },
      }),
    };
    s = await startStack({ env });
    // A second API instance on the same Redis: a replay sent there is refused too.
    const api = await startApi({ ...s.env, ROLE: 'api' });
    second = api.app;
    secondUrl = api.url;
    rx = await startReceiver();
    for (const [key, roles, scopes] of [
      // The requester may also approve, so only the self-approval rule stops it.
      ['requester', ['requester', 'approver'], [`emulator/${p}-*`]],
      ['approver', ['approver'], [`emulator/${p}-*`, 'emulator/mesh:osm']],
      ['noMesh', ['approver'], [`emulator/${p}-*`]],
      ['revoked', ['approver'], [`emulator/${p}-*`]],
    ] as const) {
      const r = await http(s.url, 'POST', '/v1/tokens', { name: `${p}-${key.toLowerCase()}`, roles, scopes });
      expect(r.status).toBe(201);
      tokens[key] = r.body.token;
      if (key === 'revoked') expect((await http(s.url, 'DELETE', `/v1/tokens/${r.body.record.id}`)).status).toBe(200);
    }
    const hook = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: rx.url('/slack'), eventTypes: ['request.*'], format: 'slack' },
      as(tokens.requester),
    );
    expect(hook.status).toBe(201);
    expect(hook.body.webhook.format).toBe('slack');
  });
  afterAll(async () => {
    await second?.close();
    await rx?.close();
    await s?.close();
  });

  async function held(ns: string, body: Record<string, unknown> = {}) {
    await createNamespace(s.emulator, ns);
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, ...body }, as(tokens.requester));
    expect(r.status).toBe(202);
    expect(r.body.status).toBe('PENDING_APPROVAL');
    return r.body.id as string;
  }

  const messagesOf = (id: string) => rx.at('/slack').filter((m) => JSON.stringify(m.json).includes(id));
  const buttonsOf = (msg: any) => msg.blocks.find((b: any) => b.type === 'actions')?.elements ?? [];

  it("delivers Block Kit with Approve/Reject buttons; a mapped approver's press runs the request", async () => {
    const ns = `${p}-ok`;
    const id = await held(ns);
    const [created] = await until(
      () => messagesOf(id),
      (m) => m.length >= 1,
    );
    const msg = created.json;

    // The message: summary, target, steps, link, buttons that identify the request.
    expect(Object.keys(msg).sort()).toEqual(['blocks', 'text', 'unfurl_links', 'unfurl_media']);
    expect(msg.text).toBe(`🆕 onboarding of emulator/${ns} into mesh osm requested by token:${p}-requester`);
    expect(msg.blocks.map((b: any) => b.type)).toEqual(['section', 'section', 'section', 'context', 'actions']);
    expect(msg.blocks[0].text).toEqual({ type: 'mrkdwn', text: msg.text });
    expect(msg.blocks[1].fields.map((f: any) => f.text)).toEqual([
      '*Cluster*\nemulator',
      `*Namespace*\n${ns}`,
      '*Mesh*\nosm',
      '*Status*\nPENDING_APPROVAL (0/1 approvals)',
    ]);
    const steps = ['prerequisites', 'mesh', 'namespace', 'verify'].map((n) => `:white_circle: \`${n}\` pending`);
    expect(msg.blocks[2].text.text).toBe(['*Steps*', ...steps].join('\n'));
    const link = `<https://osm.example.com/v1/onboardings/${id}|Onboarding request ${id}>`;
    expect(msg.blocks[3].elements[0].text).toBe(link);
    const [approve, reject] = buttonsOf(msg);
    expect(approve).toMatchObject({ type: 'button', action_id: 'osm-onboarding.approve', value: id, style: 'primary' });
    expect(reject).toMatchObject({ type: 'button', action_id: 'osm-onboarding.reject', value: id, style: 'danger' });
    expect(reject.confirm.title.text).toBe('Reject this request?');
    // Our signature headers are still sent (Slack ignores them; a relay can check them).
    expect(created.headers['x-osm-onboarding-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(created.headers['content-type']).toBe('application/json');

    // The press Slack would send for that button, signed with the app's signing secret.
    const writes = writesTo(s.emulator, ns);
    const body = formBody(press(U.approver, approve, msg));
    const ts = now();
    const headers = { 'x-slack-request-timestamp': ts, 'x-slack-signature': sign(SIGNING_SECRET, ts, body) };
    const answer = await interact(s.url, body, headers);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      text: `<@${U.approver}> approved request ${id} (as token:${p}-approver); it is now QUEUED`,
      requestId: id,
      status: 'QUEUED',
    });
    const done = await waitForStatus(s.url, id, ['SUCCEEDED', 'FAILED']);
    expect(done.status).toBe('SUCCEEDED');
    expect(writesTo(s.emulator, ns)).toBeGreaterThan(writes);
    expect((await namespaceMeta(s.emulator, ns)).labels['openservicemesh.io/monitored-by']).toBe('osm');

    // The audit names the mapped identity (the actor) and the Slack user (on the approval event).
    const audit = (await http(s.url, 'GET', `/v1/onboardings/${id}/audit`)).body.items;
    const approved = audit.find((e: any) => e.action === 'request.approved');
    expect(approved.actor).toBe(`token:${p}-approver`);
    expect(approved.data.comment).toBe(`approved in Slack by slack:${U.approver} (@approver)`);
    expect(done.approvals).toMatchObject([{ approver: `token:${p}-approver`, decision: 'approve' }]);

    // Later messages show the outcome and no buttons.
    const last = await until(
      () => messagesOf(id),
      (m) => m.some((x) => x.json.text.startsWith('✅')),
    );
    const succeeded = last.find((x) => x.json.text.startsWith('✅'))!.json;
    expect(buttonsOf(succeeded)).toEqual([]);
    expect(succeeded.blocks[1].fields[3].text).toBe('*Status*\nSUCCEEDED');
    expect(succeeded.blocks[2].text.text).toContain(':white_check_mark: `namespace` succeeded · changed');

    // The same signed request again, to this instance or another one: a replay.
    for (const base of [s.url, secondUrl]) {
      const replay = await interact(base, body, headers);
      expect(replay.status).toBe(401);
      expect(replay.body.error.code).toBe('SLACK_REQUEST_REPLAYED');
    }
  });

  it('refuses unsigned, badly signed, stale and replayed presses, unmapped users and self-approval', async () => {
    const ns = `${p}-no`;
    const id = await held(ns);
    const writes = writesTo(s.emulator, ns);
    const approve = { action_id: 'osm-onboarding.approve', value: id };
    const body = formBody(press(U.approver, approve));
    const code = (r: { body: any }) => r.body?.error?.code;

    const unsigned = await interact(s.url, body, {});
    expect([unsigned.status, code(unsigned)]).toEqual([401, 'SLACK_SIGNATURE_MISSING']);

    const ts = now();
    const wrongSecret = await interact(s.url, body, {
      'x-slack-request-timestamp': ts,
      'x-slack-signature': sign('not-the-signing-secret', ts, body),
    });
    expect([wrongSecret.status, code(wrongSecret)]).toEqual([401, 'SLACK_SIGNATURE_INVALID']);
    // A signature of another body (here: another user's press) does not cover this one.
    const tampered = await interact(s.url, body, {
      'x-slack-request-timestamp': ts,
      'x-slack-signature': sign(SIGNING_SECRET, ts, formBody(press(U.stranger, approve))),
    });
    expect([tampered.status, code(tampered)]).toEqual([401, 'SLACK_SIGNATURE_INVALID']);

    const old = String(Number(now()) - 6 * 60); // correctly signed, six minutes ago
    const stale = await interact(s.url, body, {
      'x-slack-request-timestamp': old,
      'x-slack-signature': sign(SIGNING_SECRET, old, body),
    });
    expect([stale.status, code(stale)]).toEqual([401, 'SLACK_REQUEST_STALE']);

    const strangerBody = formBody(press(U.stranger, approve));
    const sts = now();
    const strangerHeaders = {
      'x-slack-request-timestamp': sts,
      'x-slack-signature': sign(SIGNING_SECRET, sts, strangerBody),
    };
    const stranger = await interact(s.url, strangerBody, strangerHeaders);
    expect([stranger.status, code(stranger)]).toEqual([403, 'SLACK_USER_NOT_MAPPED']);
    // Replayed to the other API instance: refused as a replay before anything else.
    const replay = await interact(secondUrl, strangerBody, strangerHeaders);
    expect([replay.status, code(replay)]).toEqual([401, 'SLACK_REQUEST_REPLAYED']);

    // Mapped to a token that has since been revoked: it maps no one any more.
    const revoked = await interact(s.url, formBody(press(U.revoked, approve)));
    expect([revoked.status, code(revoked)]).toEqual([403, 'SLACK_USER_NOT_MAPPED']);
    expect(revoked.body.error.message).toContain('revoked, expired or unknown');

    // Mapped to the requester's own token: the usual rule holds.
    const self = await interact(s.url, formBody(press(U.self, approve)));
    expect([self.status, code(self)]).toEqual([403, 'SELF_APPROVAL_FORBIDDEN']);
    // A full identity out of scope (its scopes are its own, not the Slack user's): as an unknown request.
    const carol = await interact(s.url, formBody(press(U.carol, approve)));
    expect([carol.status, code(carol)]).toEqual([404, 'REQUEST_NOT_FOUND']);
    // Slack's own button values are input too.
    const junk = await interact(s.url, formBody(press(U.approver, { ...approve, value: 'DROP TABLE' })));
    expect([junk.status, code(junk)]).toEqual([422, 'VALIDATION_FAILED']);
    expect(junk.body.error.fields).toEqual([
      { field: 'actions.0.value', message: 'the button value must be a request id' },
    ]);

    const after = (await http(s.url, 'GET', `/v1/onboardings/${id}`)).body;
    expect(after.status).toBe('PENDING_APPROVAL');
    expect(after.approvals).toEqual([]);
    expect(writesTo(s.emulator, ns)).toBe(writes); // the namespace's creation by the test, nothing since
    // Nothing refused reached the audit trail as a decision.
    const actions = (await http(s.url, 'GET', `/v1/onboardings/${id}/audit`)).body.items.map((e: any) => e.action);
    expect(actions).toEqual(['request.created']);
  });

  it('needs a mesh grant for a mesh-wide change, and rejects from Slack with a reason naming the user', async () => {
    const ns = `${p}-mw`;
    const id = await held(ns, { trafficPolicy: { mode: 'permissive' } });
    const writes = writesTo(s.emulator);
    const approve = { action_id: 'osm-onboarding.approve', value: id };
    const noGrant = await interact(s.url, formBody(press(U.noMesh, approve)));
    expect([noGrant.status, noGrant.body.error.code]).toEqual([403, 'MESH_GRANT_REQUIRED']);

    const reject = { action_id: 'osm-onboarding.reject', value: id };
    const rejected = await interact(s.url, formBody(press(U.approver, reject)));
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ requestId: id, status: 'REJECTED' });
    const r = (await http(s.url, 'GET', `/v1/onboardings/${id}`)).body;
    expect(r.status).toBe('REJECTED');
    expect(r.approvals).toMatchObject([
      {
        approver: `token:${p}-approver`,
        decision: 'reject',
        reason: `rejected in Slack by slack:${U.approver} (@approver)`,
      },
    ]);
    expect(writesTo(s.emulator)).toBe(writes); // not even the mesh's MeshConfig
    // A press on a stale message: the request is no longer waiting.
    const late = await interact(s.url, formBody(press(U.approver, approve)));
    expect([late.status, late.body.error.code]).toEqual([409, 'REQUEST_NOT_PENDING_APPROVAL']);
  });

  it("makes a JSON delivery's summary safe to post as is; the Slack format's line is escaped once", async () => {
    const json = await http(
      s.url,
      'POST',
      '/v1/webhooks',
      { url: rx.url('/json'), eventTypes: ['request.rejected'] },
      as(tokens.requester),
    );
    expect(json.status).toBe(201);
    try {
      const ns = `${p}-esc`;
      const id = await held(ns);
      const reason = '<!channel> see <https://evil.example|docs> & @here, @everyone@all (mail a@b.example)';
      const rejected = await http(s.url, 'POST', `/v1/onboardings/${id}/reject`, { reason }, as(tokens.approver));
      expect(rejected.status).toBe(200);
      const [hit] = await until(
        () => rx.at('/json').filter((m) => m.json.requestId === id),
        (m) => m.length >= 1,
      );
      const what = `⛔ onboarding of emulator/${ns} into mesh osm rejected by token:${p}-approver: `;
      const escaped = '&lt;!channel&gt; see &lt;https://evil.example|docs&gt; &amp; ';
      expect(hit.json.summary).toBe(`${what}${escaped}@\u200dhere, @\u200deveryone@all (mail a@b.example)`);
      const slack = await until(
        () => messagesOf(id).filter((m) => m.json.text.startsWith('⛔')),
        (m) => m.length >= 1,
      );
      expect(slack[0].json.text).toBe(`${what}${escaped}@here, @everyone@all (mail a@b.example)`);
    } finally {
      await http(s.url, 'DELETE', `/v1/webhooks/${json.body.webhook.id}`, undefined, as(tokens.requester));
    }
  });

  it('answers other interactions with 200 and acts on nothing; refuses a body that is not a signed form', async () => {
    const other = await interact(s.url, formBody({ type: 'shortcut', user: { id: U.approver }, callback_id: 'x' }));
    expect(other.status).toBe(200);
    expect(other.body).toMatchObject({ requestId: null, status: null });
    const foreign = await interact(s.url, formBody(press(U.approver, { action_id: 'someone-else', value: 'x' })));
    expect([foreign.status, foreign.body.requestId]).toEqual([200, null]);

    const ts = now();
    const json = JSON.stringify({ payload: '{}' });
    const asJson = await fetch(`${s.url}/v1/integrations/slack/interactions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-slack-request-timestamp': ts,
        'x-slack-signature': sign(SIGNING_SECRET, ts, json),
      },
      body: json,
    });
    expect(asJson.status).toBe(415);
    expect((await asJson.json()).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');

    // Any body that is not a form, before it is parsed or its signature checked: JSON that does not parse, JSON
    // without a signature, other types, none.
    for (const [type, body] of [
      ['application/json', '{"payload": '],
      ['application/json', '{}'],
      ['application/merge-patch+json', '{}'],
      ['text/plain', 'payload=x'],
      [undefined, 'payload=x'],
    ] as const) {
      const res = await fetch(`${s.url}/v1/integrations/slack/interactions`, {
        method: 'POST',
        headers: type ? { 'content-type': type } : {},
        body: type ? body : new Blob([body]), // a Blob without a type: no Content-Type
      });
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect([res.status, error.code, error.message], type).toEqual([
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `expected an application/x-www-form-urlencoded body (got ${type ? `"${type}"` : 'no Content-Type'})`,
      ]);
    }
  });

  it('creates webhooks with a format over REST and GraphQL (json by default) and refuses unknown formats', async () => {
    const hook = (body: Record<string, unknown>) =>
      http(s.url, 'POST', '/v1/webhooks', { eventTypes: ['namespace.drifted'], ...body }, as(tokens.requester));
    const plain = await hook({ url: rx.url('/json') });
    expect(plain.body.webhook.format).toBe('json');
    const bad = await hook({ url: rx.url('/x'), format: 'teams' });
    expect(bad.status).toBe(422);
    expect(bad.body.error.fields).toEqual([{ field: 'format', message: 'must be one of json, slack' }]);
    const viaGql = await gql(
      s.url,
      `mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id format } } }`,
      { i: { url: rx.url('/gql'), eventTypes: ['namespace.drifted'], format: 'slack' } },
      as(tokens.requester),
    );
    expect(viaGql.errors).toBeUndefined();
    expect(viaGql.data.createWebhook.webhook.format).toBe('slack');
    const listed = await gql(s.url, `{ webhooks { id format } }`, {}, as(tokens.requester));
    expect(listed.data.webhooks).toContainEqual({ id: viaGql.data.createWebhook.webhook.id, format: 'slack' });
  });
});
