// The restart step follows each rollout with `kubectl rollout status`'s rule and one watch per batch (one
// Deployment: by name from its patch's resourceVersion; several: the namespace's Deployments from their current
// state), against the emulator over HTTP: the calls it makes, and a watch that closes early, a compacted
// resourceVersion (410), a dropped connection, an API server that cannot watch, a deletion, the deadline.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DomainError } from '../../../src/common/domain-error.js';
import { RestartStep } from '../../../src/onboarding/steps/restart.step.js';
import { rolloutStatus } from '../../../src/onboarding/steps/kit/rollout.js';
import { applyStep } from '../../../src/onboarding/steps/step.js';
import { VerifyStep } from '../../../src/onboarding/steps/verify.step.js';
import { seedAppNamespace, startEmulator, type Emulator } from '../../support/emulator/index.js';
import type { RequestLogEntry } from '../../support/emulator/faults.js';
import { stepContext } from '../../support/step-context.js';

let emulator: Emulator;
const restart = new RestartStep();
const verify = new VerifyStep();
let n = 0;

beforeAll(async () => {
  emulator = await startEmulator({ seed: 'osm' });
});
afterAll(() => emulator?.close());
beforeEach(() => {
  emulator.faults.clear();
  emulator.configure({ podStartMs: 0 });
});

/** A fresh namespace with `deployments` Deployments, labelled for injection, and a restart-all context for it. */
async function fixture(deployments = 2, tuning: { rolloutTimeoutMs?: number } = {}, env: Record<string, string> = {}) {
  const namespace = `rollout-${++n}`;
  seedAppNamespace(emulator.store, namespace, {
    deployments,
    labels: { 'openservicemesh.io/monitored-by': 'osm' },
    annotations: { 'openservicemesh.io/sidecar-injection': 'enabled' },
  });
  await emulator.idle();
  const ctx = await stepContext(
    emulator,
    { namespace, options: { restart: { mode: 'all', deployments: [], maxConcurrent: 5 } } },
    env,
  );
  ctx.tuning = { ...ctx.tuning, ...tuning };
  emulator.requests.clear();
  return { ctx: { ...ctx, seen: {} }, namespace };
}

const calls = (namespace: string) =>
  emulator.requests
    .all()
    .filter((e) => e.namespace === namespace)
    .map((e) => `${e.verb} ${e.resource}${e.name ? `/${e.name}` : ''}`);
const watches = (namespace: string): RequestLogEntry[] =>
  emulator.requests.all().filter((e) => e.verb === 'watch' && e.namespace === namespace);
const param = (e: RequestLogEntry, key: string) => new URLSearchParams(e.query).get(key);

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('restart step: following the rollout with a watch', () => {
  it('one watch for the batch, from the current state; verify then lists only the pods', async () => {
    const { ctx, namespace } = await fixture(2);
    const outcome = await applyStep(restart, ctx);
    expect(outcome.result).toBe('CHANGED');
    // No pods (mode all does not look at them), no gets: list, two patches, one watch.
    expect(calls(namespace).sort()).toEqual([
      'list deployments',
      'patch deployments/app-0',
      'patch deployments/app-1',
      'watch deployments',
    ]);
    const stored = ['app-0', 'app-1'].map((name) =>
      emulator.store.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name })!,
    );
    const [w] = watches(namespace);
    expect(param(w, 'watch')).toBe('true');
    expect(param(w, 'allowWatchBookmarks')).toBe('true');
    // Several Deployments: no field selector and no resourceVersion (the server sends each as it is now first).
    expect(param(w, 'fieldSelector')).toBeNull();
    expect(param(w, 'resourceVersion')).toBeNull();
    expect(stored.map((d) => d.metadata.generation)).toEqual([2, 2]);
    // Both rolled out before the step ended, as seen by the API server.
    for (const d of stored) {
      const status = d.status as { updatedReplicas?: number; availableReplicas?: number; observedGeneration?: number };
      expect(status.observedGeneration).toBe(2);
      expect(status.availableReplicas).toBe(status.updatedReplicas);
    }
    // The Deployments the restart watched to their end are verify's: it lists only the pods.
    emulator.requests.clear();
    const verified = await applyStep(verify, ctx);
    expect(calls(namespace)).toEqual(['list pods']);
    expect(verified.facts).toMatchObject({ waited: true });
    expect((verified.facts!.deployments as { inMesh: number; pods: number }[]).map((d) => d.inMesh)).toEqual([1, 1]);
    // Again (a resumed request, or a second look): both lists.
    emulator.requests.clear();
    await applyStep(verify, ctx);
    expect(calls(namespace).sort()).toEqual(['list deployments', 'list pods']);
  });

  it("a batch waits for each of its Deployments and ignores the namespace's other Deployments", async () => {
    emulator.configure({ podStartMs: 200 });
    const { ctx, namespace } = await fixture(3, { rolloutTimeoutMs: 3000 });
    ctx.request.options.restart = { mode: 'selected', deployments: ['app-0', 'app-1'], maxConcurrent: 5 };
    // app-2 is not restarted; someone else's rollout of it never ends (paused after a template change): the
    // watch sees it too and must not wait for it.
    const key = { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'app-2' };
    const template = { metadata: { annotations: { 'example.com/changed': 'yes' } } };
    emulator.store.patch(key, 'merge', { spec: { paused: true, template } });
    await emulator.idle();
    const outcome = await applyStep(restart, ctx);
    expect(outcome.result).toBe('CHANGED');
    expect(watches(namespace)).toHaveLength(1);
    const rolled = (outcome.facts as { restart: string[] }).restart;
    expect(rolled.sort()).toEqual(['app-0', 'app-1']);
    for (const name of rolled) {
      const d = emulator.store.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name })!;
      expect((d.status as { availableReplicas?: number }).availableReplicas).toBeGreaterThan(0);
      expect((d.status as { observedGeneration?: number }).observedGeneration).toBe(d.metadata.generation);
    }
  });

  it('a Deployment deleted during its rollout fails the step with DEPLOYMENT_NOT_FOUND', async () => {
    emulator.configure({ podStartMs: 2000 });
    const { ctx, namespace } = await fixture(2);
    const done = applyStep(restart, ctx).catch((e: unknown) => e);
    await until(() => watches(namespace).length === 1);
    emulator.store.delete({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'app-1' });
    const err = await done;
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('DEPLOYMENT_NOT_FOUND');
    expect((err as DomainError).message).toContain(`${namespace}/app-1`);
  });

  it('Deployments deleted with their namespace during the rollout: NAMESPACE_TERMINATING, the cause', async () => {
    emulator.configure({ podStartMs: 2000 });
    const { ctx, namespace } = await fixture(2);
    // A finalizer keeps the namespace Terminating once its Deployments are gone.
    emulator.store.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'held', namespace, finalizers: ['example.com/hold'] },
    });
    const done = applyStep(restart, ctx).catch((e: unknown) => e);
    await until(() => watches(namespace).length === 1);
    emulator.store.delete({ apiVersion: 'v1', kind: 'Namespace', name: namespace });
    const err = await done;
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('NAMESPACE_TERMINATING');
  });

  it('watches from the patch response resourceVersion exactly', async () => {
    const { ctx, namespace } = await fixture(1);
    const kube = ctx.kube;
    const patchDeployment = kube.patchDeployment.bind(kube);
    const versions: string[] = [];
    kube.patchDeployment = async (...args) => {
      const patched = await patchDeployment(...args);
      versions.push(patched.metadata!.resourceVersion!);
      return patched;
    };
    try {
      await applyStep(restart, ctx);
    } finally {
      kube.patchDeployment = patchDeployment;
    }
    expect(watches(namespace).map((w) => param(w, 'resourceVersion'))).toEqual(versions);
  });

  it('a watch the server closes early is opened again from the last resourceVersion seen', async () => {
    emulator.configure({ podStartMs: 400 });
    const { ctx, namespace } = await fixture(1);
    const done = applyStep(restart, ctx);
    await until(() => watches(namespace).length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(emulator.closeWatches()).toBeGreaterThan(0);
    expect((await done).result).toBe('CHANGED');
    const [first, second] = watches(namespace);
    expect(second).toBeDefined();
    expect(Number(param(second, 'resourceVersion'))).toBeGreaterThanOrEqual(Number(param(first, 'resourceVersion')));
    expect(calls(namespace).filter((c) => c.startsWith('get'))).toEqual([]);
  });

  it('410 Gone (the resourceVersion was compacted): a watch from the current state, no get', async () => {
    emulator.configure({ podStartMs: 300 });
    const { ctx, namespace } = await fixture(1);
    // etcd compacts right after the patch, once the controller has written more: the patch's version is gone.
    const kube = ctx.kube;
    const patchDeployment = kube.patchDeployment.bind(kube);
    kube.patchDeployment = async (...args) => {
      const patched = await patchDeployment(...args);
      await new Promise((r) => setTimeout(r, 50));
      emulator.compact();
      return patched;
    };
    try {
      expect((await applyStep(restart, ctx)).result).toBe('CHANGED');
    } finally {
      kube.patchDeployment = patchDeployment;
    }
    expect(calls(namespace)).toEqual([
      'list deployments',
      'patch deployments/app-0',
      'watch deployments',
      'watch deployments',
    ]);
    const [expired, resumed] = watches(namespace);
    expect(Number(param(expired, 'resourceVersion'))).toBeGreaterThan(0);
    expect(param(resumed, 'resourceVersion')).toBeNull();
    expect(param(resumed, 'fieldSelector')).toBe('metadata.name=app-0');
  });

  it('a dropped watch connection is retried; an API server that cannot watch (405) is polled with gets', async () => {
    const dropped = await fixture(1);
    emulator.faults.add({ verb: 'watch', resource: 'deployments', drop: true, times: 1 });
    expect((await applyStep(restart, dropped.ctx)).result).toBe('CHANGED');
    expect(watches(dropped.namespace).length).toBe(2);

    const refused = await fixture(1);
    emulator.faults.add({ verb: 'watch', resource: 'deployments', status: 405 });
    emulator.configure({ podStartMs: 150 });
    expect((await applyStep(restart, refused.ctx)).result).toBe('CHANGED');
    expect(watches(refused.namespace).length).toBe(1);
    expect(calls(refused.namespace).filter((c) => c === 'get deployments/app-0').length).toBeGreaterThan(0);
  });

  it('a watch cut as soon as it opens (a proxy) is opened again after a growing pause, not at once', async () => {
    emulator.configure({ podStartMs: 200 });
    const { ctx, namespace } = await fixture(1);
    const cut = emulator.faults.add({ verb: 'watch', resource: 'deployments', end: true });
    const done = applyStep(restart, ctx);
    await until(() => watches(namespace).length >= 1);
    await new Promise((r) => setTimeout(r, 1500));
    const whileCut = watches(namespace).length;
    emulator.faults.remove(cut);
    expect((await done).result).toBe('CHANGED');
    // Pauses of 50, 100, 200, 400, 800 ms: about 5 watches in 1.5 s (hundreds without them).
    expect(whileCut).toBeGreaterThanOrEqual(3);
    expect(whileCut).toBeLessThanOrEqual(8);
  });

  it('a watch the server never answers is given up at the call deadline and opened again', async () => {
    const { ctx, namespace } = await fixture(1, {}, { K8S_REQUEST_TIMEOUT_MS: '1000' });
    emulator.faults.add({ verb: 'watch', resource: 'deployments', timeout: true, times: 1 });
    expect((await applyStep(restart, ctx)).result).toBe('CHANGED');
    const [hung, next] = watches(namespace);
    expect(hung.fault).toBe('timeout');
    expect(param(next, 'resourceVersion')).toBe(param(hung, 'resourceVersion'));
    // After K8S_REQUEST_TIMEOUT_MS and the retry's backoff, not client-node's 30 s (nor the 10 s rollout deadline).
    expect(next.at - hung.at).toBeLessThan(5_000);
  });

  it('fails with ROLLOUT_TIMEOUT at the deadline, saying where the rollout is', async () => {
    emulator.configure({ podStartMs: 5000 });
    const { ctx } = await fixture(1, { rolloutTimeoutMs: 1000 });
    const started = Date.now();
    const err = await applyStep(restart, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('ROLLOUT_TIMEOUT');
    expect((err as DomainError).message).toMatch(/app-0 did not finish within 1000 ms: Waiting for deployment "app-0"/);
    expect(Date.now() - started).toBeLessThan(4000);
  });
});

describe('restart step: the injector settle', () => {
  it('waits after a metrics change as after a fresh label (new pods get the Prometheus annotations)', async () => {
    for (const name of ['metrics', 'namespace'] as const) {
      const { ctx, namespace } = await fixture(1);
      ctx.tuning = { ...ctx.tuning, restartSettleMs: 600 };
      const finishedAt = new Date();
      ctx.earlier = [{ name, result: 'CHANGED', finishedAt, changes: [] }];
      await applyStep(restart, ctx);
      const patched = emulator.requests
        .all()
        .find((r) => r.verb === 'patch' && r.resource === 'deployments' && r.namespace === namespace)!;
      expect(patched.at - finishedAt.getTime(), name).toBeGreaterThanOrEqual(590);
    }
  });
});

describe('restart step retried after its rollout was not followed to the end', () => {
  it('follows the rollout its earlier attempt started, instead of calling it done (an outside audit)', async () => {
    emulator.configure({ podStartMs: 1500 });
    const { ctx, namespace } = await fixture(1, { rolloutTimeoutMs: 200 });
    const first = await applyStep(restart, ctx).catch((e: unknown) => e);
    expect((first as DomainError).code).toBe('ROLLOUT_TIMEOUT');
    const rolling = await ctx.kube.getDeployment(namespace, 'app-0');
    expect(rolloutStatus(rolling).done).toBe(false);

    // The runner's retry: the Deployment carries this request's restart already, so nothing is patched again, and
    // the step waits for the rollout as the first attempt would have.
    ctx.tuning = { ...ctx.tuning, rolloutTimeoutMs: 10_000 };
    emulator.requests.clear();
    const retried = await applyStep(restart, ctx);
    expect(retried.result).toBe('UNCHANGED');
    expect(retried.changes).toEqual([]);
    expect(retried.summary).toMatch(/already restarted by this request.*; follow the rollout of app-0 to its end$/);
    expect(calls(namespace)).not.toContain('patch deployments/app-0');
    expect(watches(namespace).length).toBeGreaterThan(0);
    expect(rolloutStatus(await ctx.kube.getDeployment(namespace, 'app-0')).done).toBe(true);

    // Rolled out: a third run has nothing to wait for.
    emulator.requests.clear();
    const again = await applyStep(restart, ctx);
    expect(again.summary).not.toContain('follow');
    expect(watches(namespace)).toEqual([]);
  });
});

describe('restart step retried with batches left (restart.maxConcurrent)', () => {
  it('follows the rollout its earlier attempt started to its end before it starts the next batch', async () => {
    emulator.configure({ podStartMs: 1500 });
    const { ctx, namespace } = await fixture(2, { rolloutTimeoutMs: 200 });
    ctx.request.options.restart = { ...ctx.request.options.restart, maxConcurrent: 1 };
    const first = await applyStep(restart, ctx).catch((e: unknown) => e);
    expect((first as DomainError).code).toBe('ROLLOUT_TIMEOUT');
    expect(calls(namespace)).not.toContain('patch deployments/app-1');

    ctx.tuning = { ...ctx.tuning, rolloutTimeoutMs: 10_000 };
    emulator.requests.clear();
    const retried = await applyStep(restart, ctx);
    expect(retried.summary).toMatch(/^restart app-1; .*follow the rollout of app-0 to its end$/);
    const order = calls(namespace);
    // app-0's rollout is watched to its end first, then app-1 rolls.
    expect(order.indexOf('watch deployments')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('watch deployments')).toBeLessThan(order.indexOf('patch deployments/app-1'));
    expect(rolloutStatus(await ctx.kube.getDeployment(namespace, 'app-0')).done).toBe(true);
  });
});

describe('restart and verify: a paused Deployment, and a namespace gone meanwhile', () => {
  it('a paused Deployment is skipped and not waited for: warnings, not VERIFY_FAILED', async () => {
    // Pods started before the namespace joined the mesh (no sidecar); app-1 paused.
    const namespace = `paused-${++n}`;
    seedAppNamespace(emulator.store, namespace, { deployments: 2 });
    await emulator.idle();
    emulator.store.patch({ apiVersion: 'v1', kind: 'Namespace', name: namespace }, 'merge', {
      metadata: {
        labels: { 'openservicemesh.io/monitored-by': 'osm' },
        annotations: { 'openservicemesh.io/sidecar-injection': 'enabled' },
      },
    });
    const app1 = { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'app-1' };
    emulator.store.patch(app1, 'merge', { spec: { paused: true } });
    await emulator.idle();
    const base = await stepContext(emulator, {
      namespace,
      options: { restart: { mode: 'all', deployments: [], maxConcurrent: 5 }, verify: { timeoutSeconds: 2 } },
    });
    const ctx = { ...base, seen: {} };
    const restarted = await applyStep(restart, ctx);
    expect(restarted.diagnostics!.map((d) => [d.code, d.object])).toEqual([['OSM_RESTART_PAUSED', 'Deployment/app-1']]);
    const verified = await applyStep(verify, ctx);
    expect(verified.result).toBe('UNCHANGED');
    const resume = `kubectl rollout resume deployment/app-1 -n ${namespace}, then kubectl rollout restart`;
    expect(verified.diagnostics!.map((d) => [d.code, d.object?.split('-')[0], d.hint?.startsWith(resume)])).toEqual([
      ['OSM_POD_NOT_INJECTED', 'Pod/app', true],
      ['OSM_DEPLOYMENT_NOT_RESTARTED', 'Deployment/app', true],
    ]);
    expect(verified.diagnostics).toContainEqual(
      expect.objectContaining({
        code: 'OSM_DEPLOYMENT_NOT_RESTARTED',
        object: 'Deployment/app-1',
        message:
          'app-1: 0/1 pods with a sidecar; paused, so not restarted: its pods get the sidecar at its next rollout',
      }),
    );
  });

  it('a namespace deleted, or being deleted, after the namespace step: restart and verify refuse it', async () => {
    const gone = `gone-${++n}`;
    emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: gone } });
    const context = async (namespace: string, mode: 'all' | 'none') =>
      stepContext(emulator, {
        namespace,
        options: { restart: { mode, deployments: [], maxConcurrent: 5 }, verify: { timeoutSeconds: 1 } },
      });
    // Present and empty: nothing to restart, nothing to verify (one more read each, as nothing was found).
    expect((await applyStep(restart, await context(gone, 'all'))).summary).toBe('nothing to restart: no deployments');
    emulator.store.delete({ apiVersion: 'v1', kind: 'Namespace', name: gone });
    await emulator.idle();
    // A list in a namespace that does not exist answers empty: the namespace is read to tell.
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'no error',
        (e: DomainError) => e.code,
      );
    expect(await code(applyStep(restart, await context(gone, 'all')))).toBe('NAMESPACE_NOT_FOUND');
    expect(await code(applyStep(verify, await context(gone, 'none')))).toBe('NAMESPACE_NOT_FOUND');

    // Being deleted (a finalizer holds one of its objects): an onboarding cannot finish there.
    const ending = `ending-${++n}`;
    emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ending } });
    emulator.store.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'held', namespace: ending, finalizers: ['example.com/hold'] },
    });
    emulator.store.delete({ apiVersion: 'v1', kind: 'Namespace', name: ending });
    await emulator.idle();
    expect(emulator.store.get({ apiVersion: 'v1', kind: 'Namespace', name: ending })?.status).toMatchObject({
      phase: 'Terminating',
    });
    expect(await code(applyStep(restart, await context(ending, 'all')))).toBe('NAMESPACE_TERMINATING');
    expect(await code(applyStep(verify, await context(ending, 'none')))).toBe('NAMESPACE_TERMINATING');
  });
});
