import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { ClusterGateway } from '../../src/kubernetes/cluster-gateway.js';
import { MeshDiscoveryService } from '../../src/kubernetes/mesh-discovery.service.js';
import { onboardingOptions, type RequestOptions } from '../../src/onboarding/onboarding.input.js';
import type { StepContext, StepRequest } from '../../src/onboarding/steps/step.js';
import type { Emulator } from './emulator/index.js';

/** A real ClusterGateway for the emulator (its kubeconfig written to a temporary file), with `env`'s settings. */
export async function gatewayFor(
  emulator: Emulator,
  env: Record<string, string> = {},
): Promise<{ gateway: ClusterGateway; config: ReturnType<typeof loadConfig> }> {
  const dir = await mkdtemp(join(tmpdir(), 'gateway-'));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, emulator.kubeconfig());
  const config = loadConfig({ KUBECONFIG: kubeconfig, ...env });
  return { gateway: new ClusterGateway(config), config };
}

/**
 * A real StepContext (real ClusterGateway → client-node → HTTP → emulator) for testing one
 * step directly, without Postgres or the queue.
 */
export async function stepContext(
  emulator: Emulator,
  request: Partial<Omit<StepRequest, 'options'>> & { namespace: string; options?: Partial<RequestOptions> },
  env: Record<string, string> = {},
): Promise<StepContext & { gateway: ClusterGateway }> {
  const { gateway, config } = await gatewayFor(emulator, { MESH_CACHE_TTL_MS: '0', ...env });
  const cluster = request.cluster ?? gateway.defaultCluster();
  return {
    gateway,
    kube: gateway.client(cluster),
    mesh: new MeshDiscoveryService(gateway, config),
    earlier: [],
    tuning: { restartSettleMs: 0, pollMs: 20, rolloutTimeoutMs: 10_000 },
    request: {
      createdAt: request.createdAt ?? new Date(),
      id: request.id ?? crypto.randomUUID(),
      kind: request.kind ?? 'ONBOARD',
      cluster,
      namespace: request.namespace,
      meshName: request.meshName ?? 'osm',
      options: { ...onboardingOptions({ namespace: request.namespace }), ...request.options },
    },
  };
}
