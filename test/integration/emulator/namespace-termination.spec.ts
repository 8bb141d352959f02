// Namespace deletion as kube-apiserver and the namespace controller do it: the namespace turns Terminating, its
// content is deleted with background propagation, what a finalizer holds keeps the namespace Terminating (with
// the NamespaceContentRemaining / NamespaceFinalizersRemaining conditions), new content is refused with a
// NamespaceTerminating cause, a second DELETE is a 409, and the namespace goes once its last finalizer is removed.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWith } from '../../support/binaries.js';
import { kubectlFor, type Kubectl } from '../../support/kubectl.js';
import { startEmulator, type Emulator } from '../../support/emulator/index.js';
import { expectApiError, waitFor } from '../../support/emulator/testing.js';

let emu: Emulator;
let core: k8s.CoreV1Api;
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

beforeAll(async () => {
  emu = await startEmulator({ podStartMs: 0, injectorLagMs: 0 });
  const kc = new k8s.KubeConfig();
  kc.loadFromString(emu.kubeconfig());
  core = kc.makeApiClient(k8s.CoreV1Api);
});
afterAll(() => emu?.close());

async function heldNamespace(name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name } } });
  await core.createNamespacedConfigMap({
    namespace: name,
    body: { metadata: { name: 'held', finalizers: ['example.com/hold'] }, data: { a: 'b' } },
  });
  await core.createNamespacedConfigMap({ namespace: name, body: { metadata: { name: 'free' } } });
}

describe('namespace termination', () => {
  it('stays Terminating while a finalizer holds content, and goes when it is removed', async () => {
    await heldNamespace('held-ns');
    // DELETE answers with the namespace as it now is (client-node reads the body as a V1Status: fetch it raw).
    const res = await fetch(`${emu.url}/api/v1/namespaces/held-ns`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${emu.token}` },
    });
    const deleted = (await res.json()) as k8s.V1Namespace;
    expect(res.status).toBe(200);
    expect(deleted.status?.phase).toBe('Terminating');
    expect(deleted.metadata?.deletionTimestamp).toBeDefined();
    expect(deleted.spec?.finalizers).toEqual(['kubernetes']);
    await emu.idle();

    const ns = await core.readNamespace({ name: 'held-ns' });
    expect(ns.status?.phase).toBe('Terminating');
    const conditions = Object.fromEntries((ns.status?.conditions ?? []).map((c) => [c.type, c]));
    expect(Object.keys(conditions)).toEqual([
      'NamespaceDeletionDiscoveryFailure',
      'NamespaceDeletionGroupVersionParsingFailure',
      'NamespaceDeletionContentFailure',
      'NamespaceContentRemaining',
      'NamespaceFinalizersRemaining',
    ]);
    expect(conditions.NamespaceContentRemaining).toMatchObject({
      status: 'True',
      reason: 'SomeResourcesRemain',
      message: 'Some resources are remaining: configmaps has 1 resource instances',
    });
    expect(conditions.NamespaceFinalizersRemaining).toMatchObject({
      status: 'True',
      reason: 'SomeFinalizersRemain',
      message: 'Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances',
    });
    // Everything else is gone; the held ConfigMap is marked for deletion.
    const left = await core.listNamespacedConfigMap({ namespace: 'held-ns' });
    expect(left.items.map((cm) => cm.metadata?.name)).toEqual(['held']);
    expect(left.items[0].metadata?.deletionTimestamp).toBeDefined();
    expect((await core.listNamespacedServiceAccount({ namespace: 'held-ns' })).items).toEqual([]);

    // Labels and annotations of a Terminating namespace may still change.
    const labelled = await core.patchNamespace(
      { name: 'held-ns', body: { metadata: { labels: { team: 'a' } } } },
      merge,
    );
    expect(labelled.metadata?.labels?.team).toBe('a');

    await core.patchNamespacedConfigMap(
      { namespace: 'held-ns', name: 'held', body: { metadata: { finalizers: null } } },
      merge,
    );
    await emu.idle();
    expect((await expectApiError(() => core.readNamespace({ name: 'held-ns' }))).code).toBe(404);
  });

  it('refuses new content with a NamespaceTerminating cause, and a second DELETE with 409', async () => {
    await heldNamespace('closing');
    await core.deleteNamespace({ name: 'closing' });
    const blocked = await expectApiError(() =>
      core.createNamespacedConfigMap({ namespace: 'closing', body: { metadata: { name: 'late' } } }),
    );
    expect(blocked.code).toBe(403);
    expect(blocked.status).toMatchObject({
      reason: 'Forbidden',
      message:
        'configmaps "late" is forbidden: unable to create new content in namespace closing because it is being ' +
        'terminated',
      details: {
        name: 'late',
        kind: 'configmaps',
        causes: [
          {
            reason: 'NamespaceTerminating',
            message: 'namespace closing is being terminated',
            field: 'metadata.namespace',
          },
        ],
      },
    });
    const again = await expectApiError(() => core.deleteNamespace({ name: 'closing' }));
    expect(again.code).toBe(409);
    expect(again.status).toMatchObject({
      reason: 'Conflict',
      message:
        'Operation cannot be fulfilled on namespaces "closing": The system is ensuring all content is removed from ' +
        'this namespace.  Upon completion, this namespace will automatically be purged by the system.',
      details: { name: 'closing', kind: 'namespaces' },
    });
    await core.patchNamespacedConfigMap(
      { namespace: 'closing', name: 'held', body: { metadata: { finalizers: [] } } },
      merge,
    );
    await waitFor(async () => (await core.listNamespace()).items.every((n) => n.metadata?.name !== 'closing'));
  });
});

describeWith(['kubectl'])('kubectl 1.32 and a Terminating namespace', () => {
  let kc: Kubectl;
  let dir: string;

  beforeAll(async () => {
    kc = await kubectlFor(emu, 'emulator-ns-');
    dir = kc.dir;
  });
  afterAll(() => kc?.close());

  const kubectl = (...args: string[]) => kc.run(...args);

  it('shows Terminating, refuses new content and a second delete like a real cluster', async () => {
    await heldNamespace('kc-held');
    expect((await kubectl('delete', 'ns', 'kc-held', '--wait=false')).stdout.trim()).toBe(
      'namespace "kc-held" deleted',
    );
    await emu.idle();
    expect((await kubectl('get', 'ns', 'kc-held')).stdout).toMatch(/^kc-held\s+Terminating\s+/m);
    const file = join(dir, 'late.yaml');
    await writeFile(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late, namespace: kc-held}\n');
    const create = await kubectl('create', '-f', file);
    expect(create.stderr.trim()).toBe(
      `Error from server (Forbidden): error when creating "${file}": configmaps "late" is forbidden: unable to ` +
        'create new content in namespace kc-held because it is being terminated',
    );
    const again = await kubectl('delete', 'ns', 'kc-held', '--wait=false');
    expect(again.stderr.trim()).toBe(
      'Error from server (Conflict): Operation cannot be fulfilled on namespaces "kc-held": The system is ensuring ' +
        'all content is removed from this namespace.  Upon completion, this namespace will automatically be purged ' +
        'by the system.',
    );
    const released = await kubectl(
      'patch',
      'cm',
      'held',
      '-n',
      'kc-held',
      '--type',
      'merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    );
    expect(released.code).toBe(0);
    await emu.idle();
    expect((await kubectl('get', 'ns', 'kc-held')).stderr).toContain('namespaces "kc-held" not found');
  });
});
