import * as k8s from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { seedOsmControlPlane, startEmulator, type Emulator } from '../../support/emulator/index.js';
import { expectApiError } from '../../support/emulator/testing.js';

const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

describe('emulator fault injection and request log', () => {
  let emu: Emulator;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;

  beforeAll(async () => {
    emu = await startEmulator({ seed: 'empty', token: 'fault-token' });
    const kc = new k8s.KubeConfig();
    kc.loadFromString(emu.kubeconfig());
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: 'target' } } });
  });

  afterEach(() => {
    emu.faults.clear();
    emu.faults.setLatency(0);
  });

  afterAll(async () => {
    await emu?.close();
  });

  const auth = { Authorization: 'Bearer fault-token' };

  it('starts without osm-edge for seed "empty" and serves its CRDs once installed', async () => {
    const custom = kcFor(emu).makeApiClient(k8s.CustomObjectsApi);
    const missing = await expectApiError(() =>
      custom.getNamespacedCustomObject({
        group: 'config.openservicemesh.io',
        version: 'v1alpha2',
        namespace: 'osm-system',
        plural: 'meshconfigs',
        name: 'osm-mesh-config',
      }),
    );
    // No CRD: kube-apiserver's notfoundhandler answers, in plain text (no Status).
    expect([missing.code, missing.status.message]).toEqual([404, '404 page not found\n']);
    expect((await apps.listDeploymentForAllNamespaces({ labelSelector: 'meshName=osm' })).items).toEqual([]);
    seedOsmControlPlane(emu.store, 'osm-system');
    await emu.idle();
    const mc = await custom.getNamespacedCustomObject({
      group: 'config.openservicemesh.io',
      version: 'v1alpha2',
      namespace: 'osm-system',
      plural: 'meshconfigs',
      name: 'osm-mesh-config',
    });
    expect((mc as { metadata: { name: string } }).metadata.name).toBe('osm-mesh-config');
  });

  it('answers an injected 500 with an InternalError Status and does not apply the write', async () => {
    const before = await core.readNamespace({ name: 'target' });
    emu.faults.add({ verb: 'patch', resource: 'namespaces', name: 'target', status: 500 });
    const err = await expectApiError(() =>
      core.patchNamespace({ name: 'target', body: { metadata: { labels: { x: 'y' } } } }, merge),
    );
    expect(err.code).toBe(500);
    expect(err.status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'InternalError', code: 500 });
    const after = await core.readNamespace({ name: 'target' });
    expect(after.metadata?.labels?.x).toBeUndefined();
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
  });

  it('answers 429 with Retry-After, expires after `times`, and honours probability', async () => {
    emu.faults.add({ verb: 'get', resource: 'namespaces', status: 429, retryAfterSeconds: 2, times: 2 });
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${emu.url}/api/v1/namespaces/target`, { headers: auth });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(await res.json()).toMatchObject({
        reason: 'TooManyRequests',
        details: { retryAfterSeconds: 2 },
        code: 429,
      });
    }
    expect((await fetch(`${emu.url}/api/v1/namespaces/target`, { headers: auth })).status).toBe(200);

    emu.faults.add({ resource: 'namespaces', status: 503, probability: 0 });
    expect((await fetch(`${emu.url}/api/v1/namespaces/target`, { headers: auth })).status).toBe(200);
  });

  it('uses kube-style messages for 403 and 422 and lets a rule override reason and message', async () => {
    emu.faults.add({ verb: 'create', resource: 'deployments', status: 403 });
    const forbidden = await expectApiError(() =>
      apps.createNamespacedDeployment({
        namespace: 'target',
        body: {
          metadata: { name: 'x' },
          spec: {
            selector: { matchLabels: { a: 'b' } },
            template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
          },
        },
      }),
    );
    expect(forbidden.status.reason).toBe('Forbidden');
    expect(forbidden.status.message).toBe(
      'deployments.apps is forbidden: User "system:serviceaccount:emulator:client" cannot create resource ' +
        '"deployments" in API group "apps" in the namespace "target"',
    );
    emu.faults.clear();
    emu.faults.add({ verb: 'get', name: 'target', status: 422, reason: 'Invalid', message: 'custom failure' });
    const invalid = await expectApiError(() => core.readNamespace({ name: 'target' }));
    expect(invalid.status).toMatchObject({ code: 422, reason: 'Invalid', message: 'custom failure' });
  });

  it('drops the connection or never answers', async () => {
    emu.faults.add({ verb: 'get', name: 'target', drop: true, times: 1 });
    await expect(core.readNamespace({ name: 'target' })).rejects.toThrow();
    emu.faults.add({ verb: 'list', resource: 'namespaces', timeout: true, times: 1 });
    await expect(
      fetch(`${emu.url}/api/v1/namespaces`, { headers: auth, signal: AbortSignal.timeout(150) }),
    ).rejects.toThrow();
    expect(emu.requests.count({ fault: 'drop' })).toBeGreaterThanOrEqual(1);
    expect(emu.requests.count({ fault: 'timeout', verb: 'list' })).toBe(1);
    expect((await core.readNamespace({ name: 'target' })).metadata?.name).toBe('target');
  });

  it('adds global and per-rule latency', async () => {
    emu.faults.setLatency(120);
    let started = Date.now();
    await core.readNamespace({ name: 'target' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(115);
    emu.faults.setLatency(0);
    emu.faults.add({ verb: 'get', name: 'target', latencyMs: 100 });
    started = Date.now();
    await core.readNamespace({ name: 'target' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
  });

  it('logs every API request with RBAC verbs, but not the admin API', async () => {
    emu.requests.clear();
    await core.listNamespace();
    await core.readNamespace({ name: 'target' });
    await core.patchNamespace({ name: 'target', body: { metadata: { labels: { logged: 'yes' } } } }, merge);
    await core.createNamespacedConfigMap({ namespace: 'target', body: { metadata: { name: 'cm' } } });
    await core.replaceNamespacedConfigMap({
      namespace: 'target',
      name: 'cm',
      body: { metadata: { name: 'cm' }, data: { a: 'b' } },
    });
    await core.deleteNamespacedConfigMap({ namespace: 'target', name: 'cm' });
    await core.deleteCollectionNamespacedConfigMap({ namespace: 'target' });
    const watch = await new k8s.Watch(kcFor(emu)).watch(
      '/api/v1/namespaces',
      {},
      () => undefined,
      () => undefined,
    );
    watch.abort();
    await fetch(`${emu.url}/_emulator/healthz`);

    const entries = emu.requests.all();
    expect(entries.map((e) => e.verb)).toEqual([
      'list',
      'get',
      'patch',
      'create',
      'update',
      'delete',
      'deletecollection',
      'watch',
    ]);
    const patch = entries[2];
    expect(patch).toMatchObject({
      method: 'PATCH',
      verb: 'patch',
      apiGroup: '',
      apiVersion: 'v1',
      resource: 'namespaces',
      name: 'target',
      status: 200,
      contentType: 'application/merge-patch+json',
    });
    expect(patch.namespace).toBeUndefined();
    expect(typeof patch.at).toBe('number');
    expect(entries[3]).toMatchObject({ verb: 'create', resource: 'configmaps', namespace: 'target', status: 201 });
    expect(emu.requests.count({ verb: 'patch', resource: 'namespaces' })).toBe(1);
    expect(emu.requests.count((e) => e.status >= 200 && e.status < 300)).toBe(8);
  });

  it('exposes the admin API over HTTP without authentication', async () => {
    const health = await fetch(`${emu.url}/_emulator/healthz`);
    expect(await health.json()).toEqual({ ok: true });
    const added = await fetch(`${emu.url}/_emulator/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ verb: 'get', resource: 'namespaces', status: 503, times: 1 }),
    });
    expect(added.status).toBe(201);
    expect((await added.json()) as { id: string }).toHaveProperty('id');
    expect((await fetch(`${emu.url}/api/v1/namespaces/target`, { headers: auth })).status).toBe(503);
    expect((await fetch(`${emu.url}/api/v1/namespaces/target`, { headers: auth })).status).toBe(200);

    const bad = await fetch(`${emu.url}/_emulator/faults`, { method: 'POST', body: JSON.stringify({ status: 'x' }) });
    expect(bad.status).toBe(400);

    await fetch(`${emu.url}/_emulator/faults`, { method: 'POST', body: JSON.stringify({ status: 500 }) });
    await fetch(`${emu.url}/_emulator/faults`, { method: 'DELETE' });
    expect((await fetch(`${emu.url}/api/v1/namespaces/target`, { headers: auth })).status).toBe(200);

    await fetch(`${emu.url}/_emulator/latency`, { method: 'PUT', body: JSON.stringify({ ms: 80 }) });
    const started = Date.now();
    await fetch(`${emu.url}/api/v1/namespaces/target`, { headers: auth });
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    await fetch(`${emu.url}/_emulator/latency`, { method: 'PUT', body: JSON.stringify({ ms: 0 }) });

    const logged = (await (await fetch(`${emu.url}/_emulator/requests`)).json()) as { path: string }[];
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.every((e) => !e.path.startsWith('/_emulator'))).toBe(true);
    await fetch(`${emu.url}/_emulator/requests`, { method: 'DELETE' });
    expect(emu.requests.all()).toEqual([]);
  });
});

function kcFor(emu: Emulator): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(emu.kubeconfig());
  return kc;
}
