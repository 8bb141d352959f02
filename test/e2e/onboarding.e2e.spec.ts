import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { INestApplication } from '@nestjs/common';
import { ADMIN_TOKEN, http, startApi, uniqueName, waitForStatus } from '../support/harness.js';

// Runs only when E2E_KUBECONFIG names a kubeconfig whose current context has osm-edge installed
// (mesh E2E_MESH_NAME, default "osm"). It creates and deletes its own namespace.
const kubeconfig = process.env.E2E_KUBECONFIG;
const meshName = process.env.E2E_MESH_NAME ?? 'osm';

describe.runIf(kubeconfig)('e2e against a real cluster', () => {
  let api: { app: INestApplication; url: string };
  let core: k8s.CoreV1Api;
  const ns = uniqueName('osm-onboarding-e2e');

  beforeAll(async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig!);
    core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    api = await startApi({
      DATABASE_URL: inject('databaseUrl'),
      REDIS_URL: inject('redisUrl'),
      KUBECONFIG: kubeconfig!,
      QUEUE_PREFIX: uniqueName('e2e'),
      LOG_LEVEL: 'warn',
      OSM_ONBOARDING_ADMIN_TOKEN: ADMIN_TOKEN,
      ROLE: 'all',
      PORT: '0',
      HOST: '127.0.0.1',
    });
  });
  afterAll(async () => {
    await api?.app.close();
    await core?.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it('onboards and offboards a fresh namespace', async () => {
    const on = await http(api.url, 'POST', '/v1/onboardings', { namespace: ns, meshName });
    expect(on.status).toBe(202);
    expect((await waitForStatus(api.url, on.body.id, ['SUCCEEDED', 'FAILED'], 120_000)).status).toBe('SUCCEEDED');
    const labelled = await core.readNamespace({ name: ns });
    expect(labelled.metadata?.labels?.['openservicemesh.io/monitored-by']).toBe(meshName);
    expect(labelled.metadata?.annotations?.['openservicemesh.io/sidecar-injection']).toBe('enabled');

    const off = await http(api.url, 'POST', '/v1/offboardings', { namespace: ns, meshName });
    expect((await waitForStatus(api.url, off.body.id, ['SUCCEEDED', 'FAILED'], 120_000)).status).toBe('SUCCEEDED');
    const removed = await core.readNamespace({ name: ns });
    expect(removed.metadata?.labels?.['openservicemesh.io/monitored-by']).toBeUndefined();
  });
});
