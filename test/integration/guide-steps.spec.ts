import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import {
  collectProgress,
  gql,
  http,
  startStack,
  Stack,
  uniqueName,
  waitForStatus,
  wsClient,
} from '../support/harness.js';
import { namespaceMeta, writesTo } from '../support/kube.js';

const MESH_CONFIG = {
  apiVersion: 'config.openservicemesh.io/v1alpha2',
  kind: 'MeshConfig',
  namespace: 'osm-system',
  name: 'osm-mesh-config',
};

/** Every guide step switched on. */
function everything(namespace: string) {
  return {
    namespace,
    apiServerAccess: { method: 'ip-exclusion' },
    trafficPolicy: {
      mode: 'smi',
      smi: {
        httpRouteGroups: [{ name: 'routes', spec: { matches: [{ name: 'all', pathRegex: '.*', methods: ['*'] }] } }],
        trafficTargets: [
          {
            name: 'app-1-to-app-0',
            spec: {
              destination: { kind: 'ServiceAccount', name: 'app-0' },
              sources: [{ kind: 'ServiceAccount', name: 'app-1' }],
              rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['all'] }],
            },
          },
        ],
      },
    },
    metrics: true,
    appProtocols: [{ service: 'app-0', port: 'http', appProtocol: 'http' }],
    restart: { mode: 'all' },
    verify: { timeoutSeconds: 20 },
  };
}

describe('the whole onboarding guide as steps', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
  });
  afterAll(() => s.close());

  function seed(prefix: string, deployments = 2) {
    const ns = uniqueName(prefix);
    seedAppNamespace(s.emulator.store, ns, { deployments, replicas: 1 });
    return ns;
  }

  function snapshot(ns: string) {
    const st = s.emulator.store;
    const meshConfig = st.get<any>(MESH_CONFIG)!;
    const nsObj = st.get<any>({ apiVersion: 'v1', kind: 'Namespace', name: ns })!;
    const owned = ['Egress', 'TrafficTarget', 'HTTPRouteGroup', 'TCPRoute', 'TrafficSplit'].flatMap((kind) => {
      const apiVersion = {
        Egress: 'policy.openservicemesh.io/v1alpha1',
        TrafficTarget: 'access.smi-spec.io/v1alpha3',
        HTTPRouteGroup: 'specs.smi-spec.io/v1alpha4',
        TCPRoute: 'specs.smi-spec.io/v1alpha4',
        TrafficSplit: 'split.smi-spec.io/v1alpha4',
      }[kind]!;
      return st.list<any>(apiVersion, kind, { namespace: ns }).map((o) => `${kind}/${o.metadata.name}`);
    });
    const pods = st.list<any>('v1', 'Pod', { namespace: ns }).filter((p) => !p.metadata.deletionTimestamp);
    return {
      exclusions: meshConfig.spec.traffic.outboundIPRangeExclusionList ?? [],
      labels: nsObj.metadata.labels,
      annotations: nsObj.metadata.annotations ?? {},
      owned,
      podsWithSidecar: pods.filter((p: any) => p.spec.containers.some((c: any) => c.name === 'sidecar')).length,
      pods: pods.length,
    };
  }

  it('plans every step over REST and GraphQL with the exact writes, writing nothing', async () => {
    const ns = seed('plan');
    await s.emulator.idle();
    const before = writesTo(s.emulator);
    const rest = await http(s.url, 'POST', '/v1/onboardings/plan', everything(ns));
    expect(rest.status).toBe(200);
    expect(rest.body.blocked).toBe(false);
    expect(rest.body.steps.map((st: any) => st.name)).toEqual([
      'prerequisites',
      'mesh',
      'api-server-access',
      'traffic-policy',
      'namespace',
      'metrics',
      'app-protocol',
      'restart',
      'verify',
    ]);
    const byName = Object.fromEntries(rest.body.steps.map((st: any) => [st.name, st]));
    expect(byName.namespace.changes[0]).toMatchObject({
      action: 'patch',
      patchType: 'strategic',
      target: { kind: 'Namespace', name: ns },
    });
    expect(byName.restart.changes.map((c: any) => c.target.name)).toEqual(['app-0', 'app-1']);
    expect(byName.restart.changes[0].body.spec.template.metadata.annotations).toHaveProperty([
      'kubectl.kubernetes.io/restartedAt',
    ]);
    expect(
      byName['api-server-access'].changes.some((c: any) => c.target.kind === 'MeshConfig' && c.patchType === 'json'),
    ).toBe(true);
    expect(byName['traffic-policy'].changes.map((c: any) => `${c.action} ${c.target.kind}`)).toEqual([
      'create HTTPRouteGroup',
      'create TrafficTarget',
    ]);
    expect(byName['app-protocol'].changes[0]).toMatchObject({
      patchType: 'json',
      target: { kind: 'Service', name: 'app-0' },
    });

    const g = await gql(
      s.url,
      `query($i: OnboardingInput!) { planOnboarding(input: $i) { blocked steps { name changes summary error { code ` +
        `} } diagnostics { code level } } }`,
      {
        i: everything(ns),
      },
    );
    expect(g.errors).toBeUndefined();
    expect(g.data.planOnboarding.steps.map((st: any) => st.name)).toEqual(rest.body.steps.map((st: any) => st.name));
    expect(writesTo(s.emulator)).toBe(before);
    // A blocked plan: an application runs as the sidecar's UID.
    const uid = seed('uid', 1);
    s.emulator.store.patch({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: uid, name: 'app-0' }, 'merge', {
      spec: { template: { spec: { securityContext: { runAsUser: 1500 } } } },
    });
    const blocked = await http(s.url, 'POST', '/v1/onboardings/plan', { namespace: uid });
    expect(blocked.body.blocked).toBe(true);
    expect(blocked.body.steps.find((st: any) => st.error)?.error.code).toBe('PREREQUISITES_FAILED');
    // What the API can know without planning is refused outright (early-refusals.spec.ts).
    expect((await http(s.url, 'POST', '/v1/onboardings/plan', { namespace: uniqueName('missing') })).status).toBe(422);
  });

  it('runs a full onboarding with every step, then an offboarding that restores the cluster', async () => {
    const ns = seed('full');
    await s.emulator.idle();
    const initial = snapshot(ns);
    expect(initial.podsWithSidecar).toBe(0);

    const created = await http(s.url, 'POST', '/v1/onboardings', everything(ns));
    expect(created.status).toBe(202);
    const client = wsClient(s.url);
    const { events } = await collectProgress(client, created.body.id);
    await client.dispose();
    const done = await waitForStatus(s.url, created.body.id, ['SUCCEEDED', 'FAILED'], 30_000);
    expect(done.errorMessage).toBeNull();
    expect(done.status).toBe('SUCCEEDED');
    expect(done.steps.map((st: any) => [st.name, st.result])).toEqual([
      ['prerequisites', 'UNCHANGED'],
      ['mesh', 'UNCHANGED'],
      ['api-server-access', 'CHANGED'],
      ['traffic-policy', 'CHANGED'],
      ['namespace', 'CHANGED'],
      ['metrics', 'CHANGED'],
      ['app-protocol', 'CHANGED'],
      ['restart', 'CHANGED'],
      ['verify', 'UNCHANGED'],
    ]);
    // Each writing step shows in the stream and the audit with its exact writes and before-image.
    for (const step of ['api-server-access', 'traffic-policy', 'namespace', 'metrics', 'app-protocol', 'restart']) {
      const applying = events.find((e) => e.type === 'step.applying' && e.step === step);
      expect(applying?.data.changes.length, step).toBeGreaterThan(0);
      expect(applying?.data).toHaveProperty('before');
    }
    const after = snapshot(ns);
    expect(after.exclusions).toContain('10.96.0.1/32');
    expect(after.labels['openservicemesh.io/monitored-by']).toBe('osm');
    expect(after.annotations['openservicemesh.io/metrics']).toBe('enabled');
    expect(after.owned.sort()).toEqual(['HTTPRouteGroup/routes', 'TrafficTarget/app-1-to-app-0']);
    expect(after.podsWithSidecar).toBe(2);
    expect(after.pods).toBe(2);
    const svc = s.emulator.store.get<any>({ apiVersion: 'v1', kind: 'Service', namespace: ns, name: 'app-0' })!;
    expect(svc.spec.ports[0].appProtocol).toBe('http');
    // Every write named its writer, so managedFields say what osm-onboarding set (issue 11, item 2).
    const writes = s.emulator.requests
      .all()
      .filter((r) => ['create', 'update', 'patch'].includes(r.verb) && (r.namespace === ns || r.name === ns));
    expect(writes.length).toBeGreaterThanOrEqual(6);
    for (const w of writes) expect(new URLSearchParams(w.query).get('fieldManager'), w.path).toBe('osm-onboarding');
    const ours = (obj: any): string[] =>
      (obj.metadata.managedFields ?? []).flatMap((e: any) => (e.manager === 'osm-onboarding' ? [e.operation] : []));
    const get = (apiVersion: string, kind: string, name: string, namespace?: string) =>
      s.emulator.store.get<any>({ apiVersion, kind, name, namespace })!;
    expect(ours(get('v1', 'Namespace', ns))).toEqual(['Update']);
    expect(ours(svc)).toEqual(['Update']);
    expect(ours(get('apps/v1', 'Deployment', 'app-0', ns))).toEqual(['Update']);
    expect(ours(get('specs.smi-spec.io/v1alpha4', 'HTTPRouteGroup', 'routes', ns))).toEqual(['Update']);
    expect(ours(s.emulator.store.get<any>(MESH_CONFIG))).toEqual(['Update']);
    const verify = done.steps.find((st: any) => st.name === 'verify');
    expect(verify.output.facts.deployments).toEqual([
      expect.objectContaining({ deployment: 'app-0', inMesh: 1, withoutSidecar: 0 }),
      expect.objectContaining({ deployment: 'app-1', inMesh: 1, withoutSidecar: 0 }),
    ]);

    const off = await http(s.url, 'POST', '/v1/offboardings', {
      namespace: ns,
      restart: { mode: 'all' },
      deleteOwnedPolicies: true,
      removeApiServerExclusion: true,
    });
    const offDone = await waitForStatus(s.url, off.body.id, ['SUCCEEDED', 'FAILED'], 30_000);
    expect(offDone.errorMessage).toBeNull();
    expect(offDone.steps.map((st: any) => [st.name, st.result])).toEqual([
      ['namespace-removal', 'CHANGED'],
      ['policy-cleanup', 'CHANGED'],
      ['api-server-access-removal', 'CHANGED'],
      ['restart', 'CHANGED'],
      ['verify', 'UNCHANGED'],
    ]);
    const restored = snapshot(ns);
    expect(restored).toEqual(initial);
  });

  it("takes every step's options through the GraphQL mutation as well", async () => {
    const ns = seed('gql-full');
    await s.emulator.idle();
    const { data, errors } = await gql(
      s.url,
      `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id steps { name } } }`,
      { i: everything(ns) },
    );
    expect(errors).toBeUndefined();
    expect(data.requestOnboarding.steps.map((st: any) => st.name)).toEqual([
      'prerequisites',
      'mesh',
      'api-server-access',
      'traffic-policy',
      'namespace',
      'metrics',
      'app-protocol',
      'restart',
      'verify',
    ]);
    const done = await waitForStatus(s.url, data.requestOnboarding.id, ['SUCCEEDED', 'FAILED'], 30_000);
    expect(done.status).toBe('SUCCEEDED');
    expect(snapshot(ns).owned.sort()).toEqual(['HTTPRouteGroup/routes', 'TrafficTarget/app-1-to-app-0']);
    const off = await gql(
      s.url,
      `mutation($i: OffboardingInput!) { requestOffboarding(input: $i) { id steps { name } } }`,
      { i: { namespace: ns, restart: { mode: 'all' }, deleteOwnedPolicies: true, removeApiServerExclusion: true } },
    );
    expect(off.errors).toBeUndefined();
    expect((await waitForStatus(s.url, off.data.requestOffboarding.id, ['SUCCEEDED', 'FAILED'], 30_000)).status).toBe(
      'SUCCEEDED',
    );
    expect(snapshot(ns).owned).toEqual([]);
  });

  it('restart needed, twice: the second run restarts nothing', async () => {
    const ns = seed('twice', 1);
    await s.emulator.idle();
    const body = { namespace: ns, prerequisites: { enabled: false }, restart: { mode: 'needed' } };
    const first = await waitForStatus(
      s.url,
      (await http(s.url, 'POST', '/v1/onboardings', body)).body.id,
      ['SUCCEEDED', 'FAILED'],
      20_000,
    );
    expect(first.steps.find((st: any) => st.name === 'restart').result).toBe('CHANGED');
    const rv = s.emulator.store.get<any>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'app-0' })!
      .metadata.resourceVersion;
    const second = await waitForStatus(
      s.url,
      (await http(s.url, 'POST', '/v1/onboardings', body)).body.id,
      ['SUCCEEDED', 'FAILED'],
      20_000,
    );
    expect(second.steps.map((st: any) => st.result)).toEqual(second.steps.map(() => 'UNCHANGED'));
    expect(
      s.emulator.store.get<any>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'app-0' })!.metadata
        .resourceVersion,
    ).toBe(rv);
  });

  /** Creates a request and waits for it to end. */
  async function run(path: string, body: object) {
    const created = await http(s.url, 'POST', path, body);
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    return waitForStatus(s.url, created.body.id, ['SUCCEEDED', 'FAILED'], 20_000);
  }

  it("restart all is kubectl's: every Deployment once per request, stamped in kubectl's format", async () => {
    const ns = seed('all', 2);
    await s.emulator.idle();
    const body = { namespace: ns, prerequisites: { enabled: false }, restart: { mode: 'all' } };
    const byName = (a: any, b: any) => a.metadata.name.localeCompare(b.metadata.name);
    const deployments = () => s.emulator.store.list<any>('apps/v1', 'Deployment', { namespace: ns }).sort(byName);
    const stamps = () => deployments().map((d) => d.spec.template.metadata.annotations);
    const stampOf = (r: any) => ({
      'kubectl.kubernetes.io/restartedAt': r.createdAt.replace(/\.\d+Z$/, 'Z'), // RFC 3339, whole seconds
      'osm-onboarding.flomesh.io/restarted-by': r.id,
    });
    const first = await run('/v1/onboardings', body);
    expect(first.status).toBe('SUCCEEDED');
    expect(stamps()).toEqual([stampOf(first), stampOf(first)]);
    // The pods have their sidecars now; a new request with mode all restarts both again (kubectl's
    // meaning), even within the same second as the first.
    const generations = deployments().map((d) => d.metadata.generation);
    const second = await run('/v1/onboardings', body);
    const restart = second.steps.find((st: any) => st.name === 'restart');
    expect(restart.result).toBe('CHANGED');
    expect(restart.output.facts.deployments).toEqual([
      expect.objectContaining({ deployment: 'app-0', restart: true }),
      expect.objectContaining({ deployment: 'app-1', restart: true }),
    ]);
    expect(stamps()).toEqual([stampOf(second), stampOf(second)]);
    // A new template: a real rollout.
    expect(deployments().map((d) => d.metadata.generation)).toEqual(generations.map((g) => g + 1));
  });

  it('restart needed re-creates already-injected pods when the request adds the API server exclusion', async () => {
    const ns = seed('exclude', 2);
    await s.emulator.idle();
    const base = { namespace: ns, prerequisites: { enabled: false }, restart: { mode: 'needed' } };
    expect((await run('/v1/onboardings', base)).status).toBe('SUCCEEDED');
    expect(snapshot(ns).podsWithSidecar).toBe(2);
    expect(snapshot(ns).exclusions).not.toContain('10.96.0.1/32');
    const body = { ...base, apiServerAccess: { method: 'ip-exclusion' } };

    const plan = await http(s.url, 'POST', '/v1/onboardings/plan', body);
    const planned = plan.body.steps.find((st: any) => st.name === 'restart');
    expect(planned.changes.map((c: any) => c.target.name)).toEqual(['app-0', 'app-1']);
    expect(planned.facts.deployments.map((d: any) => d.reason)).toEqual([
      expect.stringContaining('changed the API server exclusion list'),
      expect.stringContaining('changed the API server exclusion list'),
    ]);

    const uids = () => s.emulator.store.list<any>('v1', 'Pod', { namespace: ns }).map((p) => p.metadata.uid);
    const podsBefore = uids();
    const done = await run('/v1/onboardings', body);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.steps.find((st: any) => st.name === 'api-server-access').result).toBe('CHANGED');
    expect(done.steps.find((st: any) => st.name === 'restart').output.changes).toHaveLength(2);
    await s.emulator.idle();
    expect(uids().some((u: string) => podsBefore.includes(u))).toBe(false); // every pod re-created
    expect(snapshot(ns).podsWithSidecar).toBe(2);

    // Again: the exclusion is in place, so nothing needs a restart.
    const again = await run('/v1/onboardings', body);
    expect(again.steps.find((st: any) => st.name === 'restart').result).toBe('UNCHANGED');
    expect((await run('/v1/offboardings', { namespace: ns, removeApiServerExclusion: true })).status).toBe('SUCCEEDED');
  });

  it('warns about StatefulSet/DaemonSet pods keeping the old exclusion list (only Deployments restart)', async () => {
    const ns = seed('exclude-others', 1);
    await s.emulator.idle();
    const base = { namespace: ns, prerequisites: { enabled: false }, restart: { mode: 'needed' } };
    expect((await run('/v1/onboardings', base)).status).toBe('SUCCEEDED');
    // A StatefulSet and a DaemonSet started in the mesh: their pods are injected, with the exclusion list of now.
    for (const [kind, name] of [
      ['StatefulSet', 'db'],
      ['DaemonSet', 'agent'],
    ]) {
      const labels = { app: name };
      s.emulator.store.create({
        apiVersion: 'apps/v1',
        kind,
        metadata: { name, namespace: ns, labels },
        spec: {
          ...(kind === 'StatefulSet' ? { replicas: 1, serviceName: name } : {}),
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name, image: 'busybox:1.36' }] } },
        },
      });
    }
    await s.emulator.idle();
    const pods = () =>
      s.emulator.store.list<any>('v1', 'Pod', { namespace: ns }).filter((p) => !p.metadata.deletionTimestamp);
    const podOf = (owner: string) => pods().find((p) => p.metadata.ownerReferences?.[0]?.name === owner)!.metadata.name;
    const [db, agent] = [podOf('db'), podOf('agent')];
    expect(snapshot(ns)).toMatchObject({ podsWithSidecar: 3, pods: 3 });
    expect(snapshot(ns).exclusions).not.toContain('10.96.0.1/32');
    const body = { ...base, apiServerAccess: { method: 'ip-exclusion' } };
    const stale = (diagnostics: any[]) =>
      diagnostics
        .filter((d) => d.code === 'OSM_POD_NOT_REINJECTED')
        .map((d) => [d.level, d.object, d.hint])
        .sort();
    const expected = [
      ['warning', `Pod/${agent}`, `kubectl rollout restart daemonset/agent -n ${ns}`],
      ['warning', `Pod/${db}`, `kubectl rollout restart statefulset/db -n ${ns}`],
    ].sort();

    // The plan says so already: the change is to come, every pod predates it.
    const plan = await http(s.url, 'POST', '/v1/onboardings/plan', body);
    expect(stale(plan.body.steps.find((st: any) => st.name === 'verify').diagnostics)).toEqual(expected);

    const done = await run('/v1/onboardings', body);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.steps.find((st: any) => st.name === 'api-server-access').result).toBe('CHANGED');
    expect(done.steps.find((st: any) => st.name === 'restart').output.changes.map((c: any) => c.target.name)).toEqual([
      'app-0',
    ]);
    const verify = done.steps.find((st: any) => st.name === 'verify').output;
    expect(stale(verify.diagnostics)).toEqual(expected);
    const dbWarning = verify.diagnostics.find((d: any) => d.object === `Pod/${db}`);
    expect(dbWarning.message).toContain('StatefulSet/db');
    expect(verify.summary).toContain('2 other pod(s) to re-create for the new exclusion list');
    // From the pod list verify reads anyway (the Deployments come from the restart step): one call.
    expect(verify.apiCalls).toBe(1);

    // Re-created as the hints say: their injection has the new list; the request again changes nothing, warns nothing.
    for (const kind of ['StatefulSet', 'DaemonSet']) {
      const key = { apiVersion: 'apps/v1', kind, namespace: ns, name: kind === 'StatefulSet' ? 'db' : 'agent' };
      s.emulator.store.patch(key, 'merge', {
        spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'now' } } } },
      });
    }
    await s.emulator.idle();
    const again = await run('/v1/onboardings', body);
    expect(again.steps.find((st: any) => st.name === 'api-server-access').result).toBe('UNCHANGED');
    expect(stale(again.steps.find((st: any) => st.name === 'verify').output.diagnostics)).toEqual([]);
    expect((await run('/v1/offboardings', { namespace: ns, removeApiServerExclusion: true })).status).toBe('SUCCEEDED');
  });

  it('enables metrics on the namespace and already-injected pods, then finds nothing to do', async () => {
    const ns = seed('metrics', 1);
    await s.emulator.idle();
    const base = { namespace: ns, prerequisites: { enabled: false } };
    await waitForStatus(
      s.url,
      (await http(s.url, 'POST', '/v1/onboardings', { ...base, restart: { mode: 'all' } })).body.id,
      ['SUCCEEDED'],
      20_000,
    );
    const first = await waitForStatus(
      s.url,
      (await http(s.url, 'POST', '/v1/onboardings', { ...base, metrics: true })).body.id,
      ['SUCCEEDED', 'FAILED'],
    );
    const metrics = first.steps.find((st: any) => st.name === 'metrics');
    expect(metrics.result, JSON.stringify(first.steps.map((st: any) => [st.name, st.status, st.errorMessage]))).toBe(
      'CHANGED',
    );
    expect(metrics.output.changes.map((c: any) => c.target.kind)).toEqual(['Namespace', 'Pod']);
    const pods = s.emulator.store
      .list<any>('v1', 'Pod', { namespace: ns })
      .filter((p) => !p.metadata.deletionTimestamp);
    expect(pods.map((p) => p.metadata.annotations?.['prometheus.io/port'])).toEqual(['15010']);
    expect((await namespaceMeta(s.emulator, ns)).annotations['openservicemesh.io/metrics']).toBe('enabled');
    const second = await waitForStatus(
      s.url,
      (await http(s.url, 'POST', '/v1/onboardings', { ...base, metrics: true })).body.id,
      ['SUCCEEDED', 'FAILED'],
    );
    expect(second.steps.find((st: any) => st.name === 'metrics').result).toBe('UNCHANGED');
  });

  it('skips a paused deployment with a warning and restarts the others', async () => {
    const ns = seed('paused');
    await s.emulator.idle();
    s.emulator.store.patch({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'app-1' }, 'merge', {
      spec: { paused: true },
    });
    const r = await http(s.url, 'POST', '/v1/onboardings', {
      namespace: ns,
      prerequisites: { enabled: false },
      restart: { mode: 'all' },
      verify: { timeoutSeconds: 1 },
    });
    const done = await waitForStatus(s.url, r.body.id, ['SUCCEEDED', 'FAILED'], 20_000);
    const restart = done.steps.find((st: any) => st.name === 'restart');
    expect(restart.output.changes.map((c: any) => c.target.name)).toEqual(['app-0']);
    expect(restart.output.diagnostics).toEqual([
      expect.objectContaining({ code: 'OSM_RESTART_PAUSED', level: 'warning', object: 'Deployment/app-1' }),
    ]);
    // app-1 was not restarted, so its pod has no sidecar: verify says so and does not wait for it (a wait that could
    // only fail, and whose retry would never restart it).
    expect(done.status).toBe('SUCCEEDED');
    const verify = done.steps.find((st: any) => st.name === 'verify');
    expect(verify.output.diagnostics).toContainEqual(
      expect.objectContaining({ code: 'OSM_DEPLOYMENT_NOT_RESTARTED', object: 'Deployment/app-1' }),
    );
  });

  it('stores a dry run as PLANNED, applies it later and reports what drifted in between', async () => {
    const ns = seed('dry', 1);
    await s.emulator.idle();
    const planned = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, dryRun: true });
    expect(planned.status).toBe(202);
    expect(planned.body.status).toBe('PLANNED');
    const nsStep = planned.body.request.steps.find((st: any) => st.name === 'namespace');
    expect(nsStep.output.planned.changes).toHaveLength(1);
    expect((await namespaceMeta(s.emulator, ns)).labels['openservicemesh.io/monitored-by']).toBeUndefined();

    // Someone labels the namespace by hand before the plan is applied.
    s.emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: ns }, 'merge', {
      metadata: {
        labels: { 'openservicemesh.io/monitored-by': 'osm' },
        annotations: { 'openservicemesh.io/sidecar-injection': 'enabled' },
      },
    });
    const applied = await http(s.url, 'POST', `/v1/onboardings/${planned.body.id}/apply`);
    expect(applied.status).toBe(202);
    const done = await waitForStatus(s.url, planned.body.id, ['SUCCEEDED', 'FAILED']);
    expect(done.steps.find((st: any) => st.name === 'namespace').result).toBe('UNCHANGED');
    const audit = await http(s.url, 'GET', `/v1/onboardings/${planned.body.id}/audit`);
    const drift = audit.body.items.filter((e: any) => e.action === 'step.drifted');
    expect(drift.map((e: any) => e.step)).toEqual(['namespace']);
    expect(drift[0].data.actual).toEqual([]);
    expect((await http(s.url, 'POST', `/v1/onboardings/${planned.body.id}/apply`)).body.error.code).toBe(
      'REQUEST_NOT_PLANNED',
    );
  });

  it('sets appProtocol on an unnamed port by its number, over REST and GraphQL, planned then applied', async () => {
    const ns = seed('unnamed', 1);
    s.emulator.store.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'cache', namespace: ns },
      spec: { selector: { app: 'app-0' }, ports: [{ port: 6379, targetPort: 6379 }] },
    });
    await s.emulator.idle();
    const entry = { service: 'cache', port: 6379, appProtocol: 'tcp' };
    const body = { namespace: ns, prerequisites: { enabled: false }, appProtocols: [entry] };
    const plan = await http(s.url, 'POST', '/v1/onboardings/plan', body);
    expect(plan.status).toBe(200);
    const planned = plan.body.steps.find((st: any) => st.name === 'app-protocol');
    expect(planned.changes[0].body[1]).toEqual({ op: 'add', path: '/spec/ports/0/appProtocol', value: 'tcp' });
    const query = `query($i: OnboardingInput!) { planOnboarding(input: $i) { steps { name changes } } }`;
    const viaVariable = await gql(s.url, query, { i: body });
    expect(viaVariable.errors).toBeUndefined();
    const literal = `{ planOnboarding(input: { namespace: "${ns}",
      appProtocols: [{ service: "cache", port: 6379, appProtocol: "tcp" }] }) { steps { name changes } } }`;
    const viaLiteral = await gql(s.url, literal);
    expect(viaLiteral.errors).toBeUndefined();
    const stepOf = (steps: any[]) => steps.find((st: any) => st.name === 'app-protocol');
    for (const g of [viaVariable, viaLiteral]) {
      expect(stepOf(g.data.planOnboarding.steps).changes).toEqual(planned.changes);
    }
    const bad = await gql(s.url, query, { i: { ...body, appProtocols: [{ ...entry, port: 6379.5 }] } });
    expect(bad.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const zero = { ...body, appProtocols: [{ ...entry, port: 0 }] };
    const outOfRange = await http(s.url, 'POST', '/v1/onboardings/plan', zero);
    expect(outOfRange.body.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      fields: [{ field: 'appProtocols.0.port' }],
    });

    const mutation = `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }`;
    const { data } = await gql(s.url, mutation, { i: body });
    const done = await waitForStatus(s.url, data.requestOnboarding.id, ['SUCCEEDED', 'FAILED'], 30_000);
    expect(stepOf(done.steps)).toMatchObject({ status: 'SUCCEEDED', result: 'CHANGED' });
    const svc = s.emulator.store.get<any>({ apiVersion: 'v1', kind: 'Service', namespace: ns, name: 'cache' })!;
    expect(svc.spec.ports).toEqual([expect.objectContaining({ port: 6379, appProtocol: 'tcp' })]);
  });

  it('applies an unchanged plan of every step without reporting drift (JSONB reorders the stored keys)', async () => {
    const ns = seed('nodrift');
    await s.emulator.idle();
    const planned = await http(s.url, 'POST', '/v1/onboardings', { ...everything(ns), dryRun: true });
    expect(planned.body.status).toBe('PLANNED');
    const stored = planned.body.request.steps.filter((st: any) => st.output?.planned?.changes?.length);
    expect(stored.length).toBeGreaterThanOrEqual(5); // several steps with real writes, through Postgres
    const applied = await http(s.url, 'POST', `/v1/onboardings/${planned.body.id}/apply`);
    expect(applied.status).toBe(202);
    const done = await waitForStatus(s.url, planned.body.id, ['SUCCEEDED', 'FAILED'], 30_000);
    expect(done.status).toBe('SUCCEEDED');
    const audit = await http(s.url, 'GET', `/v1/onboardings/${planned.body.id}/audit`);
    expect(audit.body.items.filter((e: any) => e.action === 'step.drifted')).toEqual([]);
  });

  it('refuses bad step options with field names, before anything is stored', async () => {
    const r = await http(s.url, 'POST', '/v1/onboardings', {
      namespace: 'bookstore',
      apiServerAccess: { method: 'egress' },
      trafficPolicy: { mode: 'smi' },
      restart: { mode: 'selected' },
      appProtocols: [{ service: 'bookstore', port: 'http', appProtocol: 'HTTP' }],
    });
    expect(r.status).toBe(422);
    expect(r.body.error.fields.map((f: any) => f.field).sort()).toEqual([
      'apiServerAccess.serviceAccounts',
      'appProtocols.0.appProtocol',
      'restart.deployments',
      'trafficPolicy.smi',
    ]);
  });

  it('refuses an HTTPRouteGroup header item osm-edge cannot decode with SMI_HEADER_MATCH_INVALID', async () => {
    const ns = seed('headers', 1);
    const routes = (headers: unknown) => ({
      namespace: ns,
      trafficPolicy: {
        mode: 'smi',
        smi: { httpRouteGroups: [{ name: 'r', spec: { matches: [{ name: 'm', headers }] } }] },
      },
    });
    const before = writesTo(s.emulator);
    const rest = await http(s.url, 'POST', '/v1/onboardings', routes([{ 'x-user': 'admin', 'x-env': 'prod' }]));
    expect(rest.status).toBe(422);
    expect(rest.body.error).toMatchObject({
      code: 'SMI_HEADER_MATCH_INVALID',
      fields: [{ field: 'trafficPolicy.smi.httpRouteGroups.0.spec.matches.0.headers.0' }],
    });
    const mutation = `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }`;
    const g = await gql(s.url, mutation, { i: routes([{ a: '1', b: '2' }]) });
    expect(g.errors[0].extensions).toMatchObject({ code: 'SMI_HEADER_MATCH_INVALID' });
    const listed = await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`);
    expect(listed.body.items).toEqual([]); // nothing stored
    expect(writesTo(s.emulator)).toBe(before);
    // A plain map is accepted and planned as the CRD's list of one-header maps.
    const plan = await http(s.url, 'POST', '/v1/onboardings/plan', routes({ 'x-user': 'admin', 'x-env': 'prod' }));
    const create = plan.body.steps.find((st: any) => st.name === 'traffic-policy').changes[0];
    expect(create.body.spec.matches[0].headers).toEqual([{ 'x-user': 'admin' }, { 'x-env': 'prod' }]);
  });
});

describe('cancel and retry', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
  });
  afterAll(() => s.close());

  it('cancels a running request between steps and retries it from where it stopped', async () => {
    const ns = uniqueName('cancel');
    seedAppNamespace(s.emulator.store, ns, { deployments: 1 });
    await s.emulator.idle();
    s.emulator.configure({ podStartMs: 1500 }); // the rollout (inside the restart step) takes a while
    try {
      const r = await http(s.url, 'POST', '/v1/onboardings', {
        namespace: ns,
        prerequisites: { enabled: false },
        restart: { mode: 'all' },
      });
      // Wait until the restart step is running, then cancel.
      for (;;) {
        const cur = (await http(s.url, 'GET', `/v1/onboardings/${r.body.id}`)).body;
        if (cur.steps.find((st: any) => st.name === 'restart').status === 'RUNNING') break;
        await new Promise((res) => setTimeout(res, 20));
      }
      const cancel = await http(s.url, 'POST', `/v1/onboardings/${r.body.id}/cancel`, { reason: 'wrong namespace' });
      expect(cancel.status).toBe(200);
      const cancelled = await waitForStatus(s.url, r.body.id, ['CANCELLED', 'SUCCEEDED', 'FAILED'], 20_000);
      expect(cancelled.status).toBe('CANCELLED');
      // The write in progress finished; the next step never started.
      expect(cancelled.steps.map((st: any) => [st.name, st.status])).toEqual([
        ['mesh', 'SUCCEEDED'],
        ['namespace', 'SUCCEEDED'],
        ['restart', 'SUCCEEDED'],
        ['verify', 'CANCELLED'],
      ]);
      const audit = (await http(s.url, 'GET', `/v1/onboardings/${r.body.id}/audit`)).body.items;
      expect(audit.find((e: any) => e.action === 'request.cancel-requested').data.reason).toBe('wrong namespace');
      expect(audit.at(-1)).toMatchObject({ action: 'request.cancelled', data: { stoppedBefore: 'verify' } });

      const retry = await http(s.url, 'POST', `/v1/onboardings/${r.body.id}/retry`);
      expect(retry.status).toBe(202);
      const done = await waitForStatus(s.url, r.body.id, ['SUCCEEDED', 'FAILED'], 20_000);
      expect(done).toMatchObject({ status: 'SUCCEEDED', attempt: 2 });
      const started = (await http(s.url, 'GET', `/v1/onboardings/${r.body.id}/audit`)).body.items.filter(
        (e: any) => e.action === 'step.started',
      );
      expect(started.map((e: any) => e.step)).toEqual(['mesh', 'namespace', 'restart', 'verify']); // nothing ran twice
    } finally {
      s.emulator.configure({ podStartMs: 0 });
    }
  });

  it('cancels a queued request at once, and refuses to cancel a finished one', async () => {
    const ns = uniqueName('cancel-q');
    seedAppNamespace(s.emulator.store, ns);
    const planned = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns, dryRun: true });
    const c = await http(s.url, 'POST', `/v1/onboardings/${planned.body.id}/cancel`, {});
    expect(c.body.status).toBe('CANCELLED');
    expect(c.body.steps.every((st: any) => st.status === 'CANCELLED')).toBe(true);
    const again = await http(s.url, 'POST', `/v1/onboardings/${planned.body.id}/cancel`, {});
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('REQUEST_NOT_CANCELLABLE');
  });

  it('retries a failed request from the failed step, skipping the steps already done', async () => {
    const ns = uniqueName('retry');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    s.emulator.faults.add({ verb: 'patch', resource: 'namespaces', name: ns, status: 403, times: 1 });
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
    const failed = await waitForStatus(s.url, r.body.id, ['FAILED', 'SUCCEEDED']);
    expect(failed).toMatchObject({ status: 'FAILED', errorCode: 'KUBE_FORBIDDEN' });
    expect(failed.steps.find((st: any) => st.name === 'namespace')).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect((await http(s.url, 'POST', `/v1/onboardings/${r.body.id}/retry`)).status).toBe(202);
    const done = await waitForStatus(s.url, r.body.id, ['SUCCEEDED', 'FAILED']);
    expect(done).toMatchObject({ status: 'SUCCEEDED', attempt: 2, errorCode: null });
    expect(done.steps.find((st: any) => st.name === 'namespace')).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });
    expect(done.steps.find((st: any) => st.name === 'prerequisites').attempts).toBe(1);
    const notRetryable = await http(s.url, 'POST', `/v1/onboardings/${r.body.id}/retry`);
    expect(notRetryable.body.error.code).toBe('REQUEST_NOT_RETRYABLE');
  });

  it("fails a restart at once when the Deployment's progress deadline passes, and succeeds retried", async () => {
    const ns = uniqueName('stuck');
    seedAppNamespace(s.emulator.store, ns, { deployments: 1 });
    const app0 = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'app-0' };
    s.emulator.store.patch(app0, 'merge', { spec: { progressDeadlineSeconds: 2 } });
    await s.emulator.idle();
    // The restarted pods run but never turn ready: the controller reports ProgressDeadlineExceeded after 1–2 s,
    // long before the verify timeout (60 s) or the rollout bound (ROLLOUT_TIMEOUT_MS, 300 s by default).
    const hold = s.emulator.pods.holdUnready({ namespace: ns });
    let id: string;
    try {
      const started = Date.now();
      const r = await http(s.url, 'POST', '/v1/onboardings', {
        namespace: ns,
        prerequisites: { enabled: false },
        restart: { mode: 'all' },
        verify: { timeoutSeconds: 60 },
      });
      expect(r.status).toBe(202);
      id = r.body.id;
      const failed = await waitForStatus(s.url, id, ['FAILED', 'SUCCEEDED'], 20_000);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(failed).toMatchObject({ status: 'FAILED', errorCode: 'ROLLOUT_TIMEOUT' });
      expect(failed.errorMessage).toContain('deployment "app-0" exceeded its progress deadline');
      expect(failed.steps.find((st: any) => st.name === 'restart')).toMatchObject({
        status: 'FAILED',
        errorCode: 'ROLLOUT_TIMEOUT',
      });
      expect(failed.steps.find((st: any) => st.name === 'verify').status).not.toBe('SUCCEEDED');
      const stuck = s.emulator.store.get<any>(app0)!;
      expect(stuck.status.conditions.find((c: any) => c.type === 'Progressing').reason).toBe(
        'ProgressDeadlineExceeded',
      );
    } finally {
      s.emulator.pods.release(hold);
    }
    // Released, the new pod turns ready and the rollout completes; the retry does not restart again.
    const retry = await http(s.url, 'POST', `/v1/onboardings/${id}/retry`);
    expect(retry.status).toBe(202);
    const done = await waitForStatus(s.url, id, ['SUCCEEDED', 'FAILED'], 20_000);
    expect(done, JSON.stringify(done.steps.map((st: any) => [st.name, st.status, st.errorMessage]))).toMatchObject({
      status: 'SUCCEEDED',
      attempt: 2,
      errorCode: null,
    });
    const pods = s.emulator.store
      .list<any>('v1', 'Pod', { namespace: ns })
      .filter((p) => !p.metadata.deletionTimestamp);
    expect(pods).toHaveLength(1);
    expect(pods[0].spec.containers.map((c: any) => c.name)).toContain('sidecar');
    const rolled = s.emulator.store.get<any>(app0)!;
    expect(rolled.status.conditions.find((c: any) => c.type === 'Progressing').reason).toBe('NewReplicaSetAvailable');
  });

  it('fails a step that outlives its deadline with STEP_TIMEOUT', async () => {
    const short = await startStack({ emulator: s.emulator, env: { STEP_TIMEOUT_MS: '1000' } });
    const ns = uniqueName('deadline');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    s.emulator.configure({ podStartMs: 4000 }); // the rollout the restart step waits for takes longer than its deadline
    try {
      const r = await http(short.url, 'POST', '/v1/onboardings', {
        namespace: ns,
        prerequisites: { enabled: false },
        restart: { mode: 'all' },
      });
      const done = await waitForStatus(short.url, r.body.id, ['SUCCEEDED', 'FAILED'], 20_000);
      expect(done).toMatchObject({ status: 'FAILED', errorCode: 'STEP_TIMEOUT' });
      expect(done.steps.find((st: any) => st.name === 'restart')).toMatchObject({
        status: 'FAILED',
        errorCode: 'STEP_TIMEOUT',
      });
    } finally {
      s.emulator.configure({ podStartMs: 0 });
      await short.close();
    }
  });

  it('retries transient Kubernetes failures inside a step and records every attempt', async () => {
    const ns = uniqueName('flaky');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    s.emulator.faults.add({ verb: 'patch', resource: 'namespaces', name: ns, status: 503, times: 2 });
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
    const done = await waitForStatus(s.url, r.body.id, ['SUCCEEDED', 'FAILED']);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.steps.find((st: any) => st.name === 'namespace').attempts).toBe(3);
    const retrying = (await http(s.url, 'GET', `/v1/onboardings/${r.body.id}/audit`)).body.items.filter(
      (e: any) => e.action === 'step.retrying',
    );
    expect(retrying).toHaveLength(2);
    expect(retrying[0].data.code).toBe('KUBE_UNAVAILABLE');
  });

  it('retries a write the API server answered with Retry-After within the attempt, as client-go does', async () => {
    const ns = uniqueName('throttled');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    s.emulator.faults.add({ verb: 'patch', resource: 'namespaces', name: ns, status: 429, times: 1 });
    const from = s.emulator.requests.all().length;
    const r = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns });
    const done = await waitForStatus(s.url, r.body.id, ['SUCCEEDED', 'FAILED']);
    expect(done.status).toBe('SUCCEEDED');
    // The 429 (Retry-After: 1) cost a wait, not a step attempt: the same patch was sent again and succeeded.
    expect(Math.max(...done.steps.map((st: any) => st.attempts))).toBe(1);
    const audit = (await http(s.url, 'GET', `/v1/onboardings/${r.body.id}/audit`)).body.items;
    expect(audit.filter((e: any) => e.action === 'step.retrying')).toHaveLength(0);
    const patches = s.emulator.requests
      .all()
      .slice(from)
      .filter((e) => e.verb === 'patch' && e.resource === 'namespaces' && e.name === ns);
    expect(patches.filter((e) => e.fault).length).toBe(1);
    expect(patches.length).toBeGreaterThanOrEqual(2);
  });
});
