// Refusals known at request time (issue 11, items 5 and 10): the API reads the target namespace (and the Services
// `appProtocols` names; bounded, cached, rate limited) and answers 422 with the worker's own codes before anything is
// stored; when the cluster does not answer in time the request is accepted and the worker decides with the same rules.
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { gql, http, startStack, Stack, uniqueName, waitForStatus } from '../support/harness.js';
import { createNamespace, kubeClients, namespaceMeta, writesTo } from '../support/kube.js';

const MONITORED = 'openservicemesh.io/monitored-by';
/** A Service's ports, as a test creates them. */
type Ports = { name: string; port: number }[];

describe('early refusals: what can be known when the request is made', () => {
  let s: Stack;
  /** A second API + worker on the same emulator and database, with the request-time reads off. */
  let lazy: Stack;
  beforeAll(async () => {
    s = await startStack();
    lazy = await startStack({ emulator: s.emulator, env: { PRECHECK_TIMEOUT_MS: '0' } });
  });
  afterAll(async () => {
    await lazy?.close();
    await s?.close();
  });

  const stored = async (ns: string) => (await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items;

  const cases: [string, Record<string, string> | null, string][] = [
    ['does not exist', null, 'NAMESPACE_NOT_FOUND'],
    ['is ignored', { 'openservicemesh.io/ignore': 'false' }, 'NAMESPACE_IGNORED'],
    ['belongs to another mesh', { [MONITORED]: 'blue' }, 'NAMESPACE_OWNED_BY_OTHER_MESH'],
    // osm-edge's injector webhook selects `control-plane DoesNotExist`, `name NotIn [<osm namespace>]`
    // (pkg/injector/webhook.go).
    ['is skipped by the injector (control-plane label)', { 'control-plane': 'x' }, 'NAMESPACE_NOT_INJECTABLE'],
    ['is skipped by the injector (name=<osm namespace>)', { name: 'osm-system' }, 'NAMESPACE_NOT_INJECTABLE'],
  ];

  it.each(cases)(
    'a namespace that %s: 422 before anything is stored; the worker refuses it the same',
    async (_what, labels, code) => {
      const ns = uniqueName('early');
      if (labels) await createNamespace(s.emulator, ns, labels);
      const field = 'namespace';
      const writes = writesTo(s.emulator);
      const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.error).toMatchObject({ code, fields: [{ field }] });
      if (code === 'NAMESPACE_NOT_INJECTABLE') expect(r.body.error.hint).toMatch(/kubectl label namespace/);
      const mutation = `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }`;
      const g = await gql(s.url, mutation, { i: { namespace: ns } });
      expect(g.errors[0].extensions).toMatchObject({ code });
      expect(await stored(ns)).toEqual([]);
      expect(writesTo(s.emulator)).toBe(writes);

      // Without the request-time read, the worker's own check stops it at the same rule, writing nothing.
      const accepted = await http(lazy.url, 'POST', '/v1/onboardings', { namespace: ns });
      expect(accepted.status).toBe(202);
      const done = await waitForStatus(lazy.url, accepted.body.id, ['SUCCEEDED', 'FAILED']);
      expect(done).toMatchObject({ status: 'FAILED', errorCode: code });
      expect(writesTo(s.emulator)).toBe(writes);
    },
  );

  it('a namespace being deleted (Terminating): 422 NAMESPACE_TERMINATING; the worker refuses it the same', async () => {
    const ns = uniqueName('closing');
    const { core } = kubeClients(s.emulator);
    await createNamespace(s.emulator, ns);
    // A finalizer on its content keeps the namespace Terminating, as on a real cluster.
    const held = { metadata: { name: 'held', finalizers: ['example.com/hold'] } };
    await core.createNamespacedConfigMap({ namespace: ns, body: held });
    await core.deleteNamespace({ name: ns });
    expect((await core.readNamespace({ name: ns })).status?.phase).toBe('Terminating');
    const writes = writesTo(s.emulator);
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error).toMatchObject({ code: 'NAMESPACE_TERMINATING', fields: [{ field: 'namespace' }] });
    expect(await stored(ns)).toEqual([]);
    const accepted = await http(lazy.url, 'POST', '/v1/onboardings', { namespace: ns });
    expect(accepted.status).toBe(202);
    const done = await waitForStatus(lazy.url, accepted.body.id, ['SUCCEEDED', 'FAILED']);
    expect(done).toMatchObject({ status: 'FAILED', errorCode: 'NAMESPACE_TERMINATING' });
    expect(writesTo(s.emulator)).toBe(writes);
    // Offboarding it stays possible (it only removes labels, and the namespace is going anyway).
    const off = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns });
    expect(off.status, JSON.stringify(off.body)).toBe(202);
    const release = { namespace: ns, name: 'held', body: { metadata: { finalizers: null } } };
    await core.patchNamespacedConfigMap(release, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  });

  describe('what the body alone shows: refused before anything is stored or written, on every way in', () => {
    const MESH_CONFIG = {
      apiVersion: 'config.openservicemesh.io/v1alpha2',
      kind: 'MeshConfig',
      namespace: 'osm-system',
      name: 'osm-mesh-config',
    };
    const meshConfigVersion = () => s.emulator.store.get<any>(MESH_CONFIG)!.metadata.resourceVersion;
    const tcp = (name: string, port: number) => ({ name, spec: { matches: { ports: [port] } } });
    // The audit's body: api-server-access (a mesh-wide MeshConfig write) runs before traffic-policy's plan.
    const duplicateTcpRoutes = {
      apiServerAccess: { method: 'ip-exclusion' },
      trafficPolicy: { mode: 'smi', smi: { tcpRoutes: [tcp('tcp', 5432), tcp('tcp', 6379)] } },
    };
    const cases: [string, Record<string, unknown>, string, string][] = [
      [
        'two TCPRoutes of one name',
        duplicateTcpRoutes,
        'trafficPolicy.smi.tcpRoutes.1.name',
        'TCPRoute tcp is listed more than once',
      ],
      [
        'two HTTPRouteGroups of one name',
        {
          apiServerAccess: { method: 'ip-exclusion' },
          trafficPolicy: {
            mode: 'smi',
            smi: { httpRouteGroups: ['a', 'a'].map((name) => ({ name, spec: { matches: [{ name: 'all' }] } })) },
          },
        },
        'trafficPolicy.smi.httpRouteGroups.1.name',
        'HTTPRouteGroup a is listed more than once',
      ],
      [
        'one Service port twice with different appProtocols',
        {
          appProtocols: [
            { service: 'app-0', port: 8080, appProtocol: 'http' },
            { service: 'app-0', port: 8080, appProtocol: 'tcp' },
          ],
        },
        'appProtocols.1.appProtocol',
        'port 8080 of Service app-0 is given twice with different values',
      ],
      [
        'a port name no Service port can have',
        { appProtocols: [{ service: 'app-0', port: 'HTTP-Port-Name-Too-Long', appProtocol: 'http' }] },
        'appProtocols.0.port',
        'a lowercase RFC 1123 label',
      ],
    ];

    it.each(cases)(
      '%s: 422 naming the field over REST, GraphQL, plans and batches',
      async (_what, body, field, says) => {
        const ns = uniqueName('body');
        seedAppNamespace(s.emulator.store, ns, { deployments: 1 });
        await s.emulator.idle();
        const version = meshConfigVersion();
        const writes = writesTo(s.emulator);
        const refused = (r: { status: number; body: any }) => {
          expect(r.status, JSON.stringify(r.body)).toBe(422);
          expect(r.body.error.code).toBe('VALIDATION_FAILED');
        };
        const rest = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, ...body });
        refused(rest);
        expect(rest.body.error.fields).toEqual([{ field, message: expect.stringContaining(says) }]);
        // Without the request-time reads of the cluster too: this needs none.
        refused(await http(lazy.url, 'POST', '/v1/onboardings', { namespace: ns, ...body }));
        refused(await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, dryRun: true, ...body }));
        refused(await http(s.url, 'POST', '/v1/onboardings/plan', { namespace: ns, ...body }));
        const batch = await http(s.url, 'POST', '/v1/batches', {
          kind: 'ONBOARD',
          targets: [{ namespace: ns }],
          options: body,
        });
        refused(batch);
        expect(batch.body.error.fields).toEqual([
          { field: `options.${field}`, message: expect.stringContaining(says) },
        ]);
        const mutation = `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }`;
        const g = await gql(s.url, mutation, { i: { namespace: ns, ...body } });
        expect(g.errors[0].extensions).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field }] });
        expect(await stored(ns)).toEqual([]);
        expect(writesTo(s.emulator)).toBe(writes);
        expect(meshConfigVersion()).toBe(version);
      },
    );

    it("egress for namespace default (the API Service's own): the step's code, at once", async () => {
      const body = { namespace: 'default', apiServerAccess: { method: 'egress', serviceAccounts: ['app'] } };
      const r = await http(s.url, 'POST', '/v1/onboardings', body);
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.error).toMatchObject({
        code: 'EGRESS_API_SERVER_MONITORED',
        fields: [{ field: 'apiServerAccess.method' }],
      });
      expect(await stored('default')).toEqual([]);
    });
  });

  it('refuses offboarding a namespace that does not exist or belongs to another mesh', async () => {
    const missing = await http(s.url, 'POST', '/v1/offboardings', { namespace: uniqueName('gone') });
    expect(missing.body.error).toMatchObject({ code: 'NAMESPACE_NOT_FOUND', fields: [{ field: 'namespace' }] });
    const ns = uniqueName('blue');
    await createNamespace(s.emulator, ns, { [MONITORED]: 'blue' });
    const other = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns });
    expect(other.status).toBe(422);
    expect(other.body.error).toMatchObject({ code: 'NAMESPACE_OWNED_BY_OTHER_MESH', fields: [{ field: 'meshName' }] });
    expect((await namespaceMeta(s.emulator, ns)).labels[MONITORED]).toBe('blue');
    // The right mesh passes this check (mesh "blue" has no control plane here, which the worker does not need).
    const right = await http(s.url, 'POST', '/v1/offboardings', { namespace: ns, meshName: 'blue', dryRun: true });
    expect(right.status).toBe(202);
  });

  it('refuses restart.deployments naming a Deployment that does not exist, naming the field', async () => {
    const ns = uniqueName('sel');
    seedAppNamespace(s.emulator.store, ns, { deployments: 2 });
    await s.emulator.idle();
    const body = { namespace: ns, restart: { mode: 'selected', deployments: ['app-1', 'nope'] } };
    const r = await http(s.url, 'POST', '/v1/onboardings', body);
    expect(r.status).toBe(422);
    expect(r.body.error).toMatchObject({ code: 'DEPLOYMENT_NOT_FOUND', fields: [{ field: 'restart.deployments' }] });
    expect(r.body.error.message).toContain('nope');
    expect(await stored(ns)).toEqual([]);
    const restart = { mode: 'selected', deployments: ['app-0', 'app-1'] };
    const ok = await http(s.url, 'POST', '/v1/onboardings', { ...body, restart });
    expect(ok.status).toBe(202);
    expect((await waitForStatus(s.url, ok.body.id, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
  });

  it('a plan of an unknown namespace is refused the same way, not stored', async () => {
    const plan = await http(s.url, 'POST', '/v1/onboardings/plan', { namespace: uniqueName('nowhere') });
    expect(plan.status).toBe(422);
    expect(plan.body.error.code).toBe('NAMESPACE_NOT_FOUND');
    const dry = await http(s.url, 'POST', '/v1/onboardings', { namespace: uniqueName('nowhere'), dryRun: true });
    expect(dry.body.error.code).toBe('NAMESPACE_NOT_FOUND');
  });

  it('a batch is all or nothing: one refused target refuses the batch, naming it', async () => {
    const good = uniqueName('b-ok');
    await createNamespace(s.emulator, good);
    const taken = uniqueName('b-taken');
    await createNamespace(s.emulator, taken, { [MONITORED]: 'blue' });
    const missing = uniqueName('b-missing');
    const r = await http(s.url, 'POST', '/v1/batches', {
      kind: 'ONBOARD',
      targets: [{ namespace: good }, { namespace: taken }, { namespace: missing }],
    });
    expect(r.status).toBe(422);
    expect(r.body.error.fields).toEqual([
      { field: 'targets.1.namespace', message: expect.stringContaining('(NAMESPACE_OWNED_BY_OTHER_MESH)') },
      { field: 'targets.2.namespace', message: expect.stringContaining('(NAMESPACE_NOT_FOUND)') },
    ]);
    for (const ns of [good, taken, missing]) expect(await stored(ns)).toEqual([]);
  });

  it('a refusal never rests on a stale cached read: a namespace fixed right after a refusal is accepted', async () => {
    const ns = uniqueName('late');
    const onboard = () => http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
    expect((await onboard()).body.error.code).toBe('NAMESPACE_NOT_FOUND');
    await createNamespace(s.emulator, ns, { [MONITORED]: 'blue' });
    expect((await onboard()).body.error.code).toBe('NAMESPACE_OWNED_BY_OTHER_MESH');
    // The label goes (someone offboarded it from mesh blue): accepted at once, although "blue" was read a moment ago.
    s.emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: ns }, 'json', [
      { op: 'remove', path: `/metadata/labels/${MONITORED.replace('/', '~1')}` },
    ]);
    const r = await onboard();
    expect(r.status).toBe(202);
    expect((await waitForStatus(s.url, r.body.id, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
  });

  it('repeated requests for one target share a cached read (bounded work per request)', async () => {
    // Without the namespace informer (namespace-informer.spec.ts: with it, no read at all), the cached read.
    const cached = await startStack({ emulator: s.emulator, env: { PRECHECK_INFORMER: 'false' } });
    try {
      const ns = uniqueName('cached');
      await createNamespace(s.emulator, ns, { [MONITORED]: 'blue' });
      s.emulator.requests.clear();
      // Offboarding from the right mesh, dry runs: each is accepted after a read of the namespace.
      for (let i = 0; i < 5; i++) {
        const body = { namespace: ns, meshName: 'blue', dryRun: true };
        const r = await http(cached.url, 'POST', '/v1/offboardings', body);
        expect(r.status).toBe(202);
        await http(cached.url, 'POST', `/v1/onboardings/${r.body.id}/cancel`, {});
      }
      // The planner reads the namespace for each dry run; the API's own check read it once for all five.
      const reads = (e: { verb: string; resource?: string; name?: string }) =>
        e.verb === 'get' && e.resource === 'namespaces' && e.name === ns;
      const gets = s.emulator.requests.all().filter(reads);
      expect(gets.length).toBe(5 + 1);
    } finally {
      await cached.close();
    }
  });

  it('accepts when the cluster does not answer within PRECHECK_TIMEOUT_MS, and the worker decides', async () => {
    const quick = await startStack({ emulator: s.emulator, env: { PRECHECK_TIMEOUT_MS: '500' } });
    const ns = uniqueName('slow');
    const fault = s.emulator.faults.add({ verb: 'get', resource: 'namespaces', name: ns, latencyMs: 5000, times: 1 });
    try {
      const started = Date.now();
      const r = await http(quick.url, 'POST', '/v1/onboardings', { namespace: ns }); // it does not exist
      expect(Date.now() - started).toBeLessThan(4500); // the deadline, not the 5 s answer
      expect(r.status).toBe(202);
      const done = await waitForStatus(quick.url, r.body.id, ['SUCCEEDED', 'FAILED'], 20_000);
      expect(done).toMatchObject({ status: 'FAILED', errorCode: 'NAMESPACE_NOT_FOUND' });
    } finally {
      s.emulator.faults.remove(fault);
      await quick.close();
    }
  });

  it('a cluster answering 503: CLUSTER_UNAVAILABLE with when to retry (REST, GraphQL), nothing stored', async () => {
    const ns = uniqueName('early');
    await createNamespace(s.emulator, ns);
    // A mesh name no request asked for yet: its discovery (cached per cluster and mesh) lists Deployments now.
    const mesh = uniqueName('mesh');
    const rule = s.emulator.faults.add({ verb: 'list', resource: 'deployments', status: 503 });
    try {
      const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, meshName: mesh });
      expect(r.status, JSON.stringify(r.body)).toBe(503);
      expect(r.body.error).toMatchObject({
        code: 'CLUSTER_UNAVAILABLE',
        fields: [{ field: 'cluster' }],
        details: { reason: 'TRANSIENT', retryAfterSeconds: 1 },
      });
      expect(r.headers.get('retry-after')).toBe('1');
      const mutation = `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }`;
      const g = await http(s.url, 'POST', '/graphql', {
        query: mutation,
        variables: { i: { namespace: ns, meshName: mesh } },
      });
      // A resolver's error: the answer is 200 with the error (GraphQL over HTTP), its delay in the extensions.
      expect(g.body.errors[0].extensions).toMatchObject({
        code: 'CLUSTER_UNAVAILABLE',
        details: { reason: 'TRANSIENT', retryAfterSeconds: 1 },
      });
      expect(await stored(ns)).toEqual([]);
    } finally {
      s.emulator.faults.remove(rule);
    }
  });

  it("a cluster whose RBAC refuses the mesh check: 403 KUBE_FORBIDDEN with RBAC's hint, not an outage", async () => {
    const ns = uniqueName('early');
    await createNamespace(s.emulator, ns);
    const mesh = uniqueName('mesh');
    const message =
      'deployments.apps is forbidden: User "system:serviceaccount:x:y" cannot list resource "deployments"';
    const rule = s.emulator.faults.add({
      verb: 'list',
      resource: 'deployments',
      status: 403,
      reason: 'Forbidden',
      message,
    });
    try {
      const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, meshName: mesh });
      expect([r.status, r.body.error?.code, r.body.error?.fields]).toEqual([
        403,
        'KUBE_FORBIDDEN',
        [{ field: 'cluster', message: expect.stringContaining('cannot list resource') }],
      ]);
      expect(r.body.error.hint).toContain('deploy/rbac.yaml');
      expect(r.headers.get('retry-after')).toBeNull();
      expect(await stored(ns)).toEqual([]);
    } finally {
      s.emulator.faults.remove(rule);
    }
  });

  describe("appProtocols naming a Service or port the namespace does not have: the step's code, at once", () => {
    // The API lists the target's Services (only for a request with appProtocols) and runs the app-protocol step's
    // rules on them; without that read the worker labels the namespace before the step fails.
    const mutation = `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }`;

    const createApi = (ns: string, ports: Ports) =>
      s.emulator.store.create({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'api', namespace: ns, labels: { app: 'api' } },
        spec: { selector: { app: 'api' }, ports },
      });
    /** An app namespace (Service app-0, port http 8080), with a Service `api` of these ports when given. */
    async function appNamespace(prefix: string, api: Ports | null): Promise<string> {
      const ns = uniqueName(prefix);
      seedAppNamespace(s.emulator.store, ns, { deployments: 1 });
      if (api) createApi(ns, api);
      await s.emulator.idle();
      return ns;
    }

    const apiPort = (port: string | number, appProtocol: string) => ({ service: 'api', port, appProtocol });
    // [what, the Service api in the refused namespace, appProtocols, code, field, message]; every one of them fits a
    // namespace whose Service api has the ports http (80) and grpc (9090).
    const cases: [string, Ports | null, object[], string, string, string][] = [
      [
        'a Service it does not have',
        null,
        [apiPort('grpc', 'grpc')],
        'SERVICE_PORT_NOT_FOUND',
        'appProtocols.0.service',
        'Service api not found in namespace',
      ],
      [
        'a port name its Service does not have',
        [{ name: 'http', port: 80 }],
        [apiPort('http', 'http'), apiPort('grpc', 'grpc')],
        'SERVICE_PORT_NOT_FOUND',
        'appProtocols.1.port',
        'has no port named "grpc"',
      ],
      [
        'a port number its Service does not have',
        [{ name: 'http', port: 80 }],
        [apiPort(9090, 'grpc')],
        'SERVICE_PORT_NOT_FOUND',
        'appProtocols.0.port',
        'has no port 9090',
      ],
      [
        'one port by name and by number with different values',
        [{ name: 'grpc', port: 80 }],
        [apiPort('grpc', 'grpc'), apiPort(80, 'http')],
        'VALIDATION_FAILED',
        'appProtocols.1.appProtocol',
        'port "grpc" of Service api is given twice',
      ],
    ];

    it.each(cases)(
      "%s: 422 with the step's code naming the item over REST, GraphQL, plans and batches; nothing stored or written",
      async (_what, api, appProtocols, code, field, says) => {
        const ns = await appNamespace('svc', api);
        const good = await appNamespace('svc-ok', [
          { name: 'http', port: 80 },
          { name: 'grpc', port: 9090 },
        ]);
        const writes = writesTo(s.emulator);
        const body = { namespace: ns, appProtocols };
        const refused = (r: { status: number; body: any }) => {
          expect(r.status, JSON.stringify(r.body)).toBe(422);
          expect(r.body.error).toMatchObject({ code, fields: [{ field, message: expect.stringContaining(says) }] });
        };
        refused(await http(s.url, 'POST', '/v1/onboardings', body));
        refused(await http(s.url, 'POST', '/v1/onboardings', { ...body, dryRun: true }));
        refused(await http(s.url, 'POST', '/v1/onboardings/plan', body));
        const g = await gql(s.url, mutation, { i: body });
        expect(g.errors[0].extensions).toMatchObject({ code, fields: [{ field }] });
        // A batch is all or nothing: the target that has the ports is not stored either.
        const batch = await http(s.url, 'POST', '/v1/batches', {
          kind: 'ONBOARD',
          targets: [{ namespace: good }, { namespace: ns }],
          options: { appProtocols },
        });
        expect(batch.status, JSON.stringify(batch.body)).toBe(422);
        expect(batch.body.error.fields).toEqual([
          { field: `options.${field}`, message: expect.stringMatching(new RegExp(`${says}.*\\(${code}\\)`)) },
        ]);
        expect(await stored(ns)).toEqual([]);
        expect(await stored(good)).toEqual([]);
        expect(writesTo(s.emulator)).toBe(writes);

        // Without the request-time read: accepted, and the worker refuses it with the same code before its first
        // write (the app-protocol step's preflight, ahead of the namespace step's label): still nothing written.
        const accepted = await http(lazy.url, 'POST', '/v1/onboardings', body);
        expect(accepted.status).toBe(202);
        const done = await waitForStatus(lazy.url, accepted.body.id, ['SUCCEEDED', 'FAILED'], 30_000);
        expect(done).toMatchObject({ status: 'FAILED', errorCode: code });
        expect(writesTo(s.emulator)).toBe(writes);
      },
    );

    it('a Service and port it has go through; a refusal rests on a fresh read (a new Service counts)', async () => {
      const ns = await appNamespace('svc-late', null);
      const appProtocols = [
        { service: 'app-0', port: 'http', appProtocol: 'http' },
        { service: 'app-0', port: 8080, appProtocol: 'http' }, // the same port by number, the same value
        apiPort('grpc', 'grpc'),
      ];
      const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, appProtocols });
      expect(r.body.error).toMatchObject({
        code: 'SERVICE_PORT_NOT_FOUND',
        fields: [{ field: 'appProtocols.2.service' }],
      });
      createApi(ns, [{ name: 'grpc', port: 9090 }]);
      // At once, although the list read a moment ago (and cached) has no Service api.
      const ok = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, appProtocols });
      expect(ok.status, JSON.stringify(ok.body)).toBe(202);
      expect(await waitForStatus(s.url, ok.body.id, ['SUCCEEDED', 'FAILED'], 30_000)).toMatchObject({
        status: 'SUCCEEDED',
      });
      const portOf = (name: string) =>
        s.emulator.store.get<any>({ apiVersion: 'v1', kind: 'Service', namespace: ns, name })!.spec.ports[0];
      expect(portOf('app-0').appProtocol).toBe('http');
      expect(portOf('api').appProtocol).toBe('grpc');
    });

    it('accepts when the Service list gets no answer within PRECHECK_TIMEOUT_MS, and the worker decides', async () => {
      const quick = await startStack({ emulator: s.emulator, env: { PRECHECK_TIMEOUT_MS: '500' } });
      const ns = await appNamespace('svc-slow', null);
      const services = { verb: 'list', resource: 'services', namespace: ns };
      const fault = s.emulator.faults.add({ ...services, latencyMs: 5000, times: 1 });
      try {
        const started = Date.now();
        const body = { namespace: ns, appProtocols: [apiPort('http', 'http')] }; // no Service api
        const r = await http(quick.url, 'POST', '/v1/onboardings', body);
        const answered = Date.now();
        expect(answered - started).toBeLessThan(4500); // the deadline, not the 5 s answer
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        const done = await waitForStatus(quick.url, r.body.id, ['SUCCEEDED', 'FAILED'], 30_000);
        expect(done).toMatchObject({ status: 'FAILED', errorCode: 'SERVICE_PORT_NOT_FOUND' });
        // The slow list was the API's, made before it answered (logged when the emulator answers it, 5 s later).
        const slow = () =>
          s.emulator.requests
            .all()
            .filter((e) => e.verb === 'list' && e.resource === 'services' && e.namespace === ns && e.at < answered);
        await vi.waitFor(() => expect(slow().map((e) => e.durationMs >= 4900)).toEqual([true]), { timeout: 8000 });
      } finally {
        s.emulator.faults.remove(fault);
        await quick.close();
      }
    });
  });
});
