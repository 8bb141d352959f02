// The restart step's plan (kubectl rollout restart): which Deployments roll, with which annotations, and when.
import { describe, expect, it } from 'vitest';
import { restartedAt, RestartStep } from '../../src/onboarding/steps/restart.step.js';
import { deployment, pod, workloadContext } from '../support/workload-context.js';

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
    const plan = await step.plan(workloadContext(abz(), [pod('a', false), pod('b', true)], restart('all')));
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
    expect(
      (await step.plan(workloadContext([stampedAt('a', token)], [pod('a', false)], restart('all')))).changes,
    ).toEqual([]);
    // An older restart (another request, or kubectl) does not count, nor one by another request in the same second.
    const older = workloadContext([stampedAt('a', '2026-11-25T00:00:00Z')], [pod('a', true)], restart('all'));
    expect((await step.plan(older)).changes).toHaveLength(1);
    const sameSecond = workloadContext([stampedAt('a', token, 'another-request')], [pod('a', true)], restart('all'));
    expect((await step.plan(sameSecond)).changes).toHaveLength(1);
    const paused = await step.plan(workloadContext([deployment('p', { paused: true })], [], restart('all')));
    expect(paused.changes).toEqual([]);
    expect(paused.diagnostics).toEqual([
      expect.objectContaining({ code: 'OSM_RESTART_PAUSED', object: 'Deployment/p' }),
    ]);
    expect(byName(paused).p).toMatchObject({ restart: false, reason: expect.stringContaining('paused') });
  });

  it('needed: only Deployments whose pods lack (or, offboarding, keep) the sidecar, saying why for each', async () => {
    const plan = await step.plan(workloadContext(abz(), [pod('a', false), pod('b', true)], restart('needed')));
    expect(plan.changes.map((c) => c.target.name)).toEqual(['a']);
    expect(plan.facts).toMatchObject({ alreadyAsWanted: ['b', 'z'], meshSettingsChanged: false });
    expect(byName(plan)).toEqual({
      a: { deployment: 'a', restart: true, reason: '1/1 pod(s) lack the sidecar' },
      b: { deployment: 'b', restart: false, reason: 'pods already as wanted' },
      z: { deployment: 'z', restart: false, reason: 'scaled to 0 replicas: no pods to re-create' },
    });
    expect(plan.summary).toContain('skip b (pods already as wanted)');
    const off = await step.plan(
      workloadContext([deployment('a')], [pod('a', true)], restart('needed'), { kind: 'OFFBOARD' }),
    );
    expect(off.changes.map((c) => c.target.name)).toEqual(['a']);
  });

  it('needed: includes injected Deployments when this request changed the exclusion list', async () => {
    const c = workloadContext([deployment('a'), deployment('b')], [pod('a', true), pod('b', false)], {
      ...restart('needed'),
      apiServerAccess: { method: 'ip-exclusion' },
    });
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
    expect(byName(plan).a.reason).toContain('changed the API server exclusion list');
    expect(plan.facts).toMatchObject({ meshSettingsChanged: true });
    // Only the namespace marker annotation was written: nothing for the pods to pick up.
    c.earlier = wrote({ apiVersion: 'v1', kind: 'Namespace', name: 'ns' });
    expect((await step.plan(c)).changes.map((ch) => ch.target.name)).toEqual(['b']);
    // The egress method's MeshConfig flag and Egress object are pushed to running sidecars by the controller:
    // osm-init has no part in them, so the injected pods stay (an outside audit, semantics §5).
    const egress = workloadContext([deployment('a'), deployment('b')], [pod('a', true), pod('b', false)], {
      ...restart('needed'),
      apiServerAccess: { method: 'egress', serviceAccounts: ['sa'] },
    });
    egress.earlier = [
      {
        name: 'api-server-access' as const,
        result: 'CHANGED' as const,
        finishedAt: new Date(),
        changes: [meshConfig, { apiVersion: 'policy.openservicemesh.io/v1alpha1', kind: 'Egress', name: 'e' }],
      },
    ];
    const viaEgress = await step.plan(egress);
    expect(viaEgress.changes.map((ch) => ch.target.name)).toEqual(['b']);
    expect(viaEgress.facts).toMatchObject({ meshSettingsChanged: false });
  });

  it('selected: the named Deployments whatever their pods look like, and refuses unknown ones', async () => {
    const plan = await step.plan(
      workloadContext(
        [deployment('a'), deployment('b')],
        [pod('a', false), pod('b', true)],
        restart('selected', ['b']),
      ),
    );
    expect(plan.changes.map((c) => c.target.name)).toEqual(['b']);
    await expect(
      step.plan(workloadContext([deployment('a')], [], restart('selected', ['nope']))),
    ).rejects.toMatchObject({
      code: 'DEPLOYMENT_NOT_FOUND',
    });
  });

  it('honours a pod-level injection annotation when deciding what needs a restart', async () => {
    const optedOut = deployment('a', {
      template: {
        metadata: { labels: { app: 'a' }, annotations: { 'openservicemesh.io/sidecar-injection': 'disabled' } },
      },
    });
    expect((await step.plan(workloadContext([optedOut], [pod('a', false)], restart('needed')))).changes).toEqual([]);
  });
});
