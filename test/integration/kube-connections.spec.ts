// Connection reuse to the Kubernetes API: client-node 2 would open a new TCP + TLS connection per call;
// ClusterClient reuses one keep-alive dispatcher per TLS identity (src/kubernetes/cluster-client.ts), and speaks
// HTTP/2 where the server offers it (kube-apiserver does; so does the emulator unless told not to).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { ClusterGateway } from '../../src/kubernetes/cluster-gateway.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { EMULATOR_TLS_CERT, EMULATOR_TLS_KEY } from '../support/emulator/tls.js';

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

  it('keeps an idle connection K8S_CONNECTION_IDLE_MS (undici closes one after 4 s by default)', async () => {
    const gateway = (idle?: string) =>
      new ClusterGateway(
        loadConfig({
          KUBECONFIG: kubeconfig,
          K8S_QPS: '1000',
          K8S_BURST: '1000',
          ...(idle ? { K8S_CONNECTION_IDLE_MS: idle } : {}),
        }),
      );
    const kept = gateway(); // the default, 60 s
    const brief = gateway('300');
    await kept.client('emulator').getNamespace('default');
    await brief.client('emulator').getNamespace('default');
    await new Promise((r) => setTimeout(r, 4_500));
    const before = emulator.connectionsAccepted();
    await kept.client('emulator').getNamespace('default');
    expect(emulator.connectionsAccepted() - before).toBe(0);
    await brief.client('emulator').getNamespace('default');
    expect(emulator.connectionsAccepted() - before).toBe(1);
  });

  /** 20 rounds of a get and a watch ended by us after its first event (as a rollout watch ends). */
  async function getsAndEndedWatches(kubeconfigFile: string): Promise<void> {
    const gateway = new ClusterGateway(loadConfig({ KUBECONFIG: kubeconfigFile, K8S_QPS: '1000', K8S_BURST: '1000' }));
    const client = gateway.client('emulator');
    for (let i = 0; i < 20; i++) {
      await client.getNamespace('default');
      const end = await client.watchDeployments('bookstore', { deadline: Date.now() + 5_000, onEvent: () => true });
      expect(end.end).toBe('done');
    }
  }

  it('over HTTP/2, as kube-apiserver offers it, gets and the watches we end share one connection', async () => {
    const before = emulator.connectionsAccepted();
    const since = Date.now();
    await getsAndEndedWatches(kubeconfig);
    const calls = emulator.requests.all().filter((e) => e.at >= since && e.namespace !== undefined);
    expect(calls.length).toBeGreaterThanOrEqual(20);
    expect(new Set(calls.map((e) => e.protocol))).toEqual(new Set(['h2']));
    // Ending a watch resets its stream, not the connection: at most one new connection for the 40 calls (none when
    // the first test's is still open: the dispatcher is per TLS identity, process-wide).
    expect(emulator.connectionsAccepted() - before).toBeLessThanOrEqual(1);
    // Each reset reaches the server, which closes its watch (none left open on the connection).
    await vi.waitFor(() => expect(emulator.openWatches()).toBe(0));
  });

  it('over HTTP/1.1 only (a server or proxy without h2), each watch we end costs its connection', async () => {
    const h1 = await startEmulator({ http2: false });
    try {
      const file = join(await mkdtemp(join(tmpdir(), 'h1-')), 'kubeconfig');
      await writeFile(file, h1.kubeconfig());
      await getsAndEndedWatches(file);
      const calls = h1.requests.all().filter((e) => e.namespace !== undefined);
      expect(new Set(calls.map((e) => e.protocol))).toEqual(new Set(['http/1.1']));
      // HTTP/1.1 cannot end a response early and keep its connection: a new one after each of the 20 watches.
      expect(h1.connectionsAccepted()).toBeGreaterThanOrEqual(20);
    } finally {
      await h1.close();
    }
  });

  it('verifies the server with the kubeconfig CA and presents its client certificate (one TLS context)', async () => {
    // An API server that requires a client certificate signed by its CA (kind's and kubeadm's users are
    // certificates). The emulator's self-signed certificate is the server's, the CA and the client's.
    const seen: string[] = [];
    const server: Server = createServer(
      { cert: EMULATOR_TLS_CERT, key: EMULATOR_TLS_KEY, ca: EMULATOR_TLS_CERT, requestCert: true },
      (req, res) => {
        const socket = req.socket as TLSSocket;
        seen.push(socket.authorized ? String(socket.getPeerCertificate().subject.CN) : 'unauthorized');
        res.writeHead(socket.authorized ? 200 : 401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } }));
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const b64 = (pem: string) => Buffer.from(pem).toString('base64');
      const file = join(await mkdtemp(join(tmpdir(), 'mtls-')), 'kubeconfig');
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await writeFile(
        file,
        dump({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'm', cluster: { server: url, 'certificate-authority-data': b64(EMULATOR_TLS_CERT) } }],
          users: [
            {
              name: 'm',
              user: { 'client-certificate-data': b64(EMULATOR_TLS_CERT), 'client-key-data': b64(EMULATOR_TLS_KEY) },
            },
          ],
          contexts: [{ name: 'm', context: { cluster: 'm', user: 'm' } }],
          'current-context': 'm',
        }),
      );
      const gateway = new ClusterGateway(loadConfig({ KUBECONFIG: file, K8S_QPS: '1000', K8S_BURST: '1000' }));
      for (let i = 0; i < 3; i++) {
        expect((await gateway.client('m').getNamespace('default')).metadata?.name).toBe('default');
      }
      expect(seen).toEqual(['kube-apiserver-emulator', 'kube-apiserver-emulator', 'kube-apiserver-emulator']);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
