// Deployment rollouts as kube-controller-manager 1.32 runs them: the maxSurge/maxUnavailable bounds of a rolling
// update (sampled on every change), the Progressing condition and its progress deadline (ProgressDeadlineExceeded,
// as client-node and kubectl 1.32's `rollout status` see it), and the kubelet readiness holds that stall a rollout.
import { AppsV1Api, KubeConfig, Watch, type V1Deployment, type V1DeploymentCondition } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeWith } from '../../support/binaries.js';
import { kubectlFor, type Kubectl } from '../../support/kubectl.js';
import { seedAppNamespace, startEmulator, type Emulator, type KubeObject } from '../../support/emulator/index.js';
import { waitFor } from '../../support/emulator/testing.js';

let emu: Emulator;
let apps: AppsV1Api;
let kc: KubeConfig;
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ seed: 'empty' });
  kc = new KubeConfig();
  kc.loadFromString(emu.kubeconfig());
  apps = kc.makeApiClient(AppsV1Api);
});
afterAll(() => emu?.close());
beforeEach(() => {
  emu.pods.release();
  emu.configure({ podStartMs: 0 });
});

const deployRef = (namespace: string, name = 'app-0') => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  namespace,
  name,
});

/** A fresh namespace with one Deployment `app-0` of `replicas` pods, rolled out. */
async function fixture(replicas: number, spec: Record<string, unknown> = {}): Promise<string> {
  const namespace = `rollouts-${++n}`;
  seedAppNamespace(emu.store, namespace, { deployments: 1, replicas });
  if (Object.keys(spec).length) emu.store.patch(deployRef(namespace), 'merge', { spec });
  await emu.idle();
  return namespace;
}

/** `kubectl rollout restart`'s patch. */
function restart(namespace: string, at = new Date().toISOString()): void {
  const annotations = { 'kubectl.kubernetes.io/restartedAt': at };
  emu.store.patch(deployRef(namespace), 'strategic', { spec: { template: { metadata: { annotations } } } });
}

function deployment(namespace: string): V1Deployment {
  return emu.store.get(deployRef(namespace)) as unknown as V1Deployment;
}

function progressing(d: V1Deployment): V1DeploymentCondition | undefined {
  return d.status?.conditions?.find((c) => c.type === 'Progressing');
}

/** The controller has seen the Deployment's current spec and its rollout is complete. */
function rolledOut(d: V1Deployment): boolean {
  return d.status?.observedGeneration === d.metadata?.generation && progressing(d)?.reason === 'NewReplicaSetAvailable';
}

const replicasOf = (o: KubeObject) => Number((o.spec as { replicas?: number }).replicas ?? 0);
const isReady = (pod: KubeObject) =>
  ((pod.status as { conditions?: { type: string; status: string }[] }).conditions ?? []).some(
    (c) => c.type === 'Ready' && c.status === 'True',
  );

describe('rolling update bounds (rolling.go, deploymentutil.ResolveFenceposts)', () => {
  /** Every state of the rollout: one sample per change of a Deployment, ReplicaSet or pod of the namespace. */
  async function sampleRollout(namespace: string) {
    const samples: { specTotal: number; pods: number; readyPods: number; status?: V1Deployment['status'] }[] = [];
    const sample = () => {
      const sets = emu.store.list('apps/v1', 'ReplicaSet', { namespace });
      const pods = emu.store.list('v1', 'Pod', { namespace }).filter((p) => !p.metadata.deletionTimestamp);
      samples.push({
        specTotal: sets.reduce((sum, rs) => sum + replicasOf(rs), 0),
        pods: pods.length,
        readyPods: pods.filter(isReady).length,
        status: deployment(namespace).status,
      });
    };
    const stops = ['Deployment', 'ReplicaSet', 'Pod'].map((kind) =>
      emu.store.watch(kind === 'Pod' ? 'v1' : 'apps/v1', kind, (e) => {
        if (e.object.metadata.namespace === namespace) sample();
      }),
    );
    // What a client sees over HTTP: every Deployment status the controller wrote.
    const watched: V1Deployment[] = [];
    const request = await new Watch(kc).watch(
      `/apis/apps/v1/namespaces/${namespace}/deployments`,
      { resourceVersion: emu.store.resourceVersion() },
      (_type: string, d: V1Deployment) => watched.push(d),
      () => undefined,
    );
    try {
      restart(namespace);
      await emu.idle();
      await waitFor(() => rolledOut(deployment(namespace)));
      await waitFor(() => watched.some(rolledOut));
    } finally {
      for (const stop of stops) stop();
      request.abort();
    }
    return { samples, watched };
  }

  const title = (r: number, ms: number, max: number, min: number) =>
    `${r} replicas, 25%/25%, pods start in ${ms} ms: ≤ ${max} pods, ≥ ${min} ready`;
  for (const { replicas, podStartMs, maxPods, minAvailable } of [
    { replicas: 4, podStartMs: 0, maxPods: 5, minAvailable: 3 },
    { replicas: 4, podStartMs: 20, maxPods: 5, minAvailable: 3 },
    // 25% of 10: surge rounds 2.5 up to 3, unavailable rounds it down to 2.
    { replicas: 10, podStartMs: 0, maxPods: 13, minAvailable: 8 },
  ]) {
    it(title(replicas, podStartMs, maxPods, minAvailable), async () => {
      const namespace = await fixture(replicas);
      emu.configure({ podStartMs });
      const { samples, watched } = await sampleRollout(namespace);
      expect(samples.length).toBeGreaterThan(10);
      expect(Math.max(...samples.map((s) => s.specTotal))).toBe(maxPods);
      expect(Math.max(...samples.map((s) => s.pods))).toBeLessThanOrEqual(maxPods);
      expect(Math.min(...samples.map((s) => s.readyPods))).toBeGreaterThanOrEqual(minAvailable);
      for (const d of watched) {
        expect(d.status?.replicas ?? 0).toBeLessThanOrEqual(maxPods);
        expect(d.status?.availableReplicas ?? 0).toBeGreaterThanOrEqual(minAvailable);
        expect(d.status?.unavailableReplicas ?? 0).toBeLessThanOrEqual(maxPods - minAvailable);
      }
      // The rollout went step by step: the old ReplicaSet shrank more than once.
      const events = emu.store
        .list('v1', 'Event', { namespace })
        .filter((e) => (e as { reason?: string }).reason === 'ScalingReplicaSet')
        .map((e) => String((e as { message?: string }).message));
      expect(events.filter((m) => m.startsWith('Scaled down')).length).toBeGreaterThan(1);
      const done = deployment(namespace);
      expect(done.status).toMatchObject({ replicas, updatedReplicas: replicas, availableReplicas: replicas });
      expect(done.status?.unavailableReplicas).toBeUndefined();
      const sets = emu.store.list('apps/v1', 'ReplicaSet', { namespace });
      expect(sets.map(replicasOf).sort()).toEqual([0, replicas]);
      const annotations = sets.find((rs) => replicasOf(rs) === replicas)!.metadata.annotations ?? {};
      expect(annotations['deployment.kubernetes.io/max-replicas']).toBe(String(maxPods));
    });
  }

  it('maxSurge 0, maxUnavailable 1: one old pod goes before each new one comes', async () => {
    const namespace = await fixture(3, { strategy: { rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } } });
    const { samples } = await sampleRollout(namespace);
    expect(Math.max(...samples.map((s) => s.specTotal))).toBe(3);
    expect(Math.max(...samples.map((s) => s.pods))).toBeLessThanOrEqual(3);
    expect(Math.min(...samples.map((s) => s.readyPods))).toBe(2);
  });
});

describe('kubelet readiness holds', () => {
  it('keeps new pods Running but unready until released, in-process and over /_emulator/pod-holds', async () => {
    const namespace = await fixture(1);
    const id = emu.pods.holdUnready({ namespace, labelSelector: 'app=app-0' });
    expect(emu.pods.holds()).toEqual([{ id, namespace, labelSelector: 'app=app-0' }]);
    restart(namespace);
    await emu.idle();
    const pods = emu.store.list('v1', 'Pod', { namespace });
    const held = pods.find((p) => !isReady(p))!;
    expect(pods).toHaveLength(2); // the old pod stays: maxUnavailable 25% of 1 is 0
    expect(held.status).toMatchObject({
      phase: 'Running',
      containerStatuses: [{ name: 'app', ready: false, started: true, state: { running: {} } }],
    });
    expect((held.status as { conditions: unknown[] }).conditions).toContainEqual(
      expect.objectContaining({
        type: 'Ready',
        status: 'False',
        reason: 'ContainersNotReady',
        message: 'containers with unready status: [app]',
      }),
    );
    expect(emu.pods.release(id)).toBe(true);
    expect(emu.pods.release(id)).toBe(false);
    await emu.idle();
    expect(emu.store.list('v1', 'Pod', { namespace }).map(isReady)).toEqual([true]);

    // The admin API: POST a hold, list it, DELETE it by id.
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${emu.url}/_emulator/${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
    const created = await admin('POST', 'pod-holds', { namespace });
    expect(created.status).toBe(201);
    const { id: httpId } = (await created.json()) as { id: string };
    expect(await (await admin('GET', 'pod-holds')).json()).toEqual([{ id: httpId, namespace }]);
    restart(namespace, 'again');
    await emu.idle();
    expect(emu.store.list('v1', 'Pod', { namespace }).filter((p) => !isReady(p))).toHaveLength(1);
    expect((await admin('DELETE', `pod-holds/${httpId}`)).status).toBe(200);
    expect((await admin('DELETE', `pod-holds/${httpId}`)).status).toBe(404);
    expect((await admin('POST', 'pod-holds', { labelSelector: 'a in (' })).status).toBe(400);
    await emu.idle();
    expect(emu.store.list('v1', 'Pod', { namespace }).map(isReady)).toEqual([true]);
  });
});

describe('the progress deadline (progress.go, deploymentutil.DeploymentTimedOut)', () => {
  it('no progress for progressDeadlineSeconds turns Progressing=False ProgressDeadlineExceeded', async () => {
    const namespace = await fixture(1, { progressDeadlineSeconds: 2 });
    emu.pods.holdUnready({ namespace });
    const started = Date.now();
    restart(namespace);
    await emu.idle();
    const rs = emu.store
      .list('apps/v1', 'ReplicaSet', { namespace })
      .find((r) => r.metadata.annotations?.['deployment.kubernetes.io/revision'] === '2')!;
    const stalled = progressing(deployment(namespace))!;
    expect(stalled).toMatchObject({ status: 'True', reason: 'ReplicaSetUpdated' });
    expect(stalled.message).toBe(`ReplicaSet "${rs.metadata.name}" is progressing.`);
    // Read over HTTP, as a client does, until the controller gives up on it.
    const timedOut = await waitFor(async () => {
      const d = await apps.readNamespacedDeployment({ namespace, name: 'app-0' });
      return progressing(d)?.status === 'False' ? d : undefined;
    }, 5000);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThan(900); // lastUpdateTime is whole seconds: 2 s after it, 1–2 s after the restart
    expect(elapsed).toBeLessThan(3500);
    const cond = progressing(timedOut)!;
    expect(cond).toMatchObject({
      status: 'False',
      reason: 'ProgressDeadlineExceeded',
      message: `ReplicaSet "${rs.metadata.name}" has timed out progressing.`,
    });
    // A new condition: both times are when it timed out, at least the deadline after the last progress.
    expect(cond.lastUpdateTime).toEqual(cond.lastTransitionTime);
    expect(
      new Date(cond.lastUpdateTime!).getTime() - new Date(stalled.lastUpdateTime!).getTime(),
    ).toBeGreaterThanOrEqual(2000);
    // The old pod keeps the Deployment available; the new one is there, unready.
    expect(timedOut.status).toMatchObject({ replicas: 2, updatedReplicas: 1, availableReplicas: 1 });
    expect(timedOut.status?.unavailableReplicas).toBe(1);
    expect(timedOut.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');

    // Released, the rollout progresses again and completes: True again, with a new lastTransitionTime.
    emu.pods.release();
    const done = await waitFor(() => {
      const d = deployment(namespace);
      return progressing(d)?.reason === 'NewReplicaSetAvailable' ? d : undefined;
    });
    expect(progressing(done)).toMatchObject({
      status: 'True',
      message: `ReplicaSet "${rs.metadata.name}" has successfully progressed.`,
    });
    expect(done.status).toMatchObject({ replicas: 1, updatedReplicas: 1, availableReplicas: 1 });
  });

  it('counts from the last progress: a rollout longer than its deadline that keeps progressing passes', async () => {
    // One pod at a time (surge 1, unavailable 0), 600 ms each: about 3 s for 5 pods, against a 2 s deadline.
    const strategy = { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    const namespace = await fixture(5, { progressDeadlineSeconds: 2, strategy });
    emu.configure({ podStartMs: 600 });
    const started = Date.now();
    restart(namespace);
    const reasons: string[] = [];
    const stop = emu.store.watch('apps/v1', 'Deployment', (e) => {
      const reason = progressing(e.object as unknown as V1Deployment)?.reason;
      if (e.object.metadata.namespace === namespace && reason && reasons.at(-1) !== reason) reasons.push(reason);
    });
    try {
      await waitFor(() => rolledOut(deployment(namespace)), 10_000);
    } finally {
      stop();
    }
    expect(Date.now() - started).toBeGreaterThan(2500);
    // The restart's patch (still the last rollout's condition), then this rollout's, never timed out.
    expect(reasons).toEqual([
      'NewReplicaSetAvailable',
      'NewReplicaSetCreated',
      'ReplicaSetUpdated',
      'NewReplicaSetAvailable',
    ]);
  }, 12_000);

  it('only with a deadline: none (MaxInt32) means no Progressing; setting one finds the ReplicaSet', async () => {
    const namespace = await fixture(1, { progressDeadlineSeconds: 2147483647 });
    expect(deployment(namespace).status?.conditions?.map((c) => c.type)).toEqual(['Available']);
    emu.pods.holdUnready({ namespace });
    restart(namespace);
    await emu.idle();
    expect(deployment(namespace).status?.conditions?.map((c) => c.type)).toEqual(['Available']);
    const reasons: string[] = [];
    const stop = emu.store.watch('apps/v1', 'Deployment', (e) => {
      const reason = progressing(e.object as unknown as V1Deployment)?.reason;
      if (e.object.metadata.namespace === namespace && reason && reasons.at(-1) !== reason) reasons.push(reason);
    });
    emu.store.patch(deployRef(namespace), 'merge', { spec: { progressDeadlineSeconds: 600 } });
    await emu.idle();
    stop();
    expect(reasons).toEqual(['FoundNewReplicaSet']);
    expect(progressing(deployment(namespace))?.message).toMatch(/^Found new replica set "app-0-[a-z0-9]+"$/);
  });

  it('a paused Deployment does not time out; resumed, it is DeploymentResumed, then times out', async () => {
    const namespace = await fixture(1, { progressDeadlineSeconds: 1 });
    emu.pods.holdUnready({ namespace });
    emu.store.patch(deployRef(namespace), 'merge', { spec: { paused: true } });
    restart(namespace);
    await new Promise((r) => setTimeout(r, 2200));
    expect(progressing(deployment(namespace))).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused' });
    const reasons: string[] = [];
    const stop = emu.store.watch('apps/v1', 'Deployment', (e) => {
      const reason = progressing(e.object as unknown as V1Deployment)?.reason;
      if (e.object.metadata.namespace === namespace && reason && reasons.at(-1) !== reason) reasons.push(reason);
    });
    emu.store.patch(deployRef(namespace), 'merge', { spec: { paused: false } });
    await waitFor(() => progressing(deployment(namespace))?.reason === 'ProgressDeadlineExceeded', 4000);
    stop();
    expect(reasons.filter((r) => r !== 'DeploymentPaused')[0]).toBe('DeploymentResumed');
    expect(reasons.at(-1)).toBe('ProgressDeadlineExceeded');
  });
});

describeWith(['kubectl'])('kubectl 1.32 rollout status and the progress deadline', () => {
  let kc: Kubectl;

  beforeAll(async () => {
    kc = await kubectlFor(emu, 'emulator-rollouts-');
  });
  afterAll(() => kc?.close());

  const kubectl = (...args: string[]) => kc.run(...args);

  it('prints the real error and exits 1 when the deadline passes, and succeeds once the pods turn ready', async () => {
    const namespace = await fixture(2, { progressDeadlineSeconds: 2 });
    const hold = emu.pods.holdUnready({ namespace, labelSelector: 'app=app-0' });
    const restarted = await kubectl('rollout', 'restart', 'deployment/app-0', '-n', namespace);
    expect(restarted.code).toBe(0);
    const started = Date.now();
    const failed = await kubectl('rollout', 'status', 'deployment/app-0', '-n', namespace, '--timeout=15s');
    expect(failed.code).toBe(1);
    // 2 replicas, 25%/25%: one new pod beside the two old ones (surge 1, unavailable 0), never ready.
    expect(failed.stdout).toContain(
      'Waiting for deployment "app-0" rollout to finish: 1 out of 2 new replicas have been updated...',
    );
    expect(failed.stderr.trim()).toBe('error: deployment "app-0" exceeded its progress deadline');
    expect(Date.now() - started).toBeLessThan(5000);
    const described = await kubectl(
      'get',
      'deployment',
      'app-0',
      '-n',
      namespace,
      '-o',
      'jsonpath={.status.conditions}',
    );
    expect(described.stdout).toContain('"reason":"ProgressDeadlineExceeded"');

    emu.pods.release(hold);
    const done = await kubectl('rollout', 'status', 'deployment/app-0', '-n', namespace, '--timeout=15s');
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('deployment "app-0" successfully rolled out');
  });
});
