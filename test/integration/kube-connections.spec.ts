// Connection reuse to the Kubernetes API: client-node 2 would open a new TCP + TLS connection per call;
// ClusterClient reuses one keep-alive dispatcher per TLS identity (src/kubernetes/cluster-client.ts).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { ClusterGateway } from '../../src/kubernetes/cluster-gateway.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';

describe('Kubernetes API connections', () => {
  let emulator: Emulator;
  let kubeconfig: string;

  beforeAll(async () => {
    emulator = await startEmulator();
    const dir = await mkdtemp(join(tmpdir(), 'conn-'));
    kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, emulator.kubeconfig({ contexts: ['emulator', 'staging'] }));
  });
  afterAll(async () => {
    await emulator?.close();
  });

  it('50 sequential calls over TLS, from two gateways and two contexts, reuse keep-alive connections', async () => {
    const config = loadConfig({ KUBECONFIG: kubeconfig, K8S_QPS: '1000', K8S_BURST: '1000' });
    const gateways = [new ClusterGateway(config), new ClusterGateway(config)];
    const before = emulator.connectionsAccepted();
    for (let i = 0; i < 50; i++) {
      const gateway = gateways[i % 2];
      await gateway.client(i % 4 < 2 ? 'emulator' : 'staging').getNamespace('default');
    }
    // The same cluster and user (same TLS identity): one pool, whichever gateway or context. undici opens a
    // second connection on the second call (a plain undici Agent does the same), then reuses them; without the
    // reuse every call is a new connection (50).
    expect(emulator.connectionsAccepted() - before).toBeLessThanOrEqual(2);
  });
});
