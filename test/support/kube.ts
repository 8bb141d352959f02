import * as k8s from '@kubernetes/client-node';
import type { Emulator } from './emulator/index.js';

/** A plain client-node view of the emulator, to check cluster state the way kubectl would. */
export function kubeClients(emulator: Emulator) {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(emulator.kubeconfig());
  return {
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
  };
}

export async function namespaceMeta(emulator: Emulator, name: string) {
  const ns = await kubeClients(emulator).core.readNamespace({ name });
  return {
    labels: ns.metadata?.labels ?? {},
    annotations: ns.metadata?.annotations ?? {},
    resourceVersion: ns.metadata?.resourceVersion,
  };
}

export async function createNamespace(
  emulator: Emulator,
  name: string,
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
) {
  await kubeClients(emulator).core.createNamespace({ body: { metadata: { name, labels, annotations } } });
}

/** Cluster writes the emulator served (patch/create/update/delete), optionally for one namespace name. */
export function writesTo(emulator: Emulator, name?: string): number {
  return emulator.requests
    .all()
    .filter((r) => ['create', 'update', 'patch', 'delete'].includes(r.verb))
    .filter((r) => !name || r.name === name || r.namespace === name).length;
}
