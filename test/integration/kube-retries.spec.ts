// Which failed Kubernetes calls ClusterClient sends again: a read answered 503 (an outage) is retried; a 410 Gone
// (an expired continue token) and a refused TLS handshake are not, since the same call would be refused the same.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterClient } from '../../src/kubernetes/cluster-client.js';
import { KubeError } from '../../src/kubernetes/kube-error.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';

describe('ClusterClient retries', () => {
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await startEmulator();
  });
  afterAll(async () => {
    await emulator?.close();
  });

  function client(edit: (kc: k8s.KubeConfig) => void = () => {}): ClusterClient {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(emulator.kubeconfig());
    edit(kc);
    return new ClusterClient('emulator', kc, {
      requestTimeoutMs: 5_000,
      connectionIdleMs: 60_000,
      limiter: { take: () => Promise.resolve() },
      fieldManager: 'osm-onboarding-test',
    });
  }
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (err: unknown) => err as KubeError,
    );

  it('retries a read answered 503', async () => {
    emulator.requests.clear();
    emulator.faults.add({ verb: 'list', resource: 'namespaces', status: 503, times: 2 });
    expect((await client().listNamespaces({ limit: 1 })).items).toHaveLength(1);
    expect(emulator.requests.count({ verb: 'list', resource: 'namespaces' })).toBe(3);
  });

  it('does not send a list answered 410 Gone again: its continue token has expired', async () => {
    emulator.requests.clear();
    const rule = emulator.faults.add({ verb: 'list', resource: 'namespaces', status: 410, reason: 'Expired' });
    try {
      const err = await failure(client().listNamespaces({ limit: 1, continueToken: 'old' }));
      expect([err?.status, err?.reason]).toEqual([410, 'TRANSIENT']);
      expect(emulator.requests.count({ verb: 'list', resource: 'namespaces' })).toBe(1);
    } finally {
      emulator.faults.remove(rule);
    }
  });

  it('does not retry a TLS handshake that refused the server certificate, and says so', async () => {
    const untrusting = client((kc) => {
      // The emulator's certificate is self-signed, which its kubeconfig accepts with insecure-skip-tls-verify.
      (kc.getCurrentCluster() as { skipTLSVerify: boolean }).skipTLSVerify = false;
    });
    const started = Date.now();
    const err = await failure(untrusting.getNamespace('default'));
    expect(err).toBeInstanceOf(KubeError);
    expect([err?.reason, err?.transient]).toEqual(['TLS', false]);
    expect(err?.message).toMatch(/TLS handshake refused \(\w+\)/);
    // No back-off between attempts: one attempt only (three retries would wait at least 25 + 50 + 100 ms).
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
