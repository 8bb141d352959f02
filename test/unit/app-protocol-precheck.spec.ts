// The request-time check of `appProtocols` (request-validator.ts, target-precheck.ts) against fake cluster reads:
// the app-protocol step's rules with the item's own field, one Service list per request that sets appProtocols and
// none for one that does not, a refusal only on a fresh read, and an unanswered read that lets the request through.
import { describe, expect, it } from 'vitest';
import type { V1Service } from '@kubernetes/client-node';
import type { AppConfig } from '../../src/config/config.js';
import { DomainError } from '../../src/common/domain-error.js';
import type { ClusterGateway } from '../../src/kubernetes/cluster-gateway.js';
import { KubeError } from '../../src/kubernetes/kube-error.js';
import type { MeshDiscoveryService } from '../../src/kubernetes/mesh-discovery.service.js';
import { RequestValidator } from '../../src/onboarding/request-validator.js';
import { resolveAppProtocols } from '../../src/onboarding/steps/app-protocol.step.js';
import { TargetPrecheck } from '../../src/onboarding/target-precheck.js';

const NS = 'bookstore';

function svc(name: string, ports: NonNullable<V1Service['spec']>['ports']): V1Service {
  return { metadata: { name, namespace: NS }, spec: { ports } };
}

const mysql = svc('mysql', [{ name: 'mysql', port: 3306 }]);
const web = svc('web', [{ name: 'http', port: 8080 }]);
const dns = svc('dns', [{ name: 'dns', port: 53, protocol: 'UDP' }]);

/** A validator whose cluster is `cluster.services`; every Kubernetes call it makes lands in `calls`. */
function validator(timeoutMs = 1000) {
  const calls: string[] = [];
  const cluster = {
    services: [mysql, web, dns],
    listServices: async (): Promise<{ items: V1Service[] }> => ({ items: structuredClone(cluster.services) }),
  };
  const kube = {
    getNamespace: async (name: string) => {
      calls.push(`get namespace ${name}`);
      return { metadata: { name } };
    },
    listServices: async (namespace: string) => {
      calls.push(`list services in ${namespace}`);
      return cluster.listServices();
    },
    listDeployments: async (namespace: string) => {
      calls.push(`list deployments in ${namespace}`);
      return { items: [{ metadata: { name: 'mysql' } }] };
    },
  };
  const gateway = { resolve: (c?: string | null) => c ?? 'dev', client: () => kube } as unknown as ClusterGateway;
  const mesh = {
    discover: async () => ({ meshName: 'osm', controlPlaneNamespace: 'osm-system', controlPlaneNamespaces: [] }),
  } as unknown as MeshDiscoveryService;
  const config = {
    defaultMeshName: 'osm',
    precheck: { timeoutMs, cacheMs: 60_000, informer: false },
  } as AppConfig;
  const v = new RequestValidator(gateway, mesh, new TargetPrecheck(gateway, config), config);
  const onboard = (body: Record<string, unknown>) => v.validate('ONBOARD', { namespace: NS, ...body }, () => {});
  const refusal = (body: Record<string, unknown>) =>
    onboard(body).then(
      () => undefined,
      (e: unknown) => e,
    );
  return { calls, cluster, onboard, refusal, v };
}

describe('appProtocols at request time', () => {
  it('one Service list for a request with appProtocols, however many Services; none without', async () => {
    const plain = validator();
    await plain.onboard({ restart: { mode: 'selected', deployments: ['mysql'] } });
    expect(plain.calls).toEqual([`get namespace ${NS}`, `list deployments in ${NS}`]);
    await plain.v.validate('OFFBOARD', { namespace: NS }, () => {});
    expect(plain.calls).toHaveLength(2); // the namespace read is reused; no Service is read

    const { calls, onboard } = validator();
    await onboard({
      appProtocols: [
        { service: 'mysql', port: 'mysql', appProtocol: 'tcp-server-first' },
        { service: 'mysql', port: 3306, appProtocol: 'tcp-server-first' }, // the same port by number, same value
        { service: 'web', port: 8080, appProtocol: 'http' },
      ],
    });
    expect(calls).toEqual([`get namespace ${NS}`, `list services in ${NS}`]);
  });

  it("refuses with the step's code and message, naming the item's field", async () => {
    const { refusal } = validator();
    const ok = { service: 'web', port: 'http', appProtocol: 'http' };
    const noService = await refusal({ appProtocols: [ok, { service: 'nope', port: 80, appProtocol: 'tcp' }] });
    expect(noService).toBeInstanceOf(DomainError);
    expect(noService).toMatchObject({
      code: 'SERVICE_PORT_NOT_FOUND',
      message: `Service nope not found in namespace ${NS}`,
      fields: [{ field: 'appProtocols.1.service' }],
      options: { hint: `services in ${NS}: dns, mysql, web` },
    });
    const cases: [Record<string, unknown>[], string, string, string][] = [
      [
        [{ service: 'web', port: 'grpc', appProtocol: 'grpc' }],
        'SERVICE_PORT_NOT_FOUND',
        'appProtocols.0.port',
        'has no port named "grpc"',
      ],
      [
        [ok, { service: 'web', port: 9090, appProtocol: 'http' }],
        'SERVICE_PORT_NOT_FOUND',
        'appProtocols.1.port',
        'has no port 9090',
      ],
      [
        [{ service: 'dns', port: 53, appProtocol: 'tcp' }],
        'SERVICE_PORT_NOT_FOUND',
        'appProtocols.0.port',
        'has no TCP port 53',
      ],
      [
        [ok, { service: 'web', port: 8080, appProtocol: 'tcp' }],
        'VALIDATION_FAILED',
        'appProtocols.1.appProtocol',
        'port "http" of Service web is given twice ("http": http, 8080: tcp)',
      ],
    ];
    for (const [appProtocols, code, field, says] of cases) {
      expect(await refusal({ appProtocols })).toMatchObject({
        code,
        fields: [{ field, message: expect.stringContaining(says) }],
      });
    }
  });

  it('refuses only on a fresh read: a Service created after a refusal is accepted at once', async () => {
    const { calls, cluster, onboard, refusal } = validator();
    const body = { appProtocols: [{ service: 'late', port: 'http', appProtocol: 'http' }] };
    expect(await refusal(body)).toMatchObject({ code: 'SERVICE_PORT_NOT_FOUND' });
    cluster.services = [...cluster.services, svc('late', [{ name: 'http', port: 80 }])];
    await onboard(body); // the cached list refuses it; the fresh one does not
    expect(calls.filter((c) => c.startsWith('list services'))).toHaveLength(3);
  });

  it('a Service list that fails or gets no answer in time lets the request through (the worker decides)', async () => {
    const body = { appProtocols: [{ service: 'nope', port: 'http', appProtocol: 'http' }] };
    const failing = validator();
    failing.cluster.listServices = () => Promise.reject(new KubeError('TRANSIENT', 'unavailable', 503));
    await expect(failing.onboard(body)).resolves.toMatchObject({ namespace: NS });
    expect(failing.calls).toContain(`list services in ${NS}`);
    const slow = validator(50);
    slow.cluster.listServices = () => new Promise(() => {});
    await expect(slow.onboard(body)).resolves.toMatchObject({ namespace: NS });
    expect(slow.calls).toContain(`list services in ${NS}`);
  });

  it("the step's rules name the item's field when asked, `appProtocols` (the step's) otherwise", () => {
    const request = [{ service: 'mysql', port: 3306, appProtocol: 'tcp' as const }];
    expect(resolveAppProtocols(NS, [mysql], request)).toEqual([{ svc: mysql, index: 0, req: request[0], item: 0 }]);
    const missing = [{ service: 'web', port: 'http', appProtocol: 'http' as const }];
    const thrown = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return err;
      }
    };
    expect(thrown(() => resolveAppProtocols(NS, [mysql], missing))).toMatchObject({
      code: 'SERVICE_PORT_NOT_FOUND',
      fields: [{ field: 'appProtocols' }],
    });
    const at = (i: number, key: string) => `appProtocols.${i}.${key}`;
    expect(thrown(() => resolveAppProtocols(NS, [mysql], missing, at))).toMatchObject({
      fields: [{ field: 'appProtocols.0.service' }],
    });
  });
});
