import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, gql, http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';
import { createNamespace, namespaceMeta, writesTo } from '../support/kube.js';

const MONITORED = 'openservicemesh.io/monitored-by';
const INJECTION = 'openservicemesh.io/sidecar-injection';

describe('onboarding over REST (Postgres + Redis + emulator over HTTP)', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
  });
  afterAll(() => s.close());

  it('onboards a namespace end to end, then offboards it', async () => {
    const ns = uniqueName('team');
    await createNamespace(s.emulator, ns);
    const created = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ status: 'QUEUED', links: { self: `/v1/onboardings/${created.body.id}` } });
    expect(created.body.request).toMatchObject({
      kind: 'ONBOARD',
      cluster: 'emulator',
      meshName: 'osm',
      sidecarInjection: 'enabled',
      requestedBy: 'token:bootstrap-admin',
    });

    const done = await waitForStatus(s.url, created.body.id, ['SUCCEEDED', 'FAILED']);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.steps.map((st: any) => [st.name, st.status, st.result])).toEqual([
      ['prerequisites', 'SUCCEEDED', 'UNCHANGED'],
      ['mesh', 'SUCCEEDED', 'UNCHANGED'],
      ['namespace', 'SUCCEEDED', 'CHANGED'],
      ['verify', 'SUCCEEDED', 'UNCHANGED'],
    ]);
    const nsStep = done.steps.find((st: any) => st.name === 'namespace');
    expect(nsStep.before).toMatchObject({ labels: { [MONITORED]: null }, annotations: { [INJECTION]: null } });
    expect(nsStep.after).toMatchObject({ labels: { [MONITORED]: 'osm' }, annotations: { [INJECTION]: 'enabled' } });
    expect(nsStep.output.changes[0]).toMatchObject({ action: 'patch', patchType: 'strategic' });

    const meta = await namespaceMeta(s.emulator, ns);
    expect(meta.labels[MONITORED]).toBe('osm');
    expect(meta.annotations[INJECTION]).toBe('enabled');

    const audit = await http(s.url, 'GET', `/v1/onboardings/${created.body.id}/audit`);
    const actions = audit.body.items.map((e: any) => e.action);
    expect(actions[0]).toBe('request.created');
    expect(actions).toContain('step.applying');
    expect(actions.at(-1)).toBe('request.succeeded');
    expect(audit.body.items.map((e: any) => e.cursor)).toEqual(actions.map((_: unknown, i: number) => i + 1));
    expect(audit.body.pageInfo).toEqual({ hasNextPage: false, endCursor: actions.length });

    // Page by page (the trail of a namespace that drifts again and again grows without bound): REST and GraphQL.
    const paged: unknown[] = [];
    let page: any = { pageInfo: { hasNextPage: true, endCursor: 0 } };
    while (page.pageInfo.hasNextPage) {
      const r = await http(
        s.url,
        'GET',
        `/v1/onboardings/${created.body.id}/audit?limit=4&after=${page.pageInfo.endCursor}`,
      );
      expect(r.status).toBe(200);
      page = r.body;
      expect(page.items.length).toBeLessThanOrEqual(4);
      paged.push(...page.items);
    }
    expect(paged).toEqual(audit.body.items);
    const q = `query($id: ID!, $after: Int, $first: Int) {
      auditEvents(requestId: $id, after: $after, first: $first) { cursor action } }`;
    const g = await gql(s.url, q, { id: created.body.id, after: 2, first: 3 });
    expect(g.data.auditEvents).toEqual(
      audit.body.items.slice(2, 5).map((e: any) => ({ cursor: e.cursor, action: e.action })),
    );
    for (const bad of ['limit=0', 'limit=10001', 'limit=1e2', 'after=-1', 'after=', 'colour=red']) {
      const r = await http(s.url, 'GET', `/v1/onboardings/${created.body.id}/audit?${bad}`);
      expect(r.status, bad).toBe(422);
      expect(r.body.error.code).toBe('VALIDATION_FAILED');
    }
    const tooMany = await gql(s.url, q, { id: created.body.id, first: 1001 });
    expect(tooMany.errors[0].extensions).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field: 'first' }] });

    const off = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns });
    expect(off.status).toBe(202);
    const offDone = await waitForStatus(s.url, off.body.id, ['SUCCEEDED', 'FAILED']);
    expect(offDone.steps.map((st: any) => [st.name, st.result])).toEqual([['namespace-removal', 'CHANGED']]);
    const after = await namespaceMeta(s.emulator, ns);
    expect(after.labels[MONITORED]).toBeUndefined();
    expect(after.annotations[INJECTION]).toBeUndefined();

    // Offboarding again: nothing to remove.
    const again = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns });
    expect((await waitForStatus(s.url, again.body.id, ['SUCCEEDED'])).steps[0].result).toBe('UNCHANGED');
  });

  it('offboards kube-public once osm namespace add labelled it, as osm namespace remove does', async () => {
    s.emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: 'kube-public' }, 'merge', {
      metadata: { labels: { [MONITORED]: 'osm' }, annotations: { [INJECTION]: 'enabled' } },
    });
    const off = await http(s.url, 'POST', '/v1/offboardings', { namespace: 'kube-public' });
    expect(off.status).toBe(202);
    const done = await waitForStatus(s.url, off.body.id, ['SUCCEEDED', 'FAILED']);
    expect(done.steps.map((st: any) => [st.name, st.result])).toEqual([['namespace-removal', 'CHANGED']]);
    const after = await namespaceMeta(s.emulator, 'kube-public');
    expect(after.labels[MONITORED]).toBeUndefined();
    expect(after.annotations[INJECTION]).toBeUndefined();
    // Onboarding it stays refused.
    const on = await http(s.url, 'POST', '/v1/onboardings', { namespace: 'kube-public' });
    expect(on.body.error).toMatchObject({ code: 'NAMESPACE_RESERVED' });
  });

  it('running a finished request\'s steps again changes nothing and says "unchanged"', async () => {
    const ns = uniqueName('twice');
    await createNamespace(s.emulator, ns);
    const first = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, sidecarInjection: 'disabled' });
    await waitForStatus(s.url, first.body.id, ['SUCCEEDED']);
    const rv = (await namespaceMeta(s.emulator, ns)).resourceVersion;
    const writes = writesTo(s.emulator, ns);

    const second = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, sidecarInjection: 'disabled' });
    const done = await waitForStatus(s.url, second.body.id, ['SUCCEEDED']);
    expect(done.steps.map((st: any) => st.result)).toEqual(done.steps.map(() => 'UNCHANGED'));
    expect((await namespaceMeta(s.emulator, ns)).resourceVersion).toBe(rv);
    expect(writesTo(s.emulator, ns)).toBe(writes);
  });

  it('corrects a differing sidecar-injection annotation on an already monitored namespace', async () => {
    const ns = uniqueName('fix');
    await createNamespace(s.emulator, ns, { [MONITORED]: 'osm' }, { [INJECTION]: 'disabled' });
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
    const done = await waitForStatus(s.url, r.body.id, ['SUCCEEDED']);
    expect(done.steps.find((st: any) => st.name === 'namespace').result).toBe('CHANGED');
    expect((await namespaceMeta(s.emulator, ns)).annotations[INJECTION]).toBe('enabled');
  });

  describe('refusals, each with its code and without any cluster write', () => {
    it.each([
      ['kube-system', 'NAMESPACE_RESERVED'],
      ['kube-public', 'NAMESPACE_RESERVED'],
      ['osm-system', 'NAMESPACE_IS_CONTROL_PLANE'],
    ])('refuses %s at the API with 422 %s', async (namespace, code) => {
      const before = writesTo(s.emulator);
      const r = await http(s.url, 'POST', '/v1/onboardings', { namespace });
      expect(r.status).toBe(422);
      expect(r.body.error).toMatchObject({ code, fields: [{ field: 'namespace' }] });
      expect(writesTo(s.emulator)).toBe(before);
    });

    it('refuses an unknown mesh and an unknown cluster, naming the field', async () => {
      const mesh = await http(s.url, 'POST', '/v1/onboardings', { namespace: 'bookstore', meshName: 'nomesh' });
      expect(mesh.status).toBe(422);
      expect(mesh.body.error).toMatchObject({ code: 'MESH_NOT_FOUND', fields: [{ field: 'meshName' }] });
      const cluster = await http(s.url, 'POST', '/v1/onboardings', { namespace: 'bookstore', cluster: 'prod-eu' });
      expect(cluster.status).toBe(422);
      expect(cluster.body.error).toMatchObject({ code: 'CLUSTER_NOT_FOUND', fields: [{ field: 'cluster' }] });
    });

    it('answers bad input with 400/422 and field names, never 500', async () => {
      const bad = await http(s.url, 'POST', '/v1/onboardings', {
        namespace: 'Not_Valid',
        bogus: true,
        sidecarInjection: 3,
      });
      expect(bad.status).toBe(422);
      expect(bad.body.error.code).toBe('VALIDATION_FAILED');
      expect(bad.body.error.fields.map((f: any) => f.field).sort()).toEqual(['bogus', 'namespace', 'sidecarInjection']);
      const malformed = await http(s.url, 'POST', '/v1/onboardings', '{"namespace":', {});
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.code).toBe('MALFORMED_REQUEST');
      const notObject = await http(s.url, 'POST', '/v1/onboardings', [1, 2]);
      expect(notObject.status).toBe(422);
      const unknownId = await http(s.url, 'GET', '/v1/onboardings/00000000-0000-4000-8000-000000000000');
      expect(unknownId.status).toBe(404);
      expect(unknownId.body.error.code).toBe('REQUEST_NOT_FOUND');
      const junkId = await http(s.url, 'GET', '/v1/onboardings/not-a-uuid');
      expect(junkId.status).toBe(404);
      const badQuery = await http(s.url, 'GET', '/v1/onboardings?limit=9999&colour=red');
      expect(badQuery.status).toBe(422);
      expect(badQuery.body.error.fields.map((f: any) => f.field).sort()).toEqual(['colour', 'limit']);
    });

    it('answers an unknown route with ROUTE_NOT_FOUND, and a body not sent as JSON with 415', async () => {
      for (const [method, path] of [
        ['GET', '/v1/onboarding'],
        ['POST', '/nope'],
        ['DELETE', '/v1/onboardings'],
      ]) {
        const r = await http(s.url, method, path);
        expect(r.status, `${method} ${path}`).toBe(404);
        expect(r.body.error).toMatchObject({ code: 'ROUTE_NOT_FOUND', message: `no route ${method} ${path}` });
      }

      const writesBefore = writesTo(s.emulator);
      const form = await http(s.url, 'POST', '/v1/onboardings', 'namespace=bookbuyer', {
        'content-type': 'application/x-www-form-urlencoded',
      });
      expect(form.status).toBe(415);
      expect(form.body.error).toMatchObject({
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: 'the body must be JSON with Content-Type: application/json (got "application/x-www-form-urlencoded")',
      });
      // curl -d without -H 'content-type: application/json' (fetch sends text/plain for a string body)
      const plain = await fetch(`${s.url}/v1/onboardings`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        body: JSON.stringify({ namespace: 'bookbuyer' }),
      });
      expect(plain.status).toBe(415);
      expect((await plain.json()).error.message).toContain('(got "text/plain;charset=UTF-8")');
      // The router matches paths whatever their case, and so does this rule (an outside audit's form body sent to
      // /V1/… reached the input checks as bytes, and the Slack path in other cases is not exempt).
      for (const path of ['/V1/onboardings/plan', '/v1/Onboardings/', '/V1/INTEGRATIONS/SLACK/INTERACTIONS/x']) {
        const other = await http(s.url, 'POST', path, 'namespace=bookbuyer', {
          'content-type': 'application/x-www-form-urlencoded',
        });
        expect(other.status, path).toBe(415);
        expect(other.body.error.code, path).toBe('UNSUPPORTED_MEDIA_TYPE');
      }
      expect(writesTo(s.emulator)).toBe(writesBefore);

      // JSON with a charset or a +json type passes; a call without a body needs no Content-Type.
      const charset = await http(
        s.url,
        'POST',
        '/v1/onboardings/plan',
        { namespace: 'bookbuyer' },
        {
          'content-type': 'application/json; charset=utf-8',
        },
      );
      expect(charset.status).toBe(200);
      const missing = await http(s.url, 'POST', '/v1/onboardings/00000000-0000-4000-8000-000000000000/retry');
      expect(missing.body.error.code).toBe('REQUEST_NOT_FOUND');
    });

    it.each([
      ['a namespace that does not exist', async () => uniqueName('missing'), 'NAMESPACE_NOT_FOUND'],
      [
        'a namespace carrying openservicemesh.io/ignore',
        async (st: Stack) => {
          const ns = uniqueName('ignored');
          await createNamespace(st.emulator, ns, { 'openservicemesh.io/ignore': 'true' });
          return ns;
        },
        'NAMESPACE_IGNORED',
      ],
      [
        'a namespace monitored by another mesh',
        async (st: Stack) => {
          const ns = uniqueName('taken');
          await createNamespace(st.emulator, ns, { [MONITORED]: 'blue' });
          return ns;
        },
        'NAMESPACE_OWNED_BY_OTHER_MESH',
      ],
    ])('refuses %s at the API with 422 and its code (worker: early-refusals.spec.ts)', async (_what, makeNs, code) => {
      const ns = await makeNs(s);
      const writesBefore = writesTo(s.emulator);
      const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
      expect(r.status).toBe(422);
      expect(r.body.error).toMatchObject({ code, fields: [{ field: 'namespace' }] });
      expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);
      expect(writesTo(s.emulator)).toBe(writesBefore);
    });

    it('refuses offboarding from the wrong mesh', async () => {
      const ns = uniqueName('wrongmesh');
      await createNamespace(s.emulator, ns, { [MONITORED]: 'blue' });
      const r = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns });
      expect(r.status).toBe(422);
      expect(r.body.error).toMatchObject({ code: 'NAMESPACE_OWNED_BY_OTHER_MESH', fields: [{ field: 'meshName' }] });
      expect((await namespaceMeta(s.emulator, ns)).labels[MONITORED]).toBe('blue');
    });
  });

  it('two concurrent requests for one namespace: one is accepted, the other gets a coded 409', async () => {
    const ns = uniqueName('race');
    await createNamespace(s.emulator, ns);
    const results = await Promise.all([
      http(s.url, 'POST', '/v1/onboardings', { namespace: ns }),
      http(s.url, 'POST', '/v1/onboardings', { namespace: ns }),
    ]);
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([202, 409]);
    const conflict = results.find((r) => r.status === 409)!;
    const winner = results.find((r) => r.status === 202)!;
    expect(conflict.body.error).toMatchObject({
      code: 'REQUEST_CONFLICT',
      details: { activeRequestId: winner.body.id },
    });
    await waitForStatus(s.url, winner.body.id, ['SUCCEEDED']);
  });

  it('replays an Idempotency-Key with the same body and refuses it with a different body', async () => {
    const ns = uniqueName('idem');
    await createNamespace(s.emulator, ns);
    const key = uniqueName('key');
    const first = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns }, { 'idempotency-key': key });
    const again = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns }, { 'idempotency-key': key });
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    const different = await http(
      s.url,
      'POST',
      '/v1/onboardings',
      { namespace: ns, sidecarInjection: 'disabled' },
      { 'idempotency-key': key },
    );
    expect(different.status).toBe(422);
    expect(different.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    await waitForStatus(s.url, first.body.id, ['SUCCEEDED']);
  });

  it('refuses an Idempotency-Key or Last-Event-ID sent twice (Node would join them into one value)', async () => {
    const ns = uniqueName('idem-twice');
    await createNamespace(s.emulator, ns);
    const twice = (method: string, path: string, headers: Record<string, string[]>, body?: unknown) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const req = request(`${s.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...headers },
        });
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        });
        req.on('error', reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });
    const keyed = await twice('POST', '/v1/onboardings', { 'Idempotency-Key': ['k1', 'k2'] }, { namespace: ns });
    expect(keyed.status).toBe(422);
    expect(keyed.body.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      fields: [{ field: 'Idempotency-Key', message: 'must be sent once' }],
    });
    expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);
    const id = '00000000-0000-4000-8000-000000000000';
    const cursor = await twice('GET', `/v1/onboardings/${id}/events`, { 'Last-Event-ID': ['1', '2'] });
    expect([cursor.status, cursor.body.error.fields]).toEqual([
      422,
      [{ field: 'Last-Event-ID', message: 'must be sent once' }],
    ]);
    // Node keeps the first Authorization or Content-Type, a proxy in front may read the last: neither is taken.
    const asAdmin = [`Bearer ${ADMIN_TOKEN}`, 'Bearer not-a-token'];
    const repeats: [Record<string, string[]>, string][] = [
      [{ authorization: asAdmin }, 'Authorization'],
      [{ authorization: [...asAdmin].reverse() }, 'Authorization'],
      [{ 'content-type': ['application/json', 'text/plain'] }, 'Content-Type'],
    ];
    for (const [headers, field] of repeats) {
      const refused = await twice('POST', '/v1/onboardings', headers, { namespace: ns });
      expect([refused.status, refused.body.error.fields]).toEqual([422, [{ field, message: 'must be sent once' }]]);
    }
    expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);
  });

  it('lists requests newest first with filters and cursor paging', async () => {
    const ns = uniqueName('page');
    await createNamespace(s.emulator, ns);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns });
      ids.push(r.body.id);
      await waitForStatus(s.url, r.body.id, ['SUCCEEDED']);
    }
    const page1 = await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}&limit=2`);
    expect(page1.body.items.map((r: any) => r.id)).toEqual([ids[2], ids[1]]);
    expect(page1.body.pageInfo.hasNextPage).toBe(true);
    const page2 = await http(
      s.url,
      'GET',
      `/v1/onboardings?namespace=${ns}&limit=2&after=${page1.body.pageInfo.endCursor}`,
    );
    expect(page2.body.items.map((r: any) => r.id)).toEqual([ids[0]]);
    expect(page2.body.pageInfo.hasNextPage).toBe(false);
    const filtered = await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}&kind=ONBOARD`);
    expect(filtered.body.items).toEqual([]);
  });

  it('refuses a made-up page cursor that no page could end with (a time or id Postgres cannot hold): 422', async () => {
    const cursor = (c: object) => Buffer.from(JSON.stringify(c)).toString('base64url');
    const id = '00000000-0000-4000-8000-000000000000';
    for (const after of [
      cursor({ createdAt: '-271821-04-20T00:00:00.000Z', id }),
      cursor({ createdAt: '+275760-09-13T00:00:00.000Z', id }),
      cursor({ createdAt: '0000-01-01T00:00:00.000Z', id }),
      cursor({ createdAt: '2026-01-01T00:00:00.000Z', id: 'not-a-uuid' }),
      cursor({ createdAt: '2026-01-01T00:00:00.000Z', id: '-'.repeat(36) }),
    ]) {
      const r = await http(s.url, 'GET', `/v1/onboardings?after=${after}`);
      expect([r.status, r.body.error.code, r.body.error.fields], after).toEqual([
        422,
        'VALIDATION_FAILED',
        [{ field: 'after', message: 'after is not a cursor returned by this API' }],
      ]);
      const overGraphql = await gql(s.url, 'query($a: String) { onboardingRequests(after: $a) { edges { cursor } } }', {
        a: after,
      });
      expect(overGraphql.errors?.[0].extensions.code, after).toBe('VALIDATION_FAILED');
    }
    // The oldest and newest times a stored request can have are cursors.
    for (const createdAt of ['0001-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z'])
      expect((await http(s.url, 'GET', `/v1/onboardings?after=${cursor({ createdAt, id })}`)).status).toBe(200);
  });
});
