// Child-process entry (run as `node --import tsx bench/lib/emulator-host.ts`): the Kubernetes API
// emulator in its own process, so its event loop is not shared with the load generator.
// It is driven over the IPC channel by bench/lib/emulator.ts (seed namespaces, set latency,
// summarize the request log); the API server itself is reached over HTTP(S) like a real cluster.

import {
  seedAppNamespace,
  startEmulator,
  type Emulator,
  type RequestLogEntry,
} from '../../test/support/emulator/index.js';
import type { FaultRule } from '../../test/support/emulator/faults.js';

export type EmulatorCommand =
  | {
      cmd: 'seed';
      prefix: string;
      from: number;
      count: number;
      deployments: number;
      replicas?: number;
      services?: boolean;
    }
  | { cmd: 'latency'; ms: number }
  | { cmd: 'fault'; rule: FaultRule }
  | { cmd: 'clearRequests' }
  | { cmd: 'requestStats'; prefix?: string; userAgent?: string }
  | { cmd: 'idle' };

export interface RequestStats {
  total: number;
  /** Calls whose namespace starts with `prefix` (namespaced resources and the namespace objects themselves). */
  inPrefix: number;
  /** Calls to cluster-scoped collections (e.g. the mesh lookup's list of Deployments in all namespaces). */
  clusterScoped: number;
  /** How many distinct `prefix` namespaces were touched, and min/max calls per namespace. */
  namespaces: number;
  perNamespaceMin: number;
  perNamespaceMax: number;
  byCall: Record<string, number>;
  firstAt: number | null;
  lastAt: number | null;
  /** Busiest 1-second window (calls/s as the API server saw them). */
  peakPerSecond: number;
  errors: number;
}

function namespaceOf(e: RequestLogEntry): string | undefined {
  if (e.namespace) return e.namespace;
  if (e.resource === 'namespaces' && e.name) return e.name;
  return undefined;
}

function stats(entries: RequestLogEntry[], prefix = '', userAgent?: string): RequestStats {
  const selected = userAgent ? entries.filter((e) => (e.userAgent ?? '').includes(userAgent)) : entries;
  const perNs = new Map<string, number>();
  const byCall: Record<string, number> = {};
  let inPrefix = 0;
  let clusterScoped = 0;
  let errors = 0;
  const perSecond = new Map<number, number>();
  for (const e of selected) {
    const ns = namespaceOf(e);
    const call =
      `${e.verb} ` +
      `${e.resource ?? e.path}${e.subresource ? `/${e.subresource}` : ''}${ns ? '' : ' (all namespaces)'}`;
    byCall[call] = (byCall[call] ?? 0) + 1;
    if (e.status >= 400) errors++;
    const sec = Math.floor(e.at / 1000);
    perSecond.set(sec, (perSecond.get(sec) ?? 0) + 1);
    if (ns === undefined) clusterScoped++;
    else if (ns.startsWith(prefix)) {
      inPrefix++;
      perNs.set(ns, (perNs.get(ns) ?? 0) + 1);
    }
  }
  const counts = [...perNs.values()];
  return {
    total: selected.length,
    inPrefix,
    clusterScoped,
    namespaces: perNs.size,
    perNamespaceMin: counts.length ? Math.min(...counts) : 0,
    perNamespaceMax: counts.length ? Math.max(...counts) : 0,
    byCall,
    firstAt: selected.length ? selected[0].at : null,
    lastAt: selected.length ? selected[selected.length - 1].at : null,
    peakPerSecond: perSecond.size ? Math.max(...perSecond.values()) : 0,
    errors,
  };
}

async function main(): Promise<void> {
  const port = Number(process.env.BENCH_EMULATOR_PORT ?? 0);
  const kubeconfigPath = process.env.BENCH_KUBECONFIG_OUT;
  if (!kubeconfigPath || !process.send) throw new Error('emulator-host: needs BENCH_KUBECONFIG_OUT and an IPC channel');
  // Stored objects unfrozen: the freeze guards the test suites against changes in place and only costs CPU here.
  const emulator: Emulator = await startEmulator({
    seed: 'osm',
    port,
    token: process.env.BENCH_EMULATOR_TOKEN,
    freezeStored: false,
  });
  await emulator.writeKubeconfig(kubeconfigPath);

  process.on('message', (raw: { id: number } & EmulatorCommand) => {
    void (async () => {
      const started = performance.now();
      try {
        let result: unknown = null;
        switch (raw.cmd) {
          case 'seed':
            for (let i = raw.from; i < raw.from + raw.count; i++) {
              seedAppNamespace(emulator.store, `${raw.prefix}${i}`, {
                deployments: raw.deployments,
                replicas: raw.replicas ?? 1,
                services: raw.services ?? raw.deployments > 0,
              });
              // Let the controllers create ReplicaSets and pods as we go, so the backlog stays small.
              if (raw.deployments > 0 && i % 50 === 49) await emulator.idle();
            }
            await emulator.idle();
            break;
          case 'latency':
            emulator.faults.setLatency(raw.ms);
            break;
          case 'fault':
            result = emulator.faults.add(raw.rule);
            break;
          case 'clearRequests':
            emulator.requests.clear();
            break;
          case 'requestStats':
            result = stats(emulator.requests.all(), raw.prefix, raw.userAgent);
            break;
          case 'idle':
            await emulator.idle();
            break;
        }
        process.send!({ id: raw.id, ok: true, result, ms: performance.now() - started });
      } catch (err) {
        process.send!({ id: raw.id, ok: false, error: (err as Error).stack ?? String(err) });
      }
    })();
  });
  process.on('disconnect', () => void emulator.close().then(() => process.exit(0)));
  process.once('SIGTERM', () => void emulator.close().then(() => process.exit(0)));
  process.send({
    id: 0,
    ok: true,
    result: { url: emulator.url, tlsUrl: emulator.tlsUrl, port: emulator.port, token: emulator.token },
  });
}

main().catch((err: unknown) => {
  console.error(`emulator-host: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
