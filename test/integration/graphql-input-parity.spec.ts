// The inputs REST and GraphQL both take, refused alike on both transports (HTTP and graphql-ws for GraphQL): the
// idempotency key, a cancellation's reason (single requests and batches), a progress stream's cursor; a refusal
// names the header, query parameter or argument it is about. And GraphQL's own input errors (a variable of the
// wrong shape) never quote the value the caller sent, a webhook's signing secret say: not in the answer, over
// HTTP or graphql-ws, and not in the logs of the bundled service.
import type { ChildProcess } from 'node:child_process';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { imageApi } from '../support/entry-process.js';
import { ADMIN_TOKEN, gql, http, stackEnv, startStack, type Stack, uniqueName, wsClient } from '../support/harness.js';
import { createNamespace } from '../support/kube.js';

const SECRET = 'TopSecretValue-0123456789-abcdef';
const CREATE_WEBHOOK = 'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret } }';
const WEBHOOK = { url: 'https://hooks.example.com/x', eventTypes: ['*'] };
const UNKNOWN_FIELD = { i: { ...WEBHOOK, secret: SECRET, bogus: 1 } };
const UNKNOWN_FIELD_MESSAGE =
  'Variable "$i" has an invalid value; Field "bogus" is not defined by type "CreateWebhookInput".';
// A secret sent as a JSON number: graphql-js printed it back.
const WRONG_TYPE = { i: { ...WEBHOOK, secret: 1234567890123456 } };
const WRONG_TYPE_MESSAGE =
  'Variable "$i" got an invalid value at "i.secret": String cannot represent a non string value';
const PLAN = 'query($i: OnboardingInput!) { planOnboarding(input: $i) { blocked } }';
const PORT_MESSAGE =
  'Variable "$i" got an invalid value at "i.appProtocols[0].port": Expected type "IntOrString". IntOrString must be ' +
  'an integer or a string, got an object';
const LITERAL = `mutation { createWebhook(input: { url: "${WEBHOOK.url}", eventTypes: ["*"], secret: 98765432109876 }) {
  secret } }`;
const PROGRESS = 'subscription($id: ID!, $after: Int) { onboardingProgress(requestId: $id, after: $after) { cursor } }';

/** One operation over graphql-ws: its first result, or the errors it was refused with. */
function wsRun(client: Client, query: string, variables: Record<string, unknown> = {}) {
  return new Promise<{ data?: any; errors?: any[] }>((resolve, reject) => {
    client.subscribe(
      { query, variables },
      {
        next: (msg) => resolve(msg as { data?: any; errors?: any[] }),
        error: (err) => (Array.isArray(err) ? resolve({ errors: err }) : reject(err as Error)),
        complete: () => resolve({}),
      },
    );
  });
}

/** The refusals of the webhook secret over one GraphQL transport. */
async function secretRefusals(run: (query: string, variables?: Record<string, unknown>) => Promise<any>) {
  const unknownField = await run(CREATE_WEBHOOK, UNKNOWN_FIELD);
  expect(unknownField.errors).toEqual([expect.objectContaining({ message: UNKNOWN_FIELD_MESSAGE })]);
  expect(unknownField.errors[0].extensions).toEqual({ code: 'BAD_USER_INPUT' });
  const wrongType = await run(CREATE_WEBHOOK, WRONG_TYPE);
  expect(wrongType.errors).toEqual([expect.objectContaining({ message: WRONG_TYPE_MESSAGE })]);
  expect(wrongType.errors[0].extensions).toEqual({ code: 'BAD_USER_INPUT' });
  // Our own scalar's words do not quote it either.
  const port = await run(PLAN, {
    i: { namespace: 'any', appProtocols: [{ service: 's', port: { secret: SECRET }, appProtocol: 'http' }] },
  });
  expect(port.errors).toEqual([expect.objectContaining({ message: PORT_MESSAGE })]);
  // A literal in the document is not quoted back either.
  const literal = await run(LITERAL);
  expect(literal.errors[0]).toMatchObject({
    message: 'String cannot represent a non string value',
    extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
  });
  for (const answer of [unknownField, wrongType, port, literal]) {
    expect(answer.data ?? null).toBeNull();
    const text = JSON.stringify(answer);
    expect(text).not.toContain(SECRET);
    expect(text).not.toMatch(/1234567890123456|98765432109876/);
  }
  return [unknownField, wrongType, port, literal];
}

const fieldsOf = (errors: any[] | undefined) => errors?.[0]?.extensions;

describe('REST and GraphQL refuse the same inputs, naming the field; GraphQL never quotes a value', () => {
  let s: Stack;
  let ws: Client;
  beforeAll(async () => {
    s = await startStack();
    ws = wsClient(s.url);
  });
  afterAll(async () => {
    await ws?.dispose();
    await s?.close();
  });

  /** A stored request that is still cancellable and runs nothing: a dry run (PLANNED). */
  async function planned(prefix: string) {
    const ns = uniqueName(prefix);
    await createNamespace(s.emulator, ns);
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, dryRun: true });
    expect(r.status).toBe(202);
    return r.body.id as string;
  }

  it('GraphQL input errors keep the path, the reason and the code, never the value: over HTTP', async () => {
    const answers = await secretRefusals(async (query, variables) => {
      const r = await http(s.url, 'POST', '/graphql', { query, variables });
      expect(r.status).toBe(400);
      return r.body;
    });
    expect(answers).toHaveLength(4);
  });

  it('the same over graphql-ws: a mutation, a subscription, and a document refused before it runs', async () => {
    await secretRefusals((query, variables) => wsRun(ws, query, variables));
    const sub = await wsRun(ws, PROGRESS, { id: await planned('gql-sub'), after: `after-${SECRET}` });
    expect(sub.errors).toEqual([
      expect.objectContaining({
        message: 'Variable "$after" has an invalid value; Int cannot represent non-integer value',
        extensions: { code: 'BAD_USER_INPUT' },
      }),
    ]);
    expect(JSON.stringify(sub)).not.toContain(SECRET);
  });

  describe('the idempotency key: 1 to 255 characters, no control characters, on both transports', () => {
    const onboard = (ns: string, key: string) =>
      gql(
        s.url,
        `mutation($i: OnboardingInput!, $k: String) { requestOnboarding(input: $i, idempotencyKey: $k) { id ` +
          `replayed } }`,
        { i: { namespace: ns, dryRun: true }, k: key },
      );

    it.each([
      ['300 characters', 'k'.repeat(300), 'must be 1 to 255 characters'],
      ['6000 CJK characters', '鍵'.repeat(6000), 'must be 1 to 255 characters'],
      // parseInput may refuse a NUL before the schema does (text Postgres cannot store), in its own words.
      ['a NUL', 'k\u0000', null],
      ['a tab', 'k\tk', 'must not contain control characters'],
      ['empty', '', 'must be 1 to 255 characters'],
    ])('refuses %s over GraphQL (VALIDATION_FAILED, field idempotencyKey); nothing is stored', async (_, key, why) => {
      const ns = uniqueName('idem-gql');
      await createNamespace(s.emulator, ns);
      const r = await onboard(ns, key);
      expect(r.data?.requestOnboarding ?? null).toBeNull();
      expect(fieldsOf(r.errors)).toEqual({
        code: 'VALIDATION_FAILED',
        fields: [{ field: 'idempotencyKey', message: why ?? expect.any(String) }],
      });
      expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);
    });

    it('refuses them over REST with the same code and message, naming the Idempotency-Key header', async () => {
      const ns = uniqueName('idem-rest');
      await createNamespace(s.emulator, ns);
      for (const [key, why] of [
        ['k'.repeat(256), 'must be 1 to 255 characters'],
        ['k\tk', 'must not contain control characters'],
      ]) {
        const r = await http(
          s.url,
          'POST',
          '/v1/onboardings',
          { namespace: ns, dryRun: true },
          { 'idempotency-key': key },
        );
        expect(r.status).toBe(422);
        expect(r.body.error).toMatchObject({
          code: 'VALIDATION_FAILED',
          fields: [{ field: 'Idempotency-Key', message: why }],
        });
      }
      expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);
    });

    it('refuses it on requestOffboarding and reapplyOnboarding too, and takes 255 characters', async () => {
      const ns = uniqueName('idem-more');
      await createNamespace(s.emulator, ns);
      const long = 'k'.repeat(300);
      const off = await gql(
        s.url,
        `mutation($i: OffboardingInput!, $k: String) { requestOffboarding(input: $i, idempotencyKey: $k) { id } }`,
        { i: { namespace: ns, dryRun: true }, k: long },
      );
      expect(fieldsOf(off.errors)).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field: 'idempotencyKey' }] });
      const reapply = await gql(
        s.url,
        `mutation($c: String!, $n: String!, $k: String) { reapplyOnboarding(cluster: $c, namespace: $n, ` +
          `idempotencyKey: $k) { id } }`,
        { c: 'emulator', n: ns, k: long },
      );
      expect(fieldsOf(reapply.errors)).toMatchObject({
        code: 'VALIDATION_FAILED',
        fields: [{ field: 'idempotencyKey' }],
      });
      const key = '鍵'.repeat(255);
      const first = await onboard(ns, key);
      expect(first.errors).toBeUndefined();
      const again = await onboard(ns, key);
      expect(again.data.requestOnboarding).toEqual({ id: first.data.requestOnboarding.id, replayed: true });
    });
  });

  describe("a cancellation's reason: at most 500 characters, as REST's CancelInput", () => {
    it('cancelOnboardingRequest refuses 5000 characters (field reason) and takes 500', async () => {
      const id = await planned('cancel');
      const cancel = (reason: string) =>
        gql(s.url, `mutation($id: ID!, $r: String) { cancelOnboardingRequest(id: $id, reason: $r) { status } }`, {
          id,
          r: reason,
        });
      const long = await cancel('r'.repeat(5000));
      expect(fieldsOf(long.errors)).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field: 'reason' }] });
      const rest = await http(s.url, 'POST', `/v1/onboardings/${id}/cancel`, { reason: 'r'.repeat(5000) });
      expect(rest.status).toBe(422);
      expect(rest.body.error.fields).toEqual([{ field: 'reason', message: fieldsOf(long.errors).fields[0].message }]);
      expect((await http(s.url, 'GET', `/v1/onboardings/${id}`)).body.status).toBe('PLANNED');
      expect((await cancel('r'.repeat(500))).data.cancelOnboardingRequest.status).toBe('CANCELLED');
    });

    it('a batch cancel refuses it too, over GraphQL and REST, before any member is cancelled', async () => {
      const targets = [uniqueName('bcancel'), uniqueName('bcancel')];
      for (const ns of targets) await createNamespace(s.emulator, ns);
      const created = await http(s.url, 'POST', '/v1/batches', {
        kind: 'ONBOARD',
        targets: targets.map((namespace) => ({ namespace })),
        options: { dryRun: true },
      });
      expect(created.status).toBe(202);
      const id = created.body.id as string;
      const op = `mutation($id: ID!, $r: String) { batchOperation(id: $id, operation: "cancel", reason: $r) {
        batch { status } results { ok } } }`;
      const long = await gql(s.url, op, { id, r: 'r'.repeat(5000) });
      expect(fieldsOf(long.errors)).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field: 'reason' }] });
      const rest = await http(s.url, 'POST', `/v1/batches/${id}/cancel`, { reason: 'r'.repeat(5000) });
      expect(rest.status).toBe(422);
      expect(rest.body.error.fields).toEqual([{ field: 'reason', message: expect.any(String) }]);
      expect((await http(s.url, 'GET', `/v1/batches/${id}`)).body.counts).toEqual({ PLANNED: 2 });
      // A path parameter's refusal names it too.
      const badOp = await http(s.url, 'POST', `/v1/batches/${id}/bogus`, {});
      expect(badOp.body.error.fields).toEqual([
        { field: 'op', message: 'must be approve, reject, cancel, retry or apply' },
      ]);
      // An approval's or rejection's body too, though no member waits for one (each is PLANNED).
      const approve = await http(s.url, 'POST', `/v1/batches/${id}/approve`, { comment: 'c'.repeat(5000) });
      expect(approve.body.error.fields).toEqual([{ field: 'comment', message: expect.any(String) }]);
      // GraphQL's batch approval takes its text as `reason`, and a refusal names that argument.
      const approveOp = op.replace('"cancel"', '"approve"');
      const gqlApprove = (await gql(s.url, approveOp, { id, r: 'c'.repeat(5000) })).errors;
      expect(fieldsOf(gqlApprove)).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field: 'reason' }] });
      expect(gqlApprove?.[0].message).toMatch(/^invalid input: reason: /);
      const reject = await http(s.url, 'POST', `/v1/batches/${id}/reject`, {});
      expect(reject.body.error.fields).toEqual([{ field: 'reason', message: expect.any(String) }]);
      const ok = await gql(s.url, op, { id, r: 'r'.repeat(500) });
      expect(ok.data.batchOperation.results).toEqual([{ ok: true }, { ok: true }]);
    });
  });

  describe("a request list's filter: REST's query rules on GraphQL's filter", () => {
    it('refuses an empty value and unstorable text naming filter.<field>, and lists with a good one', async () => {
      const list = (filter: Record<string, unknown>) =>
        gql(s.url, 'query($f: OnboardingRequestFilter) { onboardingRequests(filter: $f) { edges { cursor } } }', {
          f: filter,
        });
      const rest = await http(s.url, 'GET', '/v1/onboardings?namespace=');
      expect(rest.body.error.fields).toEqual([{ field: 'namespace', message: expect.any(String) }]);
      const empty = await list({ namespace: '' });
      expect(fieldsOf(empty.errors)).toMatchObject({
        code: 'VALIDATION_FAILED',
        fields: [{ field: 'filter.namespace' }],
      });
      const nul = await list({ requestedBy: 'a\u0000b', cluster: null });
      expect(fieldsOf(nul.errors)).toMatchObject({
        code: 'VALIDATION_FAILED',
        fields: [{ field: 'filter.requestedBy' }],
      });
      const ok = await list({ namespace: 'nothing-here', cluster: null });
      expect(ok.data.onboardingRequests.edges).toEqual([]);
    });
  });

  describe('the cursor a progress stream resumes after: an integer from 0 to 2^31 - 1', () => {
    it('refuses after: -1 on the subscription (field after) as on SSE', async () => {
      const id = await planned('cursor');
      const sub = await wsRun(ws, PROGRESS, { id, after: -1 });
      expect(sub.data ?? null).toBeNull();
      expect(fieldsOf(sub.errors)).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field: 'after' }] });
      const sse = await http(s.url, 'GET', `/v1/onboardings/${id}/events?after=-1`);
      expect(sse.status).toBe(422);
      expect(sse.body.error.fields).toEqual([{ field: 'after', message: fieldsOf(sub.errors).fields[0].message }]);
      // A stream that stays open (the request is PLANNED): on its own socket, closed after its first event.
      const own = wsClient(s.url);
      try {
        expect(await wsRun(own, PROGRESS, { id, after: 0 })).toEqual({ data: { onboardingProgress: { cursor: 1 } } });
      } finally {
        await own.dispose();
      }
    });

    it.each([
      ['?after=abc', {}, 'after'],
      ['?after=1.5', {}, 'after'],
      ['', { 'last-event-id': '-1' }, 'Last-Event-ID'],
      ['?after=1', { 'last-event-id': 'x' }, 'Last-Event-ID'],
      // Past the largest seq Postgres stores (integer), as GraphQL's Int refuses it.
      ['?after=2147483648', {}, 'after'],
      ['', { 'last-event-id': '9223372036854775808' }, 'Last-Event-ID'],
      // Every parameter is checked, as by the lists: an unknown one, or one the client thought was `after`.
      ['?zzz=1', {}, 'zzz'],
      ['?after[]=1', {}, 'after[]'],
      ['?after=0&after=1', {}, 'after'],
    ])('SSE %s %j: 422 naming %s', async (query, headers, field) => {
      const id = await planned('sse-cursor');
      const r = await http(s.url, 'GET', `/v1/onboardings/${id}/events${query}`, undefined, headers);
      expect(r.status).toBe(422);
      expect(r.body.error).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field }] });
    });

    it("refuses a cursor past the request's last event on SSE and the subscription; its last one opens", async () => {
      // A dry run has one event: cursor 1. A stream from 4 would have skipped 2 to 4 once they came (an outside
      // audit), where a batch stream refuses a position past a member's last event.
      const id = await planned('sse-cursor');
      for (const [query, headers, field] of [
        ['?after=2', {}, 'after'],
        ['?after=2147483647', {}, 'after'],
        ['', { 'last-event-id': '2' }, 'Last-Event-ID'],
      ] as const) {
        const r = await http(s.url, 'GET', `/v1/onboardings/${id}/events${query}`, undefined, headers);
        expect(r.status, query || field).toBe(422);
        expect(r.body.error).toMatchObject({
          code: 'VALIDATION_FAILED',
          message: `${field}: is past the request's last event`,
          fields: [{ field }],
        });
      }
      const sub = await wsRun(ws, PROGRESS, { id, after: 2 });
      expect(sub.data ?? null).toBeNull();
      expect(sub.errors?.[0]).toMatchObject({
        message: "after: is past the request's last event",
        extensions: { code: 'VALIDATION_FAILED', fields: [{ field: 'after' }] },
      });
      const opened = new AbortController();
      const res = await fetch(`${s.url}/v1/onboardings/${id}/events?after=1`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        signal: opened.signal,
      });
      opened.abort();
      expect([res.status, res.headers.get('content-type')]).toEqual([200, 'text/event-stream; charset=utf-8']);
    });
  });
});

describe('the bundled service logs no input value of a refused GraphQL operation', () => {
  let emulator: Emulator;
  let child: ChildProcess | undefined;
  let base: string;
  let output: () => string;

  beforeAll(async () => {
    emulator = await startEmulator();
    // Everything it can log, as the image runs it (dist/bundle/main.mjs, from `npm run build`).
    const env = await stackEnv(emulator, { ROLE: 'api', LOG_LEVEL: 'trace' });
    ({ child, base, output } = await imageApi(env));
  }, 60_000);
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    await emulator?.close();
  });

  it('answers without the secret over HTTP and graphql-ws, and prints it nowhere', async () => {
    await secretRefusals(async (query, variables) => (await http(base, 'POST', '/graphql', { query, variables })).body);
    const client = wsClient(base);
    try {
      await secretRefusals((query, variables) => wsRun(client, query, variables));
    } finally {
      await client.dispose();
    }
    await new Promise((r) => setTimeout(r, 200)); // the last log lines
    expect(output()).toContain('/graphql'); // it does log these calls
    expect(output()).not.toContain(SECRET);
    expect(output()).not.toMatch(/1234567890123456|98765432109876/);
  });
});
