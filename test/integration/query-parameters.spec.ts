// The paging and cursor parameters of the lists and streams: REST's query string and GraphQL's arguments refused
// alike (same code, field and message), integers read as plain decimal digits only (not whatever Number() takes),
// null GraphQL arguments as left out, and unknown query parameters refused on every list.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collectProgress,
  gql,
  http,
  readSse,
  startStack,
  Stack,
  uniqueName,
  waitForStatus,
  wsClient,
  ADMIN_TOKEN,
} from '../support/harness.js';
import { createNamespace } from '../support/kube.js';

const LIST = 'query($f: Int, $a: String) { onboardingRequests(first: $f, after: $a) { edges { node { id } } } }';

describe('list and stream parameters: one reading on REST and GraphQL', () => {
  let s: Stack;
  let requestId: string;
  let webhookId: string;

  beforeAll(async () => {
    s = await startStack({ env: { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' } });
    const ns = uniqueName('qp');
    await createNamespace(s.emulator, ns);
    requestId = (await http(s.url, 'POST', '/v1/offboardings', { namespace: ns })).body.id;
    await waitForStatus(s.url, requestId, ['SUCCEEDED']);
    const hook = await http(s.url, 'POST', '/v1/webhooks', {
      url: 'http://127.0.0.1:9/hook',
      eventTypes: ['namespace.drifted'],
    });
    expect(hook.status).toBe(201);
    webhookId = hook.body.webhook.id;
  });
  afterAll(() => s?.close());

  const refusal = (r: { status: number; body: any }) => [r.status, r.body.error?.code, r.body.error?.fields];
  const gqlRefusal = (r: { errors?: any[] }) => [r.errors?.[0]?.extensions?.code, r.errors?.[0]?.extensions?.fields];

  it('refuses an empty request cursor on both: 422 VALIDATION_FAILED naming after (not the first page)', async () => {
    const fields = [{ field: 'after', message: 'must not be empty' }];
    expect(refusal(await http(s.url, 'GET', '/v1/onboardings?after='))).toEqual([422, 'VALIDATION_FAILED', fields]);
    const overGraphql = await gql(s.url, LIST, { a: '' });
    expect(gqlRefusal(overGraphql)).toEqual(['VALIDATION_FAILED', fields]);
    expect(overGraphql.errors[0].message).toBe('invalid input: after: must not be empty');
  });

  it('takes GraphQL first: null as left out (the default page), as namespaceStatuses does', async () => {
    const omitted = await gql(s.url, '{ onboardingRequests { edges { node { id } } } }');
    const nulled = await gql(s.url, LIST, { f: null, a: null });
    expect(nulled.errors).toBeUndefined();
    expect(nulled.data).toEqual(omitted.data);
    expect(nulled.data.onboardingRequests.edges.map((e: any) => e.node.id)).toContain(requestId);
    const literal = await gql(s.url, '{ onboardingRequests(first: null, after: null) { edges { node { id } } } }');
    expect(literal.errors).toBeUndefined();
    expect(literal.data).toEqual(omitted.data);
  });

  it('says the same about a page size on both: "must be an integer between 1 and 200"', async () => {
    const message = 'must be an integer between 1 and 200';
    for (const bad of [0, 201]) {
      expect(refusal(await http(s.url, 'GET', `/v1/onboardings?limit=${bad}`)), `limit=${bad}`).toEqual([
        422,
        'VALIDATION_FAILED',
        [{ field: 'limit', message }],
      ]);
      const g = await gql(s.url, LIST, { f: bad });
      expect(gqlRefusal(g), `first: ${bad}`).toEqual(['VALIDATION_FAILED', [{ field: 'first', message }]]);
      expect(g.errors[0].message).toBe(`invalid input: first: ${message}`);
    }
  });

  it('reads integer query parameters as decimal digits only (not 1e2, 0x10, blanks, an empty value)', async () => {
    const bad = ['1e2', '0x10', '%20%205', '5%20', '', '5.0', '%2B5', '-1', '0b11', 'Infinity'];
    for (const value of bad) {
      expect(refusal(await http(s.url, 'GET', `/v1/onboardings?limit=${value}`)), `limit=${value}`).toEqual([
        422,
        'VALIDATION_FAILED',
        [{ field: 'limit', message: 'must be an integer between 1 and 200' }],
      ]);
      const deliveries = await http(s.url, 'GET', `/v1/webhooks/${webhookId}/deliveries?limit=${value}`);
      expect([deliveries.status, deliveries.body.error?.fields?.[0]?.field], `deliveries limit=${value}`).toEqual([
        422,
        'limit',
      ]);
    }
    // Decimal digits are read as the number they write.
    expect((await http(s.url, 'GET', '/v1/onboardings?limit=007')).status).toBe(200);
    expect((await http(s.url, 'GET', `/v1/webhooks/${webhookId}/deliveries?limit=100`)).status).toBe(200);
  });

  it("reads a stream's cursor (SSE after, Last-Event-ID) as decimal digits: an empty one is no cursor", async () => {
    const path = `/v1/onboardings/${requestId}/events`;
    const message = 'must be an integer between 0 and 2147483647';
    for (const value of ['', '0x10', '1e1', '%201', '-0']) {
      expect(refusal(await http(s.url, 'GET', `${path}?after=${value}`)), `after=${value}`).toEqual([
        422,
        'VALIDATION_FAILED',
        [{ field: 'after', message }],
      ]);
    }
    for (const value of ['', '0x10', ' 1e1']) {
      // fetch itself: the harness leaves an empty header out.
      const res = await fetch(s.url + path, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'last-event-id': value },
      });
      expect(refusal({ status: res.status, body: await res.json() }), `"${value}"`).toEqual([
        422,
        'VALIDATION_FAILED',
        [{ field: 'Last-Event-ID', message }],
      ]);
    }
    // A cursor in digits replays after it; none replays everything, and so does GraphQL's after: null.
    const all = await readSse(s.url, path);
    expect(all.status).toBe(200);
    const after = await readSse(s.url, `${path}?after=${all.events[0].id}`);
    expect(after.events.map((e) => e.id)).toEqual(all.events.slice(1).map((e) => e.id));
    const client = wsClient(s.url, ADMIN_TOKEN);
    try {
      const replay = await collectProgress(client, requestId, null as unknown as number);
      expect(replay.error).toBeUndefined();
      expect(replay.events.map((e) => String(e.cursor))).toEqual(all.events.map((e) => e.id));
    } finally {
      await client.dispose();
    }
  });

  it('refuses unknown query parameters on the token list, as on the other lists', async () => {
    const r = await http(s.url, 'GET', '/v1/tokens?limit=5&foo=1');
    expect(refusal(r)).toEqual([
      422,
      'VALIDATION_FAILED',
      [
        { field: 'limit', message: 'unknown field' },
        { field: 'foo', message: 'unknown field' },
      ],
    ]);
    const onboardings = await http(s.url, 'GET', '/v1/onboardings?foo=1');
    expect(refusal(onboardings)).toEqual([422, 'VALIDATION_FAILED', [{ field: 'foo', message: 'unknown field' }]]);
    const listed = await http(s.url, 'GET', '/v1/tokens');
    expect([listed.status, Array.isArray(listed.body.items)]).toEqual([200, true]);
  });
});
