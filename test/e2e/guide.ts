// The whole onboarding guide through the API, against the cluster of E2E_KUBECONFIG: a real one (kind with
// osm-edge v1.3.9, `npm run test:e2e`) or the project's emulator (test/integration/e2e-guide.spec.ts, on
// every test run). It deploys a small sample app of its own, runs the guide one step at a time (each request
// adds the next step to the options of the one before, as the guide adds them), checks the cluster after each,
// offboards with clean-up, and removes everything it created. Nothing in here knows which kind of cluster it
// talks to: only E2E_* variables change what it does.
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { ADMIN_TOKEN, http, startApi, waitForStatus } from '../support/harness.js';

const MONITORED = 'openservicemesh.io/monitored-by';
const INJECTION = 'openservicemesh.io/sidecar-injection';
const METRICS = 'openservicemesh.io/metrics';
const ACCESS_MARKER = 'osm-onboarding.flomesh.io/api-server-access';
const MANAGED_BY = 'app.kubernetes.io/managed-by';
const MESH_CONFIG = { group: 'config.openservicemesh.io', version: 'v1alpha2', plural: 'meshconfigs' };
const SMI = {
  trafficTarget: { group: 'access.smi-spec.io', version: 'v1alpha3', plural: 'traffictargets' },
  httpRouteGroup: { group: 'specs.smi-spec.io', version: 'v1alpha4', plural: 'httproutegroups' },
};
const EGRESS = { group: 'policy.openservicemesh.io', version: 'v1alpha1', plural: 'egresses' };

/** A request of the guide can take minutes on a real cluster (image pulls, rollouts). */
const STEP_MS = 600_000;

export interface GuideOptions {
  /** The kubeconfig; read when the suite starts (E2E_KUBECONFIG). */
  kubeconfig: () => string;
}

type Pod = k8s.V1Pod;

/** osm-edge's rule (the CLI's verifier): a UUID `osm-proxy-uuid` label and a `sidecar` container. */
const injected = (p: Pod) =>
  /^[0-9a-f-]{36}$/.test(p.metadata?.labels?.['osm-proxy-uuid'] ?? '') &&
  (p.spec?.containers ?? []).some((c) => c.name === 'sidecar');

/**
 * Registers the suite in the calling `describe`. Settings: E2E_MESH_NAME (default osm),
 * E2E_API_SERVER_ACCESS (`ip-exclusion`, default, or `egress`), E2E_APP_IMAGE (default agnhost 2.53).
 */
export function guideSuite(opts: GuideOptions): void {
  const meshName = process.env.E2E_MESH_NAME ?? 'osm';
  const access = process.env.E2E_API_SERVER_ACCESS === 'egress' ? 'egress' : 'ip-exclusion';
  const image = process.env.E2E_APP_IMAGE ?? 'registry.k8s.io/e2e-test-images/agnhost:2.53';
  const ns = `osm-onboarding-e2e-${randomBytes(3).toString('hex')}`;
  let api: { app: INestApplication; url: string };
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let custom: k8s.CustomObjectsApi;
  /** What this suite found before it changed anything mesh-wide, to put it back. */
  const before: { meshConfigNamespace?: string; exclusions: string[]; egressPolicy?: boolean } = { exclusions: [] };
  let cidr = '';

  type MeshConfig = {
    spec?: { traffic?: { outboundIPRangeExclusionList?: string[] }; featureFlags?: { enableEgressPolicy?: boolean } };
  };
  const meshConfigRef = () => ({ ...MESH_CONFIG, namespace: before.meshConfigNamespace!, name: 'osm-mesh-config' });
  const meshConfig = async () => (await custom.getNamespacedCustomObject(meshConfigRef())) as MeshConfig;
  const nsMeta = async () => (await core.readNamespace({ name: ns })).metadata ?? {};
  const pods = async () =>
    (await core.listNamespacedPod({ namespace: ns })).items.filter((p) => !p.metadata?.deletionTimestamp);
  type Owned = { metadata: { name: string; labels?: Record<string, string> } };
  const customIn = async (ref: typeof EGRESS) =>
    (await custom.listNamespacedCustomObject({ ...ref, namespace: ns })).items as Owned[];
  const namesAndOwners = (objects: Owned[]) => objects.map((o) => [o.metadata.name, o.metadata.labels?.[MANAGED_BY]]);

  /** Runs one request to its end; returns it with its steps. */
  async function run(path: string, body: Record<string, unknown>) {
    const created = await http(api.url, 'POST', path, body);
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const done = await waitForStatus(api.url, created.body.id, ['SUCCEEDED', 'FAILED', 'CANCELLED'], STEP_MS - 10_000);
    const failed = done.steps
      .filter((s: any) => s.status === 'FAILED')
      .map((s: any) => `${s.name}: ${s.errorCode} ${s.errorMessage}`);
    expect(done.status, failed.join('; ')).toBe('SUCCEEDED');
    return { ...done, step: (name: string) => done.steps.find((s: any) => s.name === name) };
  }

  beforeAll(async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(opts.kubeconfig());
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await deploySampleApp();
    api = await startApi({
      DATABASE_URL: inject('databaseUrl'),
      REDIS_URL: inject('redisUrl'),
      KUBECONFIG: opts.kubeconfig(),
      QUEUE_PREFIX: `e2e-${randomBytes(4).toString('hex')}`,
      LOG_LEVEL: 'warn',
      OSM_ONBOARDING_ADMIN_TOKEN: ADMIN_TOKEN,
      ROLE: 'all',
      PORT: '0',
      HOST: '127.0.0.1',
      WORKER_METRICS_PORT: '0',
      DRIFT_SCAN_INTERVAL_MS: '0',
    });
  }, STEP_MS);

  afterAll(async () => {
    await api?.app.close();
    await cleanUp();
  }, STEP_MS);

  /** Two Deployments, a Service with a named port and one with an unnamed port, their ServiceAccounts. */
  async function deploySampleApp(): Promise<void> {
    const labels = { 'app.kubernetes.io/part-of': 'osm-onboarding-e2e' };
    await core.createNamespace({ body: { metadata: { name: ns, labels } } });
    const httpPort = { name: 'http', containerPort: 8080 };
    for (const app of ['server', 'client']) {
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: app } } });
      await apps.createNamespacedDeployment({
        namespace: ns,
        body: {
          metadata: { name: app, labels: { app } },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app } },
            template: {
              metadata: { labels: { app } },
              spec: {
                serviceAccountName: app,
                containers: [{ name: 'app', image, args: ['netexec', '--http-port=8080'], ports: [httpPort] }],
              },
            },
          },
        },
      });
    }
    // Kubernetes requires a name on every port of a Service with several ports, so the unnamed port is the
    // only port of a Service of its own.
    const named = { name: 'http', port: 80, targetPort: 8080 };
    await core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'server' }, spec: { selector: { app: 'server' }, ports: [named] } },
    });
    await core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'client' }, spec: { selector: { app: 'client' }, ports: [{ port: 8080 }] } },
    });
    await waitFor(async () => (await pods()).length === 2, "the sample app's pods");
  }

  async function cleanUp(): Promise<void> {
    if (!core) return;
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    if (before.meshConfigNamespace) {
      // What a failed run left mesh-wide goes back as it was (our own entry only, if nobody else needs it).
      const mc = await meshConfig().catch(() => undefined);
      const ref = meshConfigRef();
      const list = mc?.spec?.traffic?.outboundIPRangeExclusionList ?? [];
      const index = list.indexOf(cidr);
      if (mc && cidr && index >= 0 && !before.exclusions.includes(cidr) && !(await othersRelyOnExclusion())) {
        await custom
          .patchNamespacedCustomObject(
            {
              ...ref,
              body: [
                { op: 'test', path: `/spec/traffic/outboundIPRangeExclusionList/${index}`, value: cidr },
                { op: 'remove', path: `/spec/traffic/outboundIPRangeExclusionList/${index}` },
              ],
            },
            k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
          )
          .catch(() => undefined);
      }
      if (mc && before.egressPolicy === false && mc.spec?.featureFlags?.enableEgressPolicy === true) {
        await custom
          .patchNamespacedCustomObject(
            {
              ...ref,
              body: { spec: { featureFlags: { enableEgressPolicy: false } } },
            },
            k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
          )
          .catch(() => undefined);
      }
    }
    const gone = async () =>
      !(await core.readNamespace({ name: ns }).then(
        () => true,
        () => false,
      ));
    await waitFor(gone, `namespace ${ns} to go`).catch(() => undefined);
  }

  /** Another namespace still marked as relying on the API server's exclusion entry. */
  async function othersRelyOnExclusion(): Promise<boolean> {
    const all = await core.listNamespace();
    const marked = (n: k8s.V1Namespace) => n.metadata?.annotations?.[ACCESS_MARKER] === 'ip-exclusion';
    return all.items.some((n) => n.metadata?.name !== ns && marked(n));
  }

  // Each request carries the options of the guide steps done so far, so the earlier steps re-run and
  // say "unchanged" (idempotent), and the new one changes the cluster.
  const smi = () => ({
    httpRouteGroups: [{ name: 'server-routes', spec: { matches: [{ name: 'all', pathRegex: '.*', methods: ['*'] }] } }],
    trafficTargets: [
      {
        name: 'client-to-server',
        spec: {
          destination: { kind: 'ServiceAccount', name: 'server', namespace: ns },
          sources: [{ kind: 'ServiceAccount', name: 'client', namespace: ns }],
          rules: [{ kind: 'HTTPRouteGroup', name: 'server-routes', matches: ['all'] }],
        },
      },
    ],
  });
  const guide: Record<string, unknown> = { meshName, verify: { timeoutSeconds: 300 } };

  it(
    '1. prerequisites: the plan of the whole guide has no blocking diagnostic and writes nothing',
    async () => {
      guide.namespace = ns;
      guide.apiServerAccess =
        access === 'egress' ? { method: 'egress', serviceAccounts: ['client', 'server'] } : { method: access };
      const whole = {
        ...guide,
        trafficPolicy: { mode: 'smi', smi: smi() },
        appProtocols: [{ service: 'server', port: 'http', appProtocol: 'http' }],
        metrics: true,
        restart: { mode: 'all' },
      };
      const rv = (await nsMeta()).resourceVersion;
      const plan = await http(api.url, 'POST', '/v1/onboardings/plan', whole);
      expect(plan.status, JSON.stringify(plan.body)).toBe(200);
      expect(plan.body.blocked, JSON.stringify(plan.body.steps.filter((s: any) => s.error))).toBe(false);
      expect(plan.body.diagnostics.filter((d: any) => d.level === 'error' && !d.accepted)).toEqual([]);
      const step = (name: string) => plan.body.steps.find((s: any) => s.name === name);
      const restarts = step('restart').facts.deployments.map((d: any) => [d.deployment, d.restart]);
      expect(restarts).toEqual([
        ['client', true],
        ['server', true],
      ]);
      before.meshConfigNamespace = step('api-server-access').facts.meshConfigNamespace;
      cidr = step('api-server-access').facts.cidr;
      const mc = await meshConfig();
      before.exclusions = [...(mc.spec?.traffic?.outboundIPRangeExclusionList ?? [])];
      before.egressPolicy = mc.spec?.featureFlags?.enableEgressPolicy;
      expect((await nsMeta()).resourceVersion).toBe(rv); // a plan writes nothing
    },
    STEP_MS,
  );

  it(
    '2-4. API server access, then `osm namespace add`: the namespace joins the mesh',
    async () => {
      const done = await run('/v1/onboardings', guide);
      expect(done.step('api-server-access').status).toBe('SUCCEEDED');
      const meta = await nsMeta();
      expect(meta.labels?.[MONITORED]).toBe(meshName);
      expect(meta.annotations?.[INJECTION]).toBe('enabled');
      const mc = await meshConfig();
      if (access === 'ip-exclusion') {
        expect(mc.spec?.traffic?.outboundIPRangeExclusionList).toContain(cidr);
        expect(meta.annotations?.[ACCESS_MARKER]).toBe('ip-exclusion');
      } else {
        expect(mc.spec?.featureFlags?.enableEgressPolicy).toBe(true);
        const egress = await customIn(EGRESS);
        expect(namesAndOwners(egress)).toEqual([['osm-onboarding-api-server', 'osm-onboarding']]);
      }
    },
    STEP_MS,
  );

  it(
    '2. SMI policies: the TrafficTarget and HTTPRouteGroup exist, ours; the earlier steps are unchanged',
    async () => {
      guide.trafficPolicy = { mode: 'smi', smi: smi() };
      const done = await run('/v1/onboardings', guide);
      expect(done.step('traffic-policy').result).toBe('CHANGED');
      expect(done.step('api-server-access').result).toBe('UNCHANGED');
      expect(done.step('namespace').result).toBe('UNCHANGED');
      expect(namesAndOwners(await customIn(SMI.trafficTarget))).toEqual([['client-to-server', 'osm-onboarding']]);
      expect(namesAndOwners(await customIn(SMI.httpRouteGroup))).toEqual([['server-routes', 'osm-onboarding']]);
    },
    STEP_MS,
  );

  it(
    '5. app protocols: the named port gets appProtocol http',
    async () => {
      guide.appProtocols = [{ service: 'server', port: 'http', appProtocol: 'http' }];
      const done = await run('/v1/onboardings', guide);
      expect(done.step('app-protocol').result).toBe('CHANGED');
      const svc = await core.readNamespacedService({ namespace: ns, name: 'server' });
      expect(svc.spec?.ports?.map((p) => [p.name, p.appProtocol])).toEqual([['http', 'http']]);
      const unnamed = await core.readNamespacedService({ namespace: ns, name: 'client' });
      expect(unnamed.spec?.ports?.[0].appProtocol).toBeUndefined(); // not asked for: left as it is
    },
    STEP_MS,
  );

  it(
    'metrics: the namespace is annotated for scraping',
    async () => {
      guide.metrics = true;
      const done = await run('/v1/onboardings', guide);
      expect(done.step('metrics').result).toBe('CHANGED');
      expect((await nsMeta()).annotations?.[METRICS]).toBe('enabled');
    },
    STEP_MS,
  );

  it(
    'restart all, verify: every pod is re-created with the sidecar (and the Prometheus annotations)',
    async () => {
      const templates = async () =>
        (await apps.listNamespacedDeployment({ namespace: ns })).items
          .map((d) => [
            d.metadata?.name,
            d.spec?.template?.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'],
          ])
          .sort();
      const old = (await pods()).map((p) => p.metadata?.name);
      guide.restart = { mode: 'all' };
      const done = await run('/v1/onboardings', guide);
      expect(done.step('restart').result).toBe('CHANGED');
      const verified = done.step('verify').output.facts.deployments;
      expect(verified.map((d: any) => [d.deployment, d.inMesh, d.withoutSidecar])).toEqual([
        ['client', 1, 0],
        ['server', 1, 0],
      ]);
      const stamp = done.createdAt.replace(/\.\d+Z$/, 'Z'); // kubectl's format: RFC 3339, whole seconds
      expect(await templates()).toEqual([
        ['client', stamp],
        ['server', stamp],
      ]);
      await waitFor(async () => {
        const now = await pods();
        return now.length === 2 && now.every(injected) && now.every((p) => !old.includes(p.metadata?.name));
      }, 'two new pods with the sidecar');
      for (const p of await pods()) expect(p.metadata?.annotations?.['prometheus.io/scrape']).toBe('true');
    },
    STEP_MS,
  );

  it(
    'offboarding with clean-up: labels, policies, exclusion go; the restarted pods have no sidecar',
    async () => {
      const done = await run('/v1/offboardings', {
        namespace: ns,
        meshName,
        restart: { mode: 'all' },
        deleteOwnedPolicies: true,
        removeApiServerExclusion: true,
      });
      expect(done.steps.map((s: any) => [s.name, s.status])).toEqual([
        ['namespace-removal', 'SUCCEEDED'],
        ['policy-cleanup', 'SUCCEEDED'],
        ['api-server-access-removal', 'SUCCEEDED'],
        ['restart', 'SUCCEEDED'],
        ['verify', 'SUCCEEDED'],
      ]);
      const meta = await nsMeta();
      for (const key of [MONITORED, 'openservicemesh.io/ignore']) expect(meta.labels?.[key]).toBeUndefined();
      for (const key of [INJECTION, METRICS, ACCESS_MARKER]) expect(meta.annotations?.[key]).toBeUndefined();
      expect(await customIn(SMI.trafficTarget)).toEqual([]);
      expect(await customIn(SMI.httpRouteGroup)).toEqual([]);
      expect(await customIn(EGRESS)).toEqual([]);
      if (access === 'ip-exclusion' && !before.exclusions.includes(cidr) && !(await othersRelyOnExclusion())) {
        expect((await meshConfig()).spec?.traffic?.outboundIPRangeExclusionList ?? []).not.toContain(cidr);
      }
      await waitFor(async () => {
        const now = await pods();
        return now.length === 2 && now.every((p) => !injected(p));
      }, 'two pods without the sidecar');
    },
    STEP_MS,
  );
}

async function waitFor(probe: () => Promise<boolean>, what: string, timeoutMs = STEP_MS - 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
