import { describe, expect, it } from 'vitest';
import type { V1Deployment, V1Namespace, V1Pod } from '@kubernetes/client-node';
import type { ClusterClient } from '../../src/kubernetes/cluster-client.js';
import type { MeshDiscoveryService } from '../../src/kubernetes/mesh-discovery.service.js';
import { onboardingOptions, type RequestOptions } from '../../src/onboarding/onboarding.input.js';
import { MetricsStep } from '../../src/onboarding/steps/metrics.step.js';
import { restartedAt, RestartStep } from '../../src/onboarding/steps/restart.step.js';
import type { StepContext } from '../../src/onboarding/steps/step.js';
import { VerifyStep } from '../../src/onboarding/steps/verify.step.js';

// Planning logic only: the cluster is a fixture, no I/O.
const UUID = '0d2a3c4e-1b2f-4c3d-9e8f-7a6b5c4d3e2f';
const createdAt = new Date('2026-11-26T02:00:00.000Z');

const deployment = (name: string, extra: Partial<V1Deployment['spec']> = {}): V1Deployment => ({
  metadata: { name, namespace: 'ns', generation: 1 },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app' }] } },
    ...extra,
  },
});
const pod = (app: string, injected: boolean, annotations: Record<string, string> = {}): V1Pod => ({
  metadata: { name: `${app}-x`, labels: { app, ...(injected ? { 'osm-proxy-uuid': UUID } : {}) }, annotations },
  spec: { containers: [{ name: 'app' }, ...(injected ? [{ name: 'sidecar' }] : [])] },
  status: { phase: 'Running' },
});

function ctx(
  deployments: V1Deployment[],
  pods: V1Pod[],
  options: Partial<RequestOptions>,
  kind: 'ONBOARD' | 'OFFBOARD' = 'ONBOARD',
  ns: V1Namespace = { metadata: { name: 'ns' } },
): StepContext {
  const kube = {
    listDeployments: async () => ({ items: deployments }),
    listPods: async (_ns: string, selector?: string) => ({
      items: selector ? pods.filter((p) => p.metadata?.labels?.[selector]) : pods,
    }),
    getNamespace: async () => ns,
  } as unknown as ClusterClient;
  return {
    kube,
    mesh: {} as MeshDiscoveryService,
    earlier: [],
    tuning: { restartSettleMs: 0, pollMs: 1, rolloutTimeoutMs: 1000 },
    dryRun: true,
    request: {
      id: 'r',
      createdAt,
      kind,
      cluster: 'c',
      namespace: 'ns',
      meshName: 'osm',
      options: { ...onboardingOptions({ namespace: 'ns' }), ...options },
    },
  };
}

describe('restart step plan (kubectl rollout restart)', () => {
  const step = new RestartStep();
  type Mode = 'all' | 'selected' | 'needed';
  const restart = (mode: Mode, deployments: string[] = []) => ({ restart: { mode, deployments, maxConcurrent: 5 } });
  const token = '2026-11-26T02:00:00Z'; // kubectl's RFC 3339: whole seconds, no fraction
  const [AT, BY] = ['kubectl.kubernetes.io/restartedAt', 'osm-onboarding.flomesh.io/restarted-by'];
  const stampedAt = (name: string, value: string, by = 'r') =>
    deployment(name, { template: { metadata: { labels: { app: name }, annotations: { [AT]: value, [BY]: by } } } });
  type Decision = { deployment: string; restart: boolean; reason: string };
  const byName = (plan: { facts?: Record<string, unknown> }) =>
    Object.fromEntries((plan.facts!.deployments as Decision[]).map((d) => [d.deployment, d]));
  const abz = () => [deployment('a'), deployment('b'), deployment('z', { replicas: 0 })];

  it("all: kubectl's patch for every Deployment, stamped with the request time in kubectl's format", async () => {
    const plan = await step.plan(ctx(abz(), [pod('a', false), pod('b', true)], restart('all')));
    expect(plan.changes[0]).toEqual({
      action: 'patch',
      target: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'ns', name: 'a' },
      patchType: 'strategic',
      body: { spec: { template: { metadata: { annotations: { [AT]: token, [BY]: 'r' } } } } },
    });
    expect(plan.changes.map((c) => c.target.name)).toEqual(['a', 'b', 'z']);
    expect(plan.facts).toMatchObject({ mode: 'all', restartedAt: token });
    expect(byName(plan).b).toMatchObject({ restart: true, reason: expect.stringContaining('every Deployment') });
  });

  it('formats restartedAt like kubectl (no fraction) whatever the milliseconds of the request time', () => {
    expect(restartedAt(new Date('2026-12-03T18:10:16.987Z'))).toBe('2026-12-03T18:10:16Z');
    expect(restartedAt(new Date('2026-12-03T18:10:16.000Z'))).toBe('2026-12-03T18:10:16Z');
  });

  it('never restarts twice for one request (a retry finds its stamp); skips paused ones, warning', async () => {
    expect((await step.plan(ctx([stampedAt('a', token)], [pod('a', false)], restart('all')))).changes).toEqual([]);
    // An older restart (another request, or kubectl) does not count, nor one by another request in the same second.
    const older = ctx([stampedAt('a', '2026-11-25T00:00:00Z')], [pod('a', true)], restart('all'));
    expect((await step.plan(older)).changes).toHaveLength(1);
    const sameSecond = ctx([stampedAt('a', token, 'another-request')], [pod('a', true)], restart('all'));
    expect((await step.plan(sameSecond)).changes).toHaveLength(1);
    const paused = await step.plan(ctx([deployment('p', { paused: true })], [], restart('all')));
    expect(paused.changes).toEqual([]);
    expect(paused.diagnostics).toEqual([
      expect.objectContaining({ code: 'OSM_RESTART_PAUSED', object: 'Deployment/p' }),
    ]);
    expect(byName(paused).p).toMatchObject({ restart: false, reason: expect.stringContaining('paused') });
  });

  it('needed: only Deployments whose pods lack (or, offboarding, keep) the sidecar, saying why for each', async () => {
    const plan = await step.plan(ctx(abz(), [pod('a', false), pod('b', true)], restart('needed')));
    expect(plan.changes.map((c) => c.target.name)).toEqual(['a']);
    expect(plan.facts).toMatchObject({ alreadyAsWanted: ['b', 'z'], meshSettingsChanged: false });
    expect(byName(plan)).toEqual({
      a: { deployment: 'a', restart: true, reason: '1/1 pod(s) lack the sidecar' },
      b: { deployment: 'b', restart: false, reason: 'pods already as wanted' },
      z: { deployment: 'z', restart: false, reason: 'scaled to 0 replicas: no pods to re-create' },
    });
    expect(plan.summary).toContain('skip b (pods already as wanted)');
    const off = await step.plan(ctx([deployment('a')], [pod('a', true)], restart('needed'), 'OFFBOARD'));
    expect(off.changes.map((c) => c.target.name)).toEqual(['a']);
  });

  it('needed: includes injected Deployments when this request changed the exclusion list or egress', async () => {
    const c = ctx([deployment('a'), deployment('b')], [pod('a', true), pod('b', false)], restart('needed'));
    const meshConfig = {
      apiVersion: 'config.openservicemesh.io/v1alpha2',
      kind: 'MeshConfig',
      namespace: 'osm-system',
      name: 'osm-mesh-config',
    };
    const wrote = (target: typeof meshConfig | { apiVersion: string; kind: string; name: string }) => [
      { name: 'api-server-access' as const, result: 'CHANGED' as const, finishedAt: new Date(), changes: [target] },
    ];
    c.earlier = wrote(meshConfig);
    const plan = await step.plan(c);
    expect(plan.changes.map((ch) => ch.target.name)).toEqual(['a', 'b']);
    expect(byName(plan).a.reason).toContain('changed the API server access');
    expect(plan.facts).toMatchObject({ meshSettingsChanged: true });
    // Only the namespace marker annotation was written: nothing for the pods to pick up.
    c.earlier = wrote({ apiVersion: 'v1', kind: 'Namespace', name: 'ns' });
    expect((await step.plan(c)).changes.map((ch) => ch.target.name)).toEqual(['b']);
  });

  it('selected: the named Deployments whatever their pods look like, and refuses unknown ones', async () => {
    const plan = await step.plan(
      ctx([deployment('a'), deployment('b')], [pod('a', false), pod('b', true)], restart('selected', ['b'])),
    );
    expect(plan.changes.map((c) => c.target.name)).toEqual(['b']);
    await expect(step.plan(ctx([deployment('a')], [], restart('selected', ['nope'])))).rejects.toMatchObject({
      code: 'DEPLOYMENT_NOT_FOUND',
    });
  });

  it('honours a pod-level injection annotation when deciding what needs a restart', async () => {
    const optedOut = deployment('a', {
      template: {
        metadata: { labels: { app: 'a' }, annotations: { 'openservicemesh.io/sidecar-injection': 'disabled' } },
      },
    });
    expect((await step.plan(ctx([optedOut], [pod('a', false)], restart('needed')))).changes).toEqual([]);
  });
});

describe('verify step (read-only)', () => {
  it('reports per deployment how many pods are in the mesh, without waiting when nothing was restarted', async () => {
    const plan = await new VerifyStep().plan(
      ctx([deployment('a'), deployment('b')], [pod('a', true), pod('b', false)], {}),
    );
    expect(plan.changes).toEqual([]);
    expect(plan.facts).toMatchObject({
      deployments: [
        expect.objectContaining({ deployment: 'a', inMesh: 1, withoutSidecar: 0 }),
        expect.objectContaining({ deployment: 'b', inMesh: 0, withoutSidecar: 1 }),
      ],
    });
    expect(plan.diagnostics).toEqual([expect.objectContaining({ code: 'OSM_POD_NOT_INJECTED', object: 'Pod/b-x' })]);
  });

  it('fails with VERIFY_FAILED at the deadline after a restart', async () => {
    const c = ctx([deployment('a')], [pod('a', false)], {
      restart: { mode: 'all', deployments: [], maxConcurrent: 5 },
      verify: { timeoutSeconds: 1 },
    });
    c.dryRun = false;
    await expect(new VerifyStep().plan(c)).rejects.toMatchObject({ code: 'VERIFY_FAILED' });
  });
});

describe('metrics step plan (osm metrics enable)', () => {
  const step = new MetricsStep();
  it('annotates the namespace and the injected pods that lack the Prometheus annotations', async () => {
    const plan = await step.plan(ctx([], [pod('a', true), pod('b', false)], { metrics: true }));
    expect(plan.changes.map((c) => [c.target.kind, c.target.name])).toEqual([
      ['Namespace', 'ns'],
      ['Pod', 'a-x'],
    ]);
    expect(plan.changes[0].body).toEqual({ metadata: { annotations: { 'openservicemesh.io/metrics': 'enabled' } } });
    expect(plan.changes[1].body).toEqual({
      metadata: {
        annotations: {
          'prometheus.io/scrape': 'true',
          'prometheus.io/port': '15010',
          'prometheus.io/path': '/stats/prometheus',
        },
      },
    });
  });

  it('plans nothing when everything is already annotated', async () => {
    const scraped = pod('a', true, {
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '15010',
      'prometheus.io/path': '/stats/prometheus',
    });
    const ns = { metadata: { name: 'ns', annotations: { 'openservicemesh.io/metrics': 'enabled' } } };
    expect((await step.plan(ctx([], [scraped], { metrics: true }, 'ONBOARD', ns))).changes).toEqual([]);
  });
});
