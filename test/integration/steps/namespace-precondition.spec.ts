// The namespace steps' patches carry the resourceVersion they planned from: a namespace another mesh labels
// between the step's read and its write is not taken over (onboarding) or stripped (offboarding). kube-apiserver
// answers the stale patch with 409 Conflict, which the runner re-plans on; the re-plan refuses the other mesh's
// namespace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeError } from '../../../src/kubernetes/kube-error.js';
import { NamespaceRemovalStep } from '../../../src/onboarding/steps/namespace-removal.step.js';
import { NamespaceStep } from '../../../src/onboarding/steps/namespace.step.js';
import { startEmulator, type Emulator } from '../../support/emulator/index.js';
import { stepContext } from '../../support/step-context.js';

const MONITORED_BY = 'openservicemesh.io/monitored-by';
let emulator: Emulator;
const ref = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', name });
const labels = (name: string) => emulator.store.get(ref(name))?.metadata?.labels ?? {};

beforeAll(async () => {
  emulator = await startEmulator({ seed: 'osm' });
});
afterAll(() => emulator?.close());

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('a namespace another mesh labels between the step plan and its write', () => {
  it('is not taken over by an onboarding: 409 on the write, and the re-plan refuses it', async () => {
    emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'raced-in' } });
    const ctx = await stepContext(emulator, { namespace: 'raced-in' });
    const step = new NamespaceStep();
    const plan = await step.plan(ctx);
    expect(plan.changes).toHaveLength(1);
    emulator.store.patch(ref('raced-in'), 'merge', { metadata: { labels: { [MONITORED_BY]: 'blue' } } });

    const err = await failure(step.execute(ctx, plan));
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).reason).toBe('CONFLICT');
    expect(labels('raced-in')[MONITORED_BY]).toBe('blue');
    expect(await failure(step.plan(ctx))).toMatchObject({ code: 'NAMESPACE_OWNED_BY_OTHER_MESH' });
  });

  it('keeps its labels through an offboarding planned while it was still ours', async () => {
    emulator.store.create({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'raced-out', labels: { [MONITORED_BY]: 'osm' } },
    });
    const ctx = await stepContext(emulator, { kind: 'OFFBOARD', namespace: 'raced-out' });
    const step = new NamespaceRemovalStep();
    const plan = await step.plan(ctx);
    expect(plan.changes).toHaveLength(1);
    emulator.store.patch(ref('raced-out'), 'merge', { metadata: { labels: { [MONITORED_BY]: 'blue' } } });

    const err = await failure(step.execute(ctx, plan));
    expect((err as KubeError).reason).toBe('CONFLICT');
    expect(labels('raced-out')[MONITORED_BY]).toBe('blue');
    expect(await failure(step.plan(ctx))).toMatchObject({ code: 'NAMESPACE_OWNED_BY_OTHER_MESH' });
  });

  it('writes as before when nothing changed in between, and a second run is unchanged', async () => {
    emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'calm' } });
    const ctx = await stepContext(emulator, { namespace: 'calm' });
    const step = new NamespaceStep();
    await step.execute(ctx, await step.plan(ctx));
    expect(labels('calm')[MONITORED_BY]).toBe('osm');
    expect((await step.plan(ctx)).changes).toEqual([]);
  });
});
