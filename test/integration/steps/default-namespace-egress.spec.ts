// osm-edge's guide: with an Egress policy, the Kubernetes API Service must not be in a namespace the mesh manages.
// The Egress method refuses a mesh that has namespace default; this is the other side: namespace default is not
// added to a mesh while namespaces of that mesh reach the API server through an Egress (they would be cut off).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NamespaceStep } from '../../../src/onboarding/steps/namespace.step.js';
import { runPreflights } from '../../../src/onboarding/steps/step.js';
import { startEmulator, type Emulator } from '../../support/emulator/index.js';
import { stepContext } from '../../support/step-context.js';

const MONITORED_BY = 'openservicemesh.io/monitored-by';
let emulator: Emulator;

beforeAll(async () => {
  emulator = await startEmulator({ seed: 'osm' });
});
afterAll(() => emulator?.close());

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (err: unknown) => err,
  );

function egress(namespace: string, name: string, ipAddresses: string[], mesh?: string) {
  if (!emulator.store.get({ apiVersion: 'v1', kind: 'Namespace', name: namespace })) {
    const metadata = { name: namespace, ...(mesh ? { labels: { [MONITORED_BY]: mesh } } : {}) };
    emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata });
  }
  emulator.store.create({
    apiVersion: 'policy.openservicemesh.io/v1alpha1',
    kind: 'Egress',
    metadata: { name, namespace },
    spec: {
      sources: [{ kind: 'ServiceAccount', name: 'app', namespace }],
      ipAddresses,
      ports: [{ number: 443, protocol: 'https' }],
    },
  });
}

/** The API Service's cluster IP, as the emulator seeds it. */
function apiServerIp(): string {
  const svc = emulator.store.get({ apiVersion: 'v1', kind: 'Service', namespace: 'default', name: 'kubernetes' })!;
  return (svc.spec as { clusterIP: string }).clusterIP;
}

describe('namespace default joining a mesh whose namespaces use an Egress to the API server', () => {
  it('is added when no Egress of the mesh reaches the API server', async () => {
    // Another mesh's namespace, a namespace outside any mesh, and an Egress elsewhere: none of them is cut off.
    egress('other-mesh-team', 'osm-onboarding-api-server', [`${apiServerIp()}/32`], 'blue');
    egress('no-mesh-team', 'api', ['10.0.0.0/8']);
    egress('osm-team-web', 'web', ['203.0.113.0/24'], 'osm');
    const ctx = await stepContext(emulator, { namespace: 'default' });
    const plan = await new NamespaceStep().plan(ctx);
    expect(plan.changes).toHaveLength(1);
  });

  it('is refused, before any write, when one does: EGRESS_API_SERVER_MONITORED counting them', async () => {
    egress('osm-team-a', 'osm-onboarding-api-server', [`${apiServerIp()}/32`], 'osm');
    // Anyone's Egress counts, through any range that holds the API server's IP.
    egress('osm-team-b', 'to-cluster', ['10.0.0.0/8', '192.0.2.0/24'], 'osm');
    const ctx = await stepContext(emulator, { namespace: 'default' });
    emulator.requests.clear();
    const err = await failure(runPreflights([new NamespaceStep()], ctx));
    expect(err).toMatchObject({
      code: 'EGRESS_API_SERVER_MONITORED',
      options: { field: 'namespace', details: { egresses: 2 } },
    });
    // Counted, never named: the caller may not see those namespaces (docs/governance.md).
    expect((err as Error).message).toContain('2 Egress policies in namespaces of mesh osm reach the API server');
    expect((err as Error).message).not.toMatch(/osm-team-a|osm-team-b/);
    expect(emulator.requests.all().filter((r) => !['get', 'list', 'watch'].includes(r.verb))).toEqual([]);
    expect(await failure(new NamespaceStep().plan(ctx))).toMatchObject({ code: 'EGRESS_API_SERVER_MONITORED' });
    // Each mesh is held to its own namespaces' Egress policies only.
    const blue = await failure(
      new NamespaceStep().plan(await stepContext(emulator, { namespace: 'default', meshName: 'blue' })),
    );
    expect(blue).toMatchObject({ code: 'EGRESS_API_SERVER_MONITORED', options: { details: { egresses: 1 } } });
    expect((blue as Error).message).toContain('1 Egress policy in namespaces of mesh blue');
  });
});

describe('namespace default and an Egress onboarding racing (each checked before the other wrote)', () => {
  const labelOf = (name: string) =>
    emulator.store.get({ apiVersion: 'v1', kind: 'Namespace', name })?.metadata?.labels?.[MONITORED_BY];
  const egressRequest = (namespace: string, meshName: string) =>
    stepContext(emulator, {
      namespace,
      meshName,
      options: { apiServerAccess: { method: 'egress', serviceAccounts: ['app'] } },
    });

  for (const second of ['default', 'the Egress onboarding'] as const) {
    it(`refuses ${second}, the one that writes second, and takes its label back`, async () => {
      // A mesh of its own, so the Egress policies of the cases above do not count.
      const mesh = second === 'default' ? 'race1' : 'race2';
      const team = `${mesh}-team`;
      // The Egress onboarding's api-server-access step has run: its Egress exists, its namespace is not labelled yet.
      egress(team, 'osm-onboarding-api-server', [`${apiServerIp()}/32`]);
      const step = new NamespaceStep();
      const apiCtx = await stepContext(emulator, { namespace: 'default', meshName: mesh });
      const teamCtx = await egressRequest(team, mesh);
      // Both plans pass: neither has written yet.
      const [apiPlan, teamPlan] = [await step.plan(apiCtx), await step.plan(teamCtx)];
      const [first, firstPlan, last, lastPlan] =
        second === 'default' ? [teamCtx, teamPlan, apiCtx, apiPlan] : [apiCtx, apiPlan, teamCtx, teamPlan];
      await step.execute(first, firstPlan);
      expect(await failure(step.execute(last, lastPlan))).toMatchObject({ code: 'EGRESS_API_SERVER_MONITORED' });
      // The first keeps its label; the second's is taken back.
      expect([labelOf('default'), labelOf(team)]).toEqual(second === 'default' ? [undefined, mesh] : [mesh, undefined]);
      // Tidy up: default out of the mesh again.
      emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: 'default' }, 'merge', {
        metadata: { labels: { [MONITORED_BY]: null } },
      });
    });
  }
});
