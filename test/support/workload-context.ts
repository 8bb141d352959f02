// Fixtures for the step unit tests that read Deployments, pods and the namespace (restart, verify, metrics):
// a StepContext whose cluster is an in-memory fixture, no I/O.
import type { V1Deployment, V1Namespace, V1Pod } from '@kubernetes/client-node';
import type { ClusterClient } from '../../src/kubernetes/cluster-client.js';
import type { MeshDiscoveryService } from '../../src/kubernetes/mesh-discovery.service.js';
import { onboardingOptions, type RequestOptions } from '../../src/onboarding/onboarding.input.js';
import type { StepContext } from '../../src/onboarding/steps/step.js';

export const UUID = '0d2a3c4e-1b2f-4c3d-9e8f-7a6b5c4d3e2f';
export const createdAt = new Date('2026-11-26T02:00:00.000Z');

export const deployment = (name: string, extra: Partial<V1Deployment['spec']> = {}): V1Deployment => ({
  metadata: { name, namespace: 'ns', generation: 1 },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app' }] } },
    ...extra,
  },
});
export const pod = (app: string, injected: boolean, annotations: Record<string, string> = {}): V1Pod => ({
  metadata: { name: `${app}-x`, labels: { app, ...(injected ? { 'osm-proxy-uuid': UUID } : {}) }, annotations },
  spec: { containers: [{ name: 'app' }, ...(injected ? [{ name: 'sidecar' }] : [])] },
  status: { phase: 'Running' },
});

export function workloadContext(
  deployments: V1Deployment[],
  pods: V1Pod[],
  options: Partial<RequestOptions>,
  { kind = 'ONBOARD', ns = { metadata: { name: 'ns' } } }: { kind?: 'ONBOARD' | 'OFFBOARD'; ns?: V1Namespace } = {},
): StepContext {
  const kube = {
    listDeployments: () => Promise.resolve({ items: deployments }),
    listPods: (_ns: string, selector?: string) =>
      Promise.resolve({ items: selector ? pods.filter((p) => p.metadata?.labels?.[selector]) : pods }),
    getNamespace: () => Promise.resolve(ns),
  } as unknown as ClusterClient;
  return {
    kube,
    mesh: {} as MeshDiscoveryService,
    earlier: [],
    tuning: { restartSettleMs: 0, pollMs: 1, rolloutTimeoutMs: 1000 },
    dryRun: true,
    request: {
      id: 'r',
      createdAt,
      kind,
      cluster: 'c',
      namespace: 'ns',
      meshName: 'osm',
      options: { ...onboardingOptions({ namespace: 'ns' }), ...options },
    },
  };
}
