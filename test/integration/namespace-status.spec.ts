import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, http, startStack, Stack, waitForStatus } from '../support/harness.js';
import { seedAppNamespace } from '../support/emulator/index.js';

const MONITORED = 'openservicemesh.io/monitored-by';
const INJECTION = 'openservicemesh.io/sidecar-injection';
const IGNORE = 'openservicemesh.io/ignore';

describe('namespace status: live from the cluster, paged, joined with our last request', () => {
  let s: Stack;
  const p = `nss${randomBytes(3).toString('hex')}`;
  const names = { onboarded: `${p}-a`, ignored: `${p}-b`, disabled: `${p}-c`, empty: `${p}-d` };
  let viewer: string;
  let onboarded: any;
  const as = (t: string) => ({ authorization: `Bearer ${t}` });

  beforeAll(async () => {
    s = await startStack();
    seedAppNamespace(s.emulator.store, names.onboarded, { deployments: 2 });
    seedAppNamespace(s.emulator.store, names.ignored, { deployments: 1, labels: { [IGNORE]: 'true' } });
    seedAppNamespace(s.emulator.store, names.disabled, {
      deployments: 1,
      labels: { [MONITORED]: 'osm' },
      annotations: { [INJECTION]: 'disabled' },
    });
    seedAppNamespace(s.emulator.store, names.empty, { deployments: 0 });
    await s.emulator.idle();
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: names.onboarded, restart: { mode: 'all' } });
    expect(r.status).toBe(202);
    onboarded = await waitForStatus(s.url, r.body.id, ['SUCCEEDED', 'FAILED'], 30_000);
    expect(onboarded.status).toBe('SUCCEEDED');
    await s.emulator.idle();
    viewer = (
      await http(s.url, 'POST', '/v1/tokens', { name: `${p}-viewer`, roles: ['viewer'], scopes: [`emulator/${p}-*`] })
    ).body.token;
  });
  afterAll(() => s?.close());

  it(
    "reports mesh, injection, ignore, pods with/without sidecar and the last request, within the caller's " + 'scopes',
    async () => {
      const before = s.emulator.requests.all().length;
      const r = await http(s.url, 'GET', '/v1/clusters/emulator/namespaces?limit=100', undefined, as(viewer));
      const calls = s.emulator.requests.all().slice(before);
      expect(r.status).toBe(200);
      expect(r.body.cluster).toBe('emulator');
      // only the scope's namespaces, in API order
      expect(r.body.items.map((n: any) => n.name)).toEqual(Object.values(names));
      const byName = Object.fromEntries(r.body.items.map((n: any) => [n.name, n]));
      expect(byName[names.onboarded]).toEqual({
        name: names.onboarded,
        phase: 'Active',
        monitoredBy: 'osm',
        sidecarInjection: 'enabled',
        ignored: false,
        pods: { total: 2, withSidecar: 2, withoutSidecar: 0 },
        podsError: null,
        lastRequest: expect.objectContaining({
          id: onboarded.id,
          kind: 'ONBOARD',
          status: 'SUCCEEDED',
          meshName: 'osm',
          requestedBy: 'token:bootstrap-admin',
          errorCode: null,
        }),
      });
      expect(byName[names.ignored]).toMatchObject({
        monitoredBy: null,
        sidecarInjection: null,
        ignored: true,
        pods: { total: 1, withSidecar: 0, withoutSidecar: 1 },
        lastRequest: null,
      });
      expect(byName[names.disabled]).toMatchObject({
        monitoredBy: 'osm',
        sidecarInjection: 'disabled',
        ignored: false,
        pods: { total: 1, withSidecar: 0, withoutSidecar: 1 },
        lastRequest: null,
      });
      expect(byName[names.empty]).toMatchObject({
        monitoredBy: null,
        pods: { total: 0, withSidecar: 0, withoutSidecar: 0 },
      });
      expect(r.body.pageInfo).toEqual({ hasNextPage: false, continue: null });

      // Cost of a scoped caller's page: one pod list per namespace shown. Its namespaces come from the API's
      // namespace informer (in sync since the onboarding above), not from a list of the cluster's.
      expect(calls.filter((c) => c.resource === 'namespaces' && c.verb !== 'watch')).toEqual([]);
      expect(
        calls
          .filter((c) => c.resource === 'pods')
          .map((c) => c.namespace)
          .sort(),
      ).toEqual(Object.values(names).sort());
      expect(calls.filter((c) => c.verb !== 'watch')).toHaveLength(4);
      expect(r.body.apiCalls).toBe(4);

      // The last request follows our records: a failed offboarding shows up with its outcome.
      const off = await http(s.url, 'POST', '/v1/offboardings', { namespace: names.disabled });
      const offDone = await waitForStatus(s.url, off.body.id, ['SUCCEEDED', 'FAILED']);
      const again = await http(s.url, 'GET', '/v1/clusters/emulator/namespaces?limit=100', undefined, as(viewer));
      const disabled = again.body.items.find((n: any) => n.name === names.disabled);
      expect(disabled).toMatchObject({
        monitoredBy: null,
        sidecarInjection: null,
        lastRequest: { id: off.body.id, kind: 'OFFBOARD', status: offDone.status },
      });
    },
  );

  it('pages a scoped caller through its own namespaces: full pages, whatever lies between them', async () => {
    const seen: string[] = [];
    let token: string | null = null;
    for (let page = 0; page < 50; page++) {
      const qs: string = `limit=1${token ? `&continue=${encodeURIComponent(token)}` : ''}`;
      const r: { status: number; body: any } = await http(
        s.url,
        'GET',
        `/v1/clusters/emulator/namespaces?${qs}`,
        undefined,
        as(viewer),
      );
      expect(r.status).toBe(200);
      token = r.body.pageInfo.continue;
      // Each page holds one of the caller's namespaces, and costs one pod list.
      expect([r.body.items.length, r.body.apiCalls]).toEqual([1, 1]);
      seen.push(...r.body.items.map((n: any) => n.name));
      if (!token) break;
    }
    expect(token).toBeNull();
    expect(seen).toEqual(Object.values(names));

    // The admin sees everything, two at a time.
    const first = await http(s.url, 'GET', '/v1/clusters/emulator/namespaces?limit=2');
    expect(first.body.items).toHaveLength(2);
    expect(first.body.pageInfo.hasNextPage).toBe(true);
    const second = await http(
      s.url,
      'GET',
      `/v1/clusters/emulator/namespaces?limit=2&continue=${encodeURIComponent(first.body.pageInfo.continue)}`,
    );
    expect(second.body.items).toHaveLength(2);
    expect(second.body.items[0].name > first.body.items[1].name).toBe(true);
  });

  it('offers the same over GraphQL', async () => {
    const q = `query($c: String!, $first: Int, $after: String) {
      namespaceStatuses(cluster: $c, first: $first, after: $after) {
      cluster apiCalls edges { cursor node { name monitoredBy sidecarInjection ignored
        pods { total withSidecar withoutSidecar } lastRequest { id kind status } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`;
    const r = await gql(s.url, q, { c: 'emulator', first: 100 }, as(viewer));
    expect(r.errors).toBeUndefined();
    const page = r.data.namespaceStatuses;
    const nodes = page.edges.map((e: any) => e.node);
    expect(nodes.map((n: any) => n.name)).toEqual(Object.values(names));
    expect(page.edges.map((e: any) => e.cursor)).toEqual(Object.values(names)); // a Relay connection
    expect(nodes[0]).toMatchObject({
      monitoredBy: 'osm',
      sidecarInjection: 'enabled',
      pods: { withSidecar: 2, withoutSidecar: 0 },
      lastRequest: { id: onboarded.id, status: 'SUCCEEDED' },
    });
    expect(page.pageInfo).toEqual({
      hasNextPage: false,
      hasPreviousPage: false,
      startCursor: Object.values(names)[0],
      endCursor: null,
    });
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const page2: any = (await gql(s.url, q, { c: 'emulator', first: 2, after }, as(viewer))).data.namespaceStatuses;
      expect(page2.edges.length).toBeLessThanOrEqual(2);
      seen.push(...page2.edges.map((e: any) => e.node.name));
      after = page2.pageInfo.endCursor;
      expect(page2.pageInfo.hasNextPage).toBe(after !== null);
    } while (after);
    expect(seen).toEqual(Object.values(names));
    const bad = await gql(s.url, q, { c: 'emulator', first: 1000 }, as(viewer));
    expect(bad.errors[0].extensions).toMatchObject({
      code: 'VALIDATION_FAILED',
      fields: [{ field: 'first', message: 'must be at most 100' }],
    });
  });

  it('refuses bad input, unknown clusters and callers without a scope in the cluster', async () => {
    const bad = await http(s.url, 'GET', '/v1/clusters/emulator/namespaces?limit=0&colour=red', undefined, as(viewer));
    expect(bad.status).toBe(422);
    expect(bad.body.error.fields).toEqual([
      { field: 'limit', message: 'must be at least 1' },
      { field: 'colour', message: 'unknown field' },
    ]);
    const big = await http(s.url, 'GET', '/v1/clusters/emulator/namespaces?limit=abc', undefined, as(viewer));
    expect(big.body.error.fields).toEqual([{ field: 'limit', message: expect.any(String) }]);
    const cont = await http(
      s.url,
      'GET',
      '/v1/clusters/emulator/namespaces?continue=not-a-token',
      undefined,
      as(viewer),
    );
    expect(cont.status).toBe(422);
    expect(cont.body.error).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field: 'continue' }] });
    const unknown = await http(s.url, 'GET', '/v1/clusters/nope/namespaces');
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.code).toBe('CLUSTER_NOT_FOUND');
    const staging = (
      await http(s.url, 'POST', '/v1/tokens', { name: `${p}-staging`, roles: ['viewer'], scopes: ['staging/*'] })
    ).body.token;
    const forbidden = await http(s.url, 'GET', '/v1/clusters/emulator/namespaces', undefined, as(staging));
    expect(forbidden.status).toBe(403);
    expect((await http(s.url, 'GET', '/v1/clusters/staging/namespaces?limit=1', undefined, as(staging))).status).toBe(
      200,
    );
    expect(
      (await http(s.url, 'GET', '/v1/clusters/emulator/namespaces', undefined, { authorization: '' })).status,
    ).toBe(401);
    for (const limit of ['1e2', '0x10', '%205']) {
      const r = await http(s.url, 'GET', `/v1/clusters/emulator/namespaces?limit=${limit}`, undefined, as(viewer));
      expect(r.status, limit).toBe(422);
      expect(r.body.error.fields).toEqual([{ field: 'limit', message: 'must be a number' }]);
    }
  });

  it('refuses a cluster that is no cluster name as input, never repeating it, on REST and GraphQL alike', async () => {
    const query = 'query($c: String!) { namespaceStatuses(cluster: $c) { apiCalls } }';
    const mutation = 'mutation($c: String!) { reapplyOnboarding(cluster: $c, namespace: "web") { id } }';
    for (const [c, message] of [
      ['x'.repeat(20_000), 'must be no more than 253 characters'],
      ['a b', 'must not contain whitespace'],
      ['', 'must not be empty'],
    ]) {
      for (const doc of [query, mutation]) {
        const g = await gql(s.url, doc, { c });
        const fields = [{ field: 'cluster', message }];
        expect(g.errors?.[0].extensions, c.slice(0, 10)).toMatchObject({ code: 'VALIDATION_FAILED', fields });
        if (c) expect(JSON.stringify(g)).not.toContain(c);
      }
    }
    const rest = await http(s.url, 'GET', '/v1/clusters/a%20b/namespaces');
    expect([rest.status, rest.body.error.fields]).toEqual([
      422,
      [{ field: 'cluster', message: 'must not contain whitespace' }],
    ]);
    // A well-formed name that is no context is named in the answer (it is what the caller must correct).
    const unknown = await gql(s.url, query, { c: 'nope' });
    expect(unknown.errors?.[0]).toMatchObject({
      message: expect.stringContaining('"nope"'),
      extensions: { code: 'CLUSTER_NOT_FOUND' },
    });
  });

  it("never shows Kubernetes' continue token (it names the namespace the next list starts from)", async () => {
    const path = '/v1/clusters/emulator/namespaces';
    const first = await http(s.url, 'GET', `${path}?limit=1`, undefined, as(viewer));
    const token: string = first.body.pageInfo.continue;
    expect(token).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(token, 'base64url').toString('latin1')).not.toMatch(/start|"rv"/);
    const next = await http(s.url, 'GET', `${path}?limit=1&continue=${token}`, undefined, as(viewer));
    expect(next.status).toBe(200);
    expect(next.body.items.every((n: { name: string }) => n.name.startsWith(`${p}-`))).toBe(true);

    // Only for the caller and the cluster it was given to.
    const other = (
      await http(s.url, 'POST', '/v1/tokens', { name: `${p}-other`, roles: ['viewer'], scopes: [`emulator/${p}-*`] })
    ).body.token;
    const admins = (await http(s.url, 'GET', `${path}?limit=1`)).body.pageInfo.continue;
    expect((await http(s.url, 'GET', `${path}?continue=${admins}`)).status).toBe(200);
    expect((await http(s.url, 'GET', `/v1/clusters/staging/namespaces?continue=${admins}`)).status).toBe(422);
    const refused = { code: 'VALIDATION_FAILED', fields: [{ field: 'continue', message: expect.any(String) }] };
    for (const [auth, cluster] of [
      [as(other), 'emulator'],
      [{}, 'emulator'],
    ] as const) {
      const r = await http(s.url, 'GET', `/v1/clusters/${cluster}/namespaces?continue=${token}`, undefined, auth);
      expect(r.status).toBe(422);
      expect(r.body.error).toMatchObject(refused);
    }

    // A forged Kubernetes token (etcd's shape) reaches no list: it would walk the cluster's names.
    const forged = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: 1, start: '/kube-system\u0000' })).toString(
      'base64',
    );
    const before = s.emulator.requests.count({ verb: 'list', resource: 'namespaces' });
    const r = await http(s.url, 'GET', `${path}?continue=${encodeURIComponent(forged)}`, undefined, as(viewer));
    expect(r.status).toBe(422);
    expect(r.body.error).toMatchObject(refused);
    expect(s.emulator.requests.count({ verb: 'list', resource: 'namespaces' })).toBe(before);
  });
});
