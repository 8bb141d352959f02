// The verify step and the namespace's pods no Deployment owns (StatefulSets, DaemonSets, which the service does not
// restart): against the emulator over HTTP, each one that lacks (onboarding) or keeps (offboarding) the sidecar is
// a warning naming the pod and its owner; the step still succeeds and makes no extra API call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestartStep } from '../../../src/onboarding/steps/restart.step.js';
import { applyStep } from '../../../src/onboarding/steps/step.js';
import { VerifyStep } from '../../../src/onboarding/steps/verify.step.js';
import { seedAppNamespace, startEmulator, type Emulator } from '../../support/emulator/index.js';
import { stepContext } from '../../support/step-context.js';

let emulator: Emulator;
let n = 0;

beforeAll(async () => {
  emulator = await startEmulator({ seed: 'osm' });
  emulator.configure({ podStartMs: 0 });
});
afterAll(() => emulator?.close());

const MESH_LABELS = { 'openservicemesh.io/monitored-by': 'osm' };
const MESH_ANNOTATIONS = { 'openservicemesh.io/sidecar-injection': 'enabled' };

function workload(kind: 'StatefulSet' | 'DaemonSet', namespace: string, name: string) {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name, namespace, labels },
    spec: {
      ...(kind === 'StatefulSet' ? { replicas: 1, serviceName: name } : {}),
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name, image: 'busybox:1.36' }] } },
    },
  };
}

/** A namespace with Deployment app-0, StatefulSet db and DaemonSet agent, all running; in the mesh or not. */
async function fixture(inMesh: boolean) {
  const namespace = `verify-others-${++n}`;
  seedAppNamespace(emulator.store, namespace, {
    deployments: 1,
    ...(inMesh ? { labels: MESH_LABELS, annotations: MESH_ANNOTATIONS } : {}),
  });
  emulator.store.create(workload('StatefulSet', namespace, 'db'));
  emulator.store.create(workload('DaemonSet', namespace, 'agent'));
  await emulator.idle();
  return namespace;
}

const calls = (namespace: string) =>
  emulator.requests
    .all()
    .filter((e) => e.namespace === namespace)
    .map((e) => `${e.verb} ${e.resource}${e.name ? `/${e.name}` : ''}`);

function podOf(namespace: string, owner: string): string {
  const pods = emulator.store.list('v1', 'Pod', { namespace });
  return pods.find((p) => p.metadata.ownerReferences?.[0]?.name === owner)!.metadata.name!;
}

describe('verify step: pods the service does not restart', () => {
  it('onboarding: a StatefulSet pod and a DaemonSet pod without the sidecar: two warnings, no failure', async () => {
    const namespace = await fixture(false);
    // `osm namespace add` after the pods started: only the restarted Deployment's pods get the sidecar.
    emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: namespace }, 'merge', {
      metadata: { labels: MESH_LABELS, annotations: MESH_ANNOTATIONS },
    });
    await emulator.idle();
    const ctx = {
      ...(await stepContext(emulator, {
        namespace,
        options: { restart: { mode: 'all', deployments: [], maxConcurrent: 5 }, verify: { timeoutSeconds: 5 } },
      })),
      seen: {},
    };
    expect((await applyStep(new RestartStep(), ctx)).result).toBe('CHANGED');
    emulator.requests.clear();

    const verified = await applyStep(new VerifyStep(), ctx);

    expect(verified.result).toBe('UNCHANGED');
    // Still one call: the pods were listed anyway.
    expect(calls(namespace)).toEqual(['list pods']);
    expect(verified.facts).toMatchObject({
      deployments: [expect.objectContaining({ deployment: 'app-0', inMesh: 1, withoutSidecar: 0 })],
      waited: true,
    });
    const [db, agent] = [podOf(namespace, 'db'), podOf(namespace, 'agent')];
    expect(db).toBe('db-0');
    expect(verified.diagnostics).toHaveLength(2);
    expect(verified.diagnostics).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          code: 'OSM_POD_WITHOUT_SIDECAR',
          level: 'warning',
          object: `Pod/${db}`,
          message: expect.stringContaining('StatefulSet/db'),
          hint: `kubectl rollout restart statefulset/db -n ${namespace}`,
        }),
        expect.objectContaining({
          code: 'OSM_POD_WITHOUT_SIDECAR',
          level: 'warning',
          object: `Pod/${agent}`,
          message: expect.stringContaining('DaemonSet/agent'),
          hint: `kubectl rollout restart daemonset/agent -n ${namespace}`,
        }),
      ]),
    );
    expect(verified.diagnostics![0].message).toContain('when it is re-created');
    expect(verified.summary).toBe('app-0: 1/1 pods with a sidecar; 2 other pod(s) without a sidecar');

    // Once they are re-created (as the hint says) they have the sidecar: no warning left.
    for (const kind of ['StatefulSet', 'DaemonSet']) {
      const key = { apiVersion: 'apps/v1', kind, namespace, name: kind === 'StatefulSet' ? 'db' : 'agent' };
      emulator.store.patch(key, 'merge', {
        spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'now' } } } },
      });
    }
    await emulator.idle();
    const again = await applyStep(new VerifyStep(), ctx);
    expect(again.diagnostics).toEqual([]);
    expect(again.facts!.otherPods).toEqual(
      expect.arrayContaining([expect.objectContaining({ owner: 'StatefulSet/db', sidecar: true })]),
    );
  });

  it('offboarding: a StatefulSet pod and a DaemonSet pod still with the sidecar are two warnings', async () => {
    const namespace = await fixture(true);
    emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: namespace }, 'merge', {
      metadata: {
        labels: { 'openservicemesh.io/monitored-by': null },
        annotations: { 'openservicemesh.io/sidecar-injection': null },
      },
    });
    await emulator.idle();
    const ctx = {
      ...(await stepContext(emulator, {
        namespace,
        kind: 'OFFBOARD',
        options: { restart: { mode: 'all', deployments: [], maxConcurrent: 5 }, verify: { timeoutSeconds: 5 } },
      })),
      seen: {},
    };
    expect((await applyStep(new RestartStep(), ctx)).result).toBe('CHANGED');

    const verified = await applyStep(new VerifyStep(), ctx);

    expect(verified.facts).toMatchObject({ deployments: [expect.objectContaining({ inMesh: 0 })] });
    expect(verified.diagnostics!.map((d) => [d.code, d.level, d.object]).sort()).toEqual(
      [
        ['OSM_POD_WITH_SIDECAR', 'warning', `Pod/${podOf(namespace, 'agent')}`],
        ['OSM_POD_WITH_SIDECAR', 'warning', `Pod/${podOf(namespace, 'db')}`],
      ].sort(),
    );
    expect(verified.diagnostics![0].message).toContain('still runs a sidecar');
    expect(verified.summary).toBe('app-0: 0/1 pods with a sidecar; 2 other pod(s) still with a sidecar');
  });
});

describe('verify step: a namespace of many pods it does not restart', () => {
  it('names 20 of them, out of line first, and counts them all', async () => {
    const namespace = await fixture(false);
    // 25 bare pods started before the namespace joins the mesh (no sidecar, out of line), and 5 that opt out of
    // injection (no sidecar, in line).
    const bare = (name: string, optOut: boolean) =>
      emulator.store.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name,
          namespace,
          ...(optOut ? { annotations: { 'openservicemesh.io/sidecar-injection': 'disabled' } } : {}),
        },
        spec: { containers: [{ name: 'job', image: 'busybox:1.36' }] },
      });
    for (let i = 0; i < 5; i++) bare(`opted-out-${i}`, true);
    for (let i = 0; i < 25; i++) bare(`job-${String(i).padStart(2, '0')}`, false);
    emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: namespace }, 'merge', {
      metadata: { labels: MESH_LABELS, annotations: MESH_ANNOTATIONS },
    });
    await emulator.idle();
    const ctx = await stepContext(emulator, {
      namespace,
      options: { restart: { mode: 'none', deployments: [], maxConcurrent: 5 }, verify: { timeoutSeconds: 5 } },
    });
    const verified = await applyStep(new VerifyStep(), ctx);
    const facts = verified.facts as { otherPods: { pod: string }[]; otherPodCount: number };
    // db-0, the agent's pod (both without the sidecar) and the 30 bare pods.
    expect(facts.otherPodCount).toBe(32);
    expect(facts.otherPods).toHaveLength(20);
    expect(facts.otherPods.some((o) => o.pod.startsWith('opted-out-'))).toBe(false);
    expect(verified.diagnostics!.filter((d) => d.code === 'OSM_POD_WITHOUT_SIDECAR')).toHaveLength(20);
    expect(verified.diagnostics!.filter((d) => d.code === 'DIAGNOSTICS_OMITTED').map((d) => d.message)).toEqual([
      '7 more OSM_POD_WITHOUT_SIDECAR diagnostic(s) not listed (20 shown)',
    ]);
    expect(verified.summary).toContain('27 other pod(s) without a sidecar');
  });
});
