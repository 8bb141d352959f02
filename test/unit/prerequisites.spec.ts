import { describe, expect, it } from 'vitest';
import type {
  V1Container,
  V1Deployment,
  V1Namespace,
  V1Pod,
  V1PodSpec,
  V1Service,
  V1ServiceAccount,
  V1ServicePort,
} from '@kubernetes/client-node';
import { DomainError } from '../../src/common/domain-error.js';
import { KubeError } from '../../src/kubernetes/kube-error.js';
import type { ClusterClient } from '../../src/kubernetes/cluster-client.js';
import type { MeshDiscoveryService } from '../../src/kubernetes/mesh-discovery.service.js';
import { onboardingOptions } from '../../src/onboarding/onboarding.input.js';
import { PREREQUISITE_CODES, PrerequisitesStep } from '../../src/onboarding/steps/prerequisites.step.js';
import type { Diagnostic, StepContext } from '../../src/onboarding/steps/step.js';

// Planning logic only: the cluster is a fixture object, no I/O.
interface Fixture {
  namespace?: V1Namespace | null;
  deployments?: V1Deployment[];
  statefulSets?: V1Deployment[];
  daemonSets?: V1Deployment[];
  pods?: V1Pod[];
  services?: V1Service[];
  serviceAccounts?: V1ServiceAccount[];
  /** The mesh's MeshConfig (read only when a rule depends on it); absent: it cannot be read. */
  meshConfig?: { spec: Record<string, unknown> };
  /** The request enables metrics. */
  metrics?: boolean;
}

const NS = 'team-a';
const UUID = '0d2a3c4e-1b2f-4c3d-9e8f-7a6b5c4d3e2f';

function ctx(f: Fixture, prerequisites?: { enabled?: boolean; acceptErrors?: string[] }) {
  const calls: string[] = [];
  const list =
    <T>(what: string, items: T[] = []) =>
    async () => {
      calls.push(what);
      return { items };
    };
  const kube = {
    getNamespace: async (name: string) => {
      calls.push('getNamespace');
      if (f.namespace === null) throw new KubeError('NOT_FOUND', `namespaces "${name}" not found`, 404);
      return f.namespace ?? { metadata: { name: NS } };
    },
    listDeployments: list('deployments', f.deployments),
    listStatefulSets: list('statefulsets', f.statefulSets),
    listDaemonSets: list('daemonsets', f.daemonSets),
    listPods: list('pods', f.pods),
    listServices: list('services', f.services),
    listServiceAccounts: list('serviceaccounts', f.serviceAccounts ?? [sa('default'), sa('app')]),
    getCustom: async (_crd: unknown, namespace: string, name: string) => {
      calls.push('meshconfig');
      if (!f.meshConfig) throw new KubeError('NOT_FOUND', `meshconfigs "${name}" not found`, 404);
      expect([namespace, name]).toEqual(['osm-system', 'osm-mesh-config']);
      return f.meshConfig;
    },
  } as unknown as ClusterClient;
  const context: StepContext = {
    kube,
    mesh: {
      discover: async () => ({ meshName: 'osm', controlPlaneNamespace: 'osm-system', controlPlaneNamespaces: [] }),
    } as unknown as MeshDiscoveryService,
    earlier: [],
    tuning: { restartSettleMs: 0, pollMs: 1, rolloutTimeoutMs: 1000 },
    request: {
      id: 'r',
      kind: 'ONBOARD',
      cluster: 'c',
      namespace: NS,
      meshName: 'osm',
      createdAt: new Date(),
      options: onboardingOptions({ namespace: NS, prerequisites, ...(f.metrics ? { metrics: true } : {}) }),
    },
  };
  return { context, calls };
}

const sa = (name: string): V1ServiceAccount => ({ metadata: { name } });
const container = (c: Partial<V1Container> = {}): V1Container => ({ name: 'app', image: 'app:1', ...c });

/** A Deployment that is fine: own ServiceAccount, selected by Service "app", named http port. */
function deployment(
  name: string,
  spec: Partial<V1PodSpec> = {},
  annotations?: Record<string, string>,
  labels: Record<string, string> = { app: name },
): V1Deployment {
  return {
    metadata: { name, namespace: NS },
    spec: {
      selector: { matchLabels: labels },
      template: {
        metadata: { labels, annotations },
        spec: { serviceAccountName: 'app', containers: [container({ ports: [{ containerPort: 8080 }] })], ...spec },
      },
    },
  };
}

function service(
  name: string,
  selector: Record<string, string> | undefined,
  ports: V1ServicePort[] = [{ name: 'http', port: 80 }],
): V1Service {
  return { metadata: { name, namespace: NS, resourceVersion: '1' }, spec: { selector, ports } };
}

/** A running pod of a Deployment, as the deployment controller makes it (explicit default-filled fields). */
function podOf(
  d: V1Deployment,
  suffix: string,
  spec?: Partial<V1PodSpec>,
  extra: Partial<V1Pod['metadata']> = {},
): V1Pod {
  const name = d.metadata!.name!;
  const hash = '5d8f7c9b4';
  return {
    metadata: {
      name: `${name}-${hash}-${suffix}`,
      namespace: NS,
      labels: { ...d.spec!.template.metadata!.labels, 'pod-template-hash': hash },
      annotations: d.spec!.template.metadata!.annotations,
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${name}-${hash}`, uid: 'u', controller: true },
      ],
      ...extra,
    },
    spec: {
      ...d.spec!.template.spec!,
      serviceAccountName: d.spec!.template.spec!.serviceAccountName ?? 'default',
      ...spec,
    },
  };
}

async function plan(f: Fixture, prerequisites?: { enabled?: boolean; acceptErrors?: string[] }) {
  return new PrerequisitesStep().plan(ctx(f, prerequisites).context);
}

/** The diagnostics a (possibly failing) plan produced. */
async function diagnose(f: Fixture): Promise<Diagnostic[]> {
  const codes = Object.entries(PREREQUISITE_CODES)
    .filter(([, level]) => level === 'error')
    .map(([code]) => code);
  const p = await plan(f, { acceptErrors: codes });
  return p.diagnostics ?? [];
}

const only = (ds: Diagnostic[], code: string) => ds.filter((d) => d.code === code);

describe('prerequisites step: a clean namespace', () => {
  it('reports nothing for a well-formed app, with 7 parallel reads and no changes', async () => {
    const { context, calls } = ctx({
      deployments: [deployment('web')],
      services: [service('web', { app: 'web' })],
      pods: [],
    });
    const p = await new PrerequisitesStep().plan(context);
    expect(p.changes).toEqual([]);
    expect(p.diagnostics).toEqual([]);
    expect(p.facts).toEqual({
      workloads: 1,
      pods: 0,
      services: 1,
      serviceAccounts: 2,
      errors: 0,
      warnings: 0,
      infos: 0,
      accepted: 0,
    });
    expect(calls.sort()).toEqual([
      'daemonsets',
      'deployments',
      'getNamespace',
      'pods',
      'serviceaccounts',
      'services',
      'statefulsets',
    ]);
    expect(await new PrerequisitesStep().execute()).toEqual({});
  });

  it('fails with NAMESPACE_NOT_FOUND for a missing namespace', async () => {
    await expect(plan({ namespace: null })).rejects.toMatchObject({ code: 'NAMESPACE_NOT_FOUND' });
  });
});

describe('prerequisites step: each diagnostic code', () => {
  const svc = service('web', { app: 'web' });

  it('OSM_RESERVED_UID: pod-level or container-level UID 1500 (init containers too), not other UIDs', async () => {
    const ds = await diagnose({
      deployments: [
        deployment('pod-level', { securityContext: { runAsUser: 1500 } }, undefined, { app: 'web' }),
        deployment(
          'container-level',
          { containers: [container({ securityContext: { runAsUser: 1500 } })] },
          undefined,
          { app: 'web' },
        ),
        deployment(
          'init',
          { initContainers: [container({ name: 'setup', securityContext: { runAsUser: 1500 } })] },
          undefined,
          { app: 'web' },
        ),
        deployment(
          'overridden',
          { securityContext: { runAsUser: 1500 }, containers: [container({ securityContext: { runAsUser: 1000 } })] },
          undefined,
          { app: 'web' },
        ),
        deployment('other-uid', { securityContext: { runAsUser: 1501 } }, undefined, { app: 'web' }),
      ],
      services: [svc],
    });
    const hits = only(ds, 'OSM_RESERVED_UID');
    expect(hits.map((d) => d.object)).toEqual([
      'Deployment/container-level',
      'Deployment/init',
      'Deployment/pod-level',
    ]);
    expect(hits.every((d) => d.level === 'error')).toBe(true);
    expect(hits.find((d) => d.object === 'Deployment/pod-level')!.message).toMatch(/from the pod securityContext/);
  });

  it('OSM_RESERVED_PORT: TCP sidecar ports and UDP 5300, not UDP 15000 or ordinary ports', async () => {
    const ports = [15000, 15001, 15003, 15010, 15901, 15902, 15903, 15904, 6060];
    const ds = await diagnose({
      deployments: [
        deployment(
          'tcp',
          { containers: [container({ ports: ports.map((containerPort) => ({ containerPort })) })] },
          undefined,
          { app: 'web' },
        ),
        deployment(
          'udp',
          {
            containers: [
              container({
                ports: [
                  { containerPort: 5300, protocol: 'UDP' },
                  { containerPort: 15000, protocol: 'UDP' },
                  { containerPort: 5300, protocol: 'TCP' },
                ],
              }),
            ],
          },
          undefined,
          { app: 'web' },
        ),
        deployment(
          'fine',
          { containers: [container({ ports: [{ containerPort: 8080 }, { containerPort: 15002 }] })] },
          undefined,
          { app: 'web' },
        ),
      ],
      services: [svc],
    });
    const hits = only(ds, 'OSM_RESERVED_PORT');
    expect(hits.filter((d) => d.object === 'Deployment/tcp')).toHaveLength(ports.length);
    expect(hits.filter((d) => d.object === 'Deployment/udp').map((d) => d.message)).toEqual([
      expect.stringMatching(/5300\/UDP/),
    ]);
    expect(hits.some((d) => d.object === 'Deployment/fine')).toBe(false);
  });

  it('OSM_RESERVED_PORT 5300/UDP only while the MeshConfig turns the local DNS proxy on (an audit)', async () => {
    const dns = deployment(
      'dns',
      { containers: [container({ ports: [{ containerPort: 5300, protocol: 'UDP' }] })] },
      undefined,
      { app: 'web' },
    );
    const off = ctx({ deployments: [dns], services: [svc], meshConfig: { spec: { sidecar: {} } } });
    const offPlan = await new PrerequisitesStep().plan(off.context);
    expect(only(offPlan.diagnostics ?? [], 'OSM_RESERVED_PORT')).toEqual([]);
    expect(off.calls).toContain('meshconfig');
    const on = { spec: { sidecar: { localDNSProxy: { enable: true } } } };
    expect(only(await diagnose({ deployments: [dns], services: [svc], meshConfig: on }), 'OSM_RESERVED_PORT')).toEqual([
      expect.objectContaining({ object: 'Deployment/dns', message: expect.stringMatching(/5300\/UDP/) }),
    ]);
  });

  it('OSM_RESERVED_PROBE_PORT: httpGet/tcpSocket/grpc probes, numeric or named, not safe ports', async () => {
    const ds = await diagnose({
      deployments: [
        deployment(
          'http',
          { containers: [container({ livenessProbe: { httpGet: { path: '/', port: 15010 } } })] },
          undefined,
          { app: 'web' },
        ),
        deployment('tcp', { containers: [container({ readinessProbe: { tcpSocket: { port: 15001 } } })] }, undefined, {
          app: 'web',
        }),
        deployment('grpc', { containers: [container({ startupProbe: { grpc: { port: 6060 } } })] }, undefined, {
          app: 'web',
        }),
        deployment(
          'named',
          {
            containers: [
              container({
                ports: [{ name: 'admin', containerPort: 15000 }],
                readinessProbe: { httpGet: { path: '/', port: 'admin' } },
              }),
            ],
          },
          undefined,
          { app: 'web' },
        ),
        deployment(
          'safe',
          {
            containers: [
              container({
                ports: [{ name: 'web', containerPort: 8080 }],
                livenessProbe: { httpGet: { path: '/', port: 'web' } },
                readinessProbe: { tcpSocket: { port: 8080 } },
              }),
            ],
          },
          undefined,
          { app: 'web' },
        ),
      ],
      services: [svc],
    });
    const hits = only(ds, 'OSM_RESERVED_PROBE_PORT');
    expect(hits.map((d) => d.object)).toEqual([
      'Deployment/grpc',
      'Deployment/http',
      'Deployment/named',
      'Deployment/tcp',
    ]);
    expect(hits.find((d) => d.object === 'Deployment/named')!.message).toMatch(/port 15000 \(named "admin"\)/);
  });

  it('OSM_RUN_AS_NON_ROOT_WITHOUT_UID: pod runAsNonRoot without runAsUser on the pod or every container', async () => {
    const ds = await diagnose({
      deployments: [
        deployment('missing', { securityContext: { runAsNonRoot: true } }, undefined, { app: 'web' }),
        deployment(
          'partial',
          {
            securityContext: { runAsNonRoot: true },
            containers: [container({ securityContext: { runAsUser: 1000 } }), container({ name: 'b' })],
          },
          undefined,
          { app: 'web' },
        ),
        deployment('pod-uid', { securityContext: { runAsNonRoot: true, runAsUser: 1000 } }, undefined, { app: 'web' }),
        deployment(
          'all-containers',
          {
            securityContext: { runAsNonRoot: true },
            containers: [container({ securityContext: { runAsUser: 1000 } })],
          },
          undefined,
          { app: 'web' },
        ),
        deployment(
          'container-level-only',
          { containers: [container({ securityContext: { runAsNonRoot: true } })] },
          undefined,
          { app: 'web' },
        ),
      ],
      services: [svc],
    });
    const hits = only(ds, 'OSM_RUN_AS_NON_ROOT_WITHOUT_UID');
    expect(hits.map((d) => d.object)).toEqual(['Deployment/missing', 'Deployment/partial']);
    expect(hits[1].message).toMatch(/"b"/);
    expect(hits[1].message).not.toMatch(/"app"/);
  });

  it('OSM_INVALID_INJECTION_ANNOTATION: invalid values only (case-insensitive valid values pass)', async () => {
    const key = 'openservicemesh.io/sidecar-injection';
    const ds = await diagnose({
      deployments: [
        deployment('bad', {}, { [key]: 'on' }, { app: 'web' }),
        deployment('upper', {}, { [key]: 'Enabled' }, { app: 'web' }),
        deployment('off', {}, { [key]: 'no' }, { app: 'web' }),
      ],
      services: [svc],
    });
    const hits = only(ds, 'OSM_INVALID_INJECTION_ANNOTATION');
    expect(hits).toEqual([
      expect.objectContaining({ object: 'Deployment/bad', level: 'error', message: expect.stringMatching(/"on"/) }),
    ]);
  });

  it('OSM_INVALID_INJECTION_ANNOTATION: not for a hostNetwork pod (the webhook skips it before parsing)', async () => {
    const key = 'openservicemesh.io/sidecar-injection';
    const ds = await diagnose({
      deployments: [deployment('host', { hostNetwork: true }, { [key]: 'maybe' }, { app: 'web' })],
      services: [svc],
    });
    expect(ds.filter((d) => d.level === 'error')).toEqual([]);
    expect(only(ds, 'OSM_HOST_NETWORK')).toHaveLength(1);
  });

  it('OSM_INVALID_EXCLUSION_ANNOTATION: entries the injector cannot parse (ports, CIDRs), iptables only', async () => {
    const ports = 'openservicemesh.io/outbound-port-exclusion-list';
    const inbound = 'openservicemesh.io/inbound-port-exclusion-list';
    const ranges = 'openservicemesh.io/outbound-ip-range-exclusion-list';
    const inclusion = 'openservicemesh.io/outbound-ip-range-inclusion-list';
    const cases: [string, string, boolean][] = [
      [ports, '80, 443', true],
      [ports, '+8080', true],
      [inbound, '9000', true],
      [ports, 'abc', false],
      [ports, '0', false],
      [ports, '', false],
      [ports, '80,', false],
      [inbound, '99999999999999999999', false],
      [ranges, '10.0.0.0/8, 192.168.1.1/32', true],
      [inclusion, '::1/128,fd00::/8', true],
      [ranges, '10.0.0.1', false],
      [ranges, '10.0.0.0/33', false],
      [ranges, '01.2.3.4/8', false],
      [inclusion, 'fe80::1%eth0/64', false],
      [inclusion, '', false],
    ];
    for (const [annotation, value, ok] of cases) {
      const f: Fixture = {
        deployments: [deployment('app', {}, { [annotation]: value }, { app: 'web' })],
        services: [svc],
        meshConfig: { spec: { traffic: { interceptionMode: 'iptables' } } },
      };
      const hits = only(await diagnose(f), 'OSM_INVALID_EXCLUSION_ANNOTATION');
      expect(hits.length, `${annotation}=${value}`).toBe(ok ? 0 : 1);
      if (!ok) expect(hits[0]).toMatchObject({ object: 'Deployment/app', level: 'error' });
    }
    // The first bad entry is named; the MeshConfig is read for the interception mode.
    const f: Fixture = {
      deployments: [deployment('app', {}, { [ports]: '80, abc, x' }, { app: 'web' })],
      services: [svc],
      meshConfig: { spec: { traffic: {} } },
    };
    const { context, calls } = ctx(f, { acceptErrors: ['OSM_INVALID_EXCLUSION_ANNOTATION'] });
    const p = await new PrerequisitesStep().plan(context);
    expect(only(p.diagnostics!, 'OSM_INVALID_EXCLUSION_ANNOTATION')[0].message).toMatch(/"abc" is not a port/);
    expect(calls).toContain('meshconfig');
    // No osm-init (ebpf interception), a hostNetwork pod or a Windows pod: the annotation is never parsed.
    for (const [spec, meshConfig] of [
      [{}, { spec: { traffic: { interceptionMode: 'ebpf' } } }],
      [{ hostNetwork: true }, { spec: { traffic: {} } }],
      [{ nodeSelector: { 'kubernetes.io/os': 'Windows' } }, { spec: { traffic: {} } }],
    ] as const) {
      const ds = await diagnose({
        deployments: [deployment('app', spec, { [ports]: 'abc' }, { app: 'web' })],
        services: [svc],
        meshConfig,
      });
      expect(only(ds, 'OSM_INVALID_EXCLUSION_ANNOTATION'), JSON.stringify(spec)).toEqual([]);
    }
  });

  it("OSM_INVALID_METRICS_ANNOTATION: the namespace's metrics value, unless the request enables metrics", async () => {
    const at = (value: string) => ({ metadata: { name: NS, annotations: { 'openservicemesh.io/metrics': value } } });
    const hits = only(await diagnose({ namespace: at('on') }), 'OSM_INVALID_METRICS_ANNOTATION');
    expect(hits).toEqual([
      expect.objectContaining({ object: `Namespace/${NS}`, level: 'error', message: expect.stringMatching(/"on"/) }),
    ]);
    for (const fine of ['Yes', 'DISABLED', 'false', '']) {
      expect(only(await diagnose({ namespace: at(fine) }), 'OSM_INVALID_METRICS_ANNOTATION'), fine).toEqual([]);
    }
    // The metrics step writes `enabled` (the request's own fix).
    expect(only(await diagnose({ namespace: at('on'), metrics: true }), 'OSM_INVALID_METRICS_ANNOTATION')).toEqual([]);
  });

  it('OSM_POD_SECURITY_ENFORCED / OSM_POD_SECURITY_WARN from the namespace labels', async () => {
    const labels = {
      'pod-security.kubernetes.io/enforce': 'baseline',
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
    };
    const ds = await diagnose({ namespace: { metadata: { name: NS, labels } } });
    expect(only(ds, 'OSM_POD_SECURITY_ENFORCED')).toEqual([
      expect.objectContaining({
        level: 'error',
        object: `Namespace/${NS}`,
        message: expect.stringMatching(/NET_ADMIN/),
        hint: expect.stringMatching(/ebpf/),
      }),
    ]);
    expect(only(ds, 'OSM_POD_SECURITY_WARN').map((d) => [d.level, d.message.match(/(warns|audits)/)![1]])).toEqual([
      ['warning', 'warns'],
      ['warning', 'audits'],
    ]);

    const relaxed = await diagnose({
      namespace: {
        metadata: {
          name: NS,
          labels: {
            'pod-security.kubernetes.io/enforce': 'privileged',
            'pod-security.kubernetes.io/warn': 'privileged',
          },
        },
      },
    });
    expect(relaxed.filter((d) => d.code.startsWith('OSM_POD_SECURITY'))).toEqual([]);
  });

  it('Pod Security baseline is a problem only with osm-init (iptables interception), restricted always', async () => {
    const ebpf = { spec: { traffic: { interceptionMode: 'ebpf' } } };
    const at = (level: string) => ({
      metadata: { name: NS, labels: { 'pod-security.kubernetes.io/enforce': level } },
    });
    expect(only(await diagnose({ namespace: at('baseline'), meshConfig: ebpf }), 'OSM_POD_SECURITY_ENFORCED')).toEqual(
      [],
    );
    expect(
      only(await diagnose({ namespace: at('restricted'), meshConfig: ebpf }), 'OSM_POD_SECURITY_ENFORCED'),
    ).toEqual([expect.objectContaining({ message: expect.stringMatching(/drop ALL capabilities/) })]);
    // iptables (the default when the field is absent) adds osm-init: baseline refuses it.
    const iptables = { spec: { traffic: {} } };
    expect(
      only(await diagnose({ namespace: at('baseline'), meshConfig: iptables }), 'OSM_POD_SECURITY_ENFORCED'),
    ).toEqual([expect.objectContaining({ message: expect.stringMatching(/NET_ADMIN/) })]);
  });

  it('OSM_HOST_NETWORK (warning) only for hostNetwork pods', async () => {
    const ds = await diagnose({
      deployments: [
        deployment('host', { hostNetwork: true }, undefined, { app: 'web' }),
        deployment('pod', {}, undefined, { app: 'web' }),
      ],
      services: [svc],
    });
    expect(only(ds, 'OSM_HOST_NETWORK')).toEqual([
      expect.objectContaining({ object: 'Deployment/host', level: 'warning' }),
    ]);
  });

  it('OSM_DEFAULT_SERVICE_ACCOUNT (no or "default" ServiceAccount) and OSM_SERVICE_ACCOUNT_NOT_FOUND', async () => {
    const ds = await diagnose({
      deployments: [
        deployment('none', { serviceAccountName: undefined }, undefined, { app: 'web' }),
        deployment('explicit', { serviceAccountName: 'default' }, undefined, { app: 'web' }),
        deployment('missing', { serviceAccountName: 'ghost' }, undefined, { app: 'web' }),
        deployment('own', {}, undefined, { app: 'web' }),
      ],
      services: [svc],
    });
    expect(only(ds, 'OSM_DEFAULT_SERVICE_ACCOUNT').map((d) => [d.object, d.level])).toEqual([
      ['Deployment/explicit', 'warning'],
      ['Deployment/none', 'warning'],
    ]);
    expect(only(ds, 'OSM_SERVICE_ACCOUNT_NOT_FOUND')).toEqual([
      expect.objectContaining({
        object: 'Deployment/missing',
        level: 'warning',
        message: expect.stringMatching(/"ghost"/),
      }),
    ]);
  });

  it('OSM_SHARED_SERVICE_ACCOUNT (info) when workloads share a non-default ServiceAccount', async () => {
    const ds = await diagnose({
      deployments: [
        deployment('a', {}, undefined, { app: 'web' }),
        deployment('b', {}, undefined, { app: 'web' }),
        deployment('c', { serviceAccountName: 'default' }, undefined, { app: 'web' }),
        deployment('d', { serviceAccountName: 'default' }, undefined, { app: 'web' }),
      ],
      services: [svc],
    });
    expect(only(ds, 'OSM_SHARED_SERVICE_ACCOUNT')).toEqual([
      expect.objectContaining({
        object: 'ServiceAccount/app',
        level: 'info',
        message: expect.stringMatching(/Deployment\/a, Deployment\/b/),
      }),
    ]);
  });

  it('OSM_NO_SERVICE: warning when the pods listen, info for pure clients, nothing when selected', async () => {
    const ds = await diagnose({
      deployments: [
        deployment('listener', {}, undefined, { app: 'listener' }),
        deployment('client', { containers: [container()] }, undefined, { app: 'client' }),
        deployment('served', {}, undefined, { app: 'web', tier: 'front' }),
      ],
      services: [svc, service('headless-manual', undefined), service('empty', {})],
    });
    expect(only(ds, 'OSM_NO_SERVICE').map((d) => [d.object, d.level])).toEqual([
      ['Deployment/listener', 'warning'],
      ['Deployment/client', 'info'],
    ]);
  });

  it('OSM_PROTOCOL_GUESS, OSM_APP_PROTOCOL_UNSUPPORTED and _CASE, with the appProtocol to set', async () => {
    const ds = await diagnose({
      services: [
        service('mysql', { app: 'mysql' }, [{ name: 'mysql', port: 3306 }]),
        service('api', { app: 'api' }, [
          { name: 'api', port: 8080, appProtocol: 'gRPC' },
          { name: 'http', port: 80 },
        ]),
        service('ext', undefined, [{ name: 'mysql', port: 3306 }]),
        service('db', { app: 'db' }, [{ name: 'db', port: 5432, appProtocol: 'TCP' }]),
      ],
    });
    expect(only(ds, 'OSM_APP_PROTOCOL_CASE')).toEqual([
      expect.objectContaining({ level: 'info', object: 'Service/db:5432', hint: expect.stringMatching(/"tcp"/) }),
    ]);
    expect(only(ds, 'OSM_PROTOCOL_GUESS')).toEqual([
      expect.objectContaining({ level: 'warning', object: 'Service/ext:3306' }),
      expect.objectContaining({
        level: 'warning',
        object: 'Service/mysql:3306',
        hint: expect.stringMatching(/appProtocol: "tcp-server-first"/),
      }),
    ]);
    expect(only(ds, 'OSM_APP_PROTOCOL_UNSUPPORTED')).toEqual([
      expect.objectContaining({ level: 'warning', object: 'Service/api:8080', hint: expect.stringMatching(/"grpc"/) }),
    ]);
    const ok = await diagnose({
      services: [service('mysql', { app: 'mysql' }, [{ name: 'mysql', port: 3306, appProtocol: 'tcp-server-first' }])],
    });
    expect(ok.filter((d) => d.code.includes('PROTOCOL'))).toEqual([]);
  });

  it('OSM_ALREADY_INJECTED (info), once per workload; injected additions are not reported', async () => {
    const d = deployment('web');
    const injected = (suffix: string) => {
      const p = podOf(d, suffix);
      p.metadata!.labels = { ...p.metadata!.labels, 'osm-proxy-uuid': UUID };
      p.spec!.initContainers = [
        { name: 'osm-init', image: 'init', securityContext: { runAsUser: 0, capabilities: { add: ['NET_ADMIN'] } } },
      ];
      p.spec!.containers = [
        // probes rewritten by the injector
        container({
          ports: [{ containerPort: 8080 }],
          livenessProbe: { httpGet: { path: '/osm-liveness-probe', port: 15901 } },
        }),
        {
          name: 'sidecar',
          image: 'pipy',
          securityContext: { runAsUser: 1500 },
          ports: [{ containerPort: 15000 }, { containerPort: 15003 }, { containerPort: 15010 }],
        },
        { name: 'osm-healthcheck', image: 'hc', ports: [{ containerPort: 15904 }] },
      ];
      return p;
    };
    const ds = await diagnose({
      deployments: [d],
      pods: [injected('a'), injected('b'), podOf(d, 'c')],
      services: [service('web', { app: 'web' })],
    });
    expect(ds).toEqual([
      expect.objectContaining({
        code: 'OSM_ALREADY_INJECTED',
        level: 'info',
        object: 'Deployment/web',
        message: expect.stringMatching(/2 of 3/),
      }),
    ]);

    const none = await diagnose({
      deployments: [d],
      pods: [podOf(d, 'c')],
      services: [service('web', { app: 'web' })],
    });
    expect(none).toEqual([]);
  });
});

describe('prerequisites step: deduplication of running pods', () => {
  it('reports a template problem once per workload, not per pod', async () => {
    const d = deployment('web', { securityContext: { runAsUser: 1500 } });
    const ds = await diagnose({
      deployments: [d],
      pods: [podOf(d, 'a'), podOf(d, 'b')],
      services: [service('web', { app: 'web' })],
    });
    expect(ds.map((x) => [x.code, x.object])).toEqual([['OSM_RESERVED_UID', 'Deployment/web']]);
  });

  it('reports a running pod that differs from its template (older revision) and bare pods in full', async () => {
    const d = deployment('web');
    const old = podOf(d, 'old', { securityContext: { runAsUser: 1500 } });
    const bare: V1Pod = {
      metadata: { name: 'debug', namespace: NS, labels: { run: 'debug' } },
      spec: { serviceAccountName: 'default', hostNetwork: true, containers: [container()] },
    };
    const job: V1Pod = {
      metadata: {
        name: 'migrate-x1',
        namespace: NS,
        labels: { app: 'web' },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'migrate', uid: 'j', controller: true }],
      },
      spec: { serviceAccountName: 'app', containers: [container({ ports: [{ containerPort: 15001 }] })] },
    };
    const ds = await diagnose({
      deployments: [d],
      pods: [podOf(d, 'ok'), old, bare, job],
      services: [service('web', { app: 'web' })],
    });
    expect(ds.map((x) => [x.code, x.object])).toEqual([
      ['OSM_RESERVED_PORT', 'Pod/migrate-x1'],
      ['OSM_RESERVED_UID', `Pod/${old.metadata!.name}`],
      ['OSM_DEFAULT_SERVICE_ACCOUNT', 'Pod/debug'],
      ['OSM_HOST_NETWORK', 'Pod/debug'],
      ['OSM_NO_SERVICE', 'Pod/debug'],
      ['OSM_SHARED_SERVICE_ACCOUNT', 'ServiceAccount/app'],
    ]);
    expect(ds.at(-1)!.message).toMatch(/Deployment\/web, Job\/migrate/);
  });

  it('counts the pods of one Job as one identity user', async () => {
    const job = (n: string): V1Pod => ({
      metadata: {
        name: `migrate-${n}`,
        namespace: NS,
        labels: { job: 'migrate' },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'migrate', uid: 'j', controller: true }],
      },
      spec: { serviceAccountName: 'app', containers: [container()] },
    });
    const ds = await diagnose({ pods: [job('a'), job('b')] });
    expect(ds.map((x) => [x.code, x.object])).toEqual([
      ['OSM_NO_SERVICE', 'Pod/migrate-a'],
      ['OSM_NO_SERVICE', 'Pod/migrate-b'],
    ]);
  });

  it('matches StatefulSet and DaemonSet pods to their owner', async () => {
    const s = deployment('db', { securityContext: { runAsUser: 1500 } });
    const pod = (kind: string, name: string): V1Pod => ({
      metadata: {
        name: `${name}-0`,
        namespace: NS,
        labels: { app: name },
        ownerReferences: [{ apiVersion: 'apps/v1', kind, name, uid: 'x', controller: true }],
      },
      spec: { ...s.spec!.template.spec! },
    });
    const ds = await diagnose({
      statefulSets: [s],
      daemonSets: [
        {
          ...s,
          metadata: { name: 'agent' },
          spec: { ...s.spec!, template: { ...s.spec!.template, metadata: { labels: { app: 'agent' } } } },
        },
      ],
      pods: [pod('StatefulSet', 'db'), pod('DaemonSet', 'agent')],
      services: [service('db', { app: 'db' }), service('agent', { app: 'agent' })],
    });
    expect(ds.map((x) => [x.code, x.object])).toEqual([
      ['OSM_RESERVED_UID', 'DaemonSet/agent'],
      ['OSM_RESERVED_UID', 'StatefulSet/db'],
      ['OSM_SHARED_SERVICE_ACCOUNT', 'ServiceAccount/app'],
    ]);
  });
});

describe('prerequisites step: blocking and acceptErrors', () => {
  const broken: Fixture = {
    namespace: { metadata: { name: NS, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } },
    deployments: [deployment('web', { securityContext: { runAsUser: 1500 }, serviceAccountName: 'default' })],
    services: [service('web', { app: 'web' })],
  };

  it('throws PREREQUISITES_FAILED listing the codes and objects, with the diagnostics in details', async () => {
    const err = (await plan(broken).catch((e) => e)) as DomainError;
    expect(err).toBeInstanceOf(DomainError);
    expect(err.code).toBe('PREREQUISITES_FAILED');
    expect(err.message).toMatch(/OSM_POD_SECURITY_ENFORCED \(Namespace\/team-a\)/);
    expect(err.message).toMatch(/OSM_RESERVED_UID \(Deployment\/web\)/);
    expect(err.options.hint).toMatch(/acceptErrors/);
    const details = err.options.details!.diagnostics as Diagnostic[];
    expect(details.map((d) => d.code)).toEqual([
      'OSM_POD_SECURITY_ENFORCED',
      'OSM_RESERVED_UID',
      'OSM_DEFAULT_SERVICE_ACCOUNT',
    ]);
  });

  it('still blocks when only some error codes are accepted', async () => {
    await expect(plan(broken, { acceptErrors: ['OSM_RESERVED_UID'] })).rejects.toMatchObject({
      code: 'PREREQUISITES_FAILED',
      message: expect.not.stringMatching(/OSM_RESERVED_UID/),
    });
  });

  it('passes when every error code is accepted, marking them accepted; warnings are never marked', async () => {
    const p = await plan(broken, {
      acceptErrors: ['OSM_POD_SECURITY_ENFORCED', 'OSM_RESERVED_UID', 'OSM_DEFAULT_SERVICE_ACCOUNT'],
    });
    expect(p.changes).toEqual([]);
    expect(p.diagnostics!.map((d) => [d.code, d.accepted])).toEqual([
      ['OSM_POD_SECURITY_ENFORCED', true],
      ['OSM_RESERVED_UID', true],
      ['OSM_DEFAULT_SERVICE_ACCOUNT', undefined],
    ]);
    expect(p.facts).toMatchObject({
      errors: 2,
      warnings: 1,
      infos: 0,
      accepted: 2,
      workloads: 1,
      services: 1,
      pods: 0,
    });
    expect(p.summary).toMatch(/2 error\(s\) \(2 accepted\), 1 warning/);
  });

  it('reports without blocking when prerequisites.enabled is false', async () => {
    const p = await plan(broken, { enabled: false });
    expect(p.diagnostics!.filter((d) => d.level === 'error')).toHaveLength(2);
    expect(p.summary).toMatch(/not enforced/);
  });

  it('only error codes can block: warnings and infos alone pass', async () => {
    const p = await plan({ deployments: [deployment('web', { hostNetwork: true })] });
    expect(p.diagnostics!.map((d) => d.level).sort()).toEqual(['warning', 'warning']);
  });
});
