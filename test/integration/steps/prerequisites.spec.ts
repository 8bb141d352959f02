import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Container, V1PodSpec } from '@kubernetes/client-node';
import { DomainError } from '../../../src/common/domain-error.js';
import { PREREQUISITE_CODES, PrerequisitesStep } from '../../../src/onboarding/steps/prerequisites.step.js';
import { applyStep, type Diagnostic } from '../../../src/onboarding/steps/step.js';
import { startEmulator, type Emulator } from '../../support/emulator/index.js';
import { kubeClients } from '../../support/kube.js';
import { stepContext } from '../../support/step-context.js';

// The step against the emulator over HTTP: real client-node, real list semantics, real controllers
// (the Deployments below get ReplicaSets and running pods, which the step must not double-report).
const NS = 'broken';
const ERROR_CODES = Object.entries(PREREQUISITE_CODES)
  .filter(([, level]) => level === 'error')
  .map(([code]) => code)
  .sort();

let emulator: Emulator;

const app = (c: Partial<V1Container> = {}): V1Container => ({ name: 'app', image: 'example/app:1', ...c });

async function seedBrokenNamespace(e: Emulator) {
  const { core, apps } = kubeClients(e);
  await core.createNamespace({
    body: {
      metadata: {
        name: NS,
        // The injector would refuse every injected pod here (a request without metrics: true is blocked).
        annotations: { 'openservicemesh.io/metrics': 'on' },
        labels: {
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/warn': 'baseline',
          'pod-security.kubernetes.io/audit': 'restricted',
        },
      },
    },
  });
  for (const name of ['shared', 'nonroot', 'lonely', 'app'])
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name } } });

  const labels = (name: string) => ({ app: name, tier: 'broken' });
  const deployment = async (name: string, spec: Partial<V1PodSpec>, annotations?: Record<string, string>) =>
    apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels(name) },
          template: { metadata: { labels: labels(name), annotations }, spec: { containers: [app()], ...spec } },
        },
      },
    });

  await deployment('uid1500', { serviceAccountName: 'shared', securityContext: { runAsUser: 1500 } });
  await deployment('ports', {
    serviceAccountName: 'shared',
    containers: [
      app({
        ports: [
          { name: 'admin', containerPort: 15000 },
          { name: 'dns', containerPort: 5300, protocol: 'UDP' },
          { name: 'web', containerPort: 8080 },
        ],
        readinessProbe: { httpGet: { path: '/ready', port: 15010 } },
        livenessProbe: { httpGet: { path: '/live', port: 'web' } },
      }),
    ],
  });
  await deployment('nonroot', { serviceAccountName: 'nonroot', securityContext: { runAsNonRoot: true } });
  await deployment(
    'badanno',
    { serviceAccountName: 'ghost' },
    { 'openservicemesh.io/sidecar-injection': 'maybe', 'openservicemesh.io/outbound-port-exclusion-list': '80,abc' },
  );
  await apps.createNamespacedDaemonSet({
    namespace: NS,
    body: {
      metadata: { name: 'hostnet' },
      spec: {
        selector: { matchLabels: labels('hostnet') },
        template: { metadata: { labels: labels('hostnet') }, spec: { hostNetwork: true, containers: [app()] } },
      },
    },
  });
  await apps.createNamespacedStatefulSet({
    namespace: NS,
    body: {
      metadata: { name: 'lonely' },
      spec: {
        serviceName: 'lonely',
        selector: { matchLabels: { app: 'lonely' } },
        template: {
          metadata: { labels: { app: 'lonely' } },
          spec: { serviceAccountName: 'lonely', containers: [app({ ports: [{ containerPort: 9000 }] })] },
        },
      },
    },
  });

  await core.createNamespacedService({
    namespace: NS,
    body: {
      metadata: { name: 'all' },
      spec: { selector: { tier: 'broken' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    },
  });
  await core.createNamespacedService({
    namespace: NS,
    body: {
      metadata: { name: 'db' },
      spec: {
        selector: { app: 'db' },
        ports: [
          { name: 'mysql', port: 3306 },
          { name: 'api', port: 8081, appProtocol: 'TCP' },
          { name: 'rpc', port: 8082, appProtocol: 'gRPC' },
        ],
      },
    },
  });

  // A pod injected earlier (bare, so no controller replaces it).
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: {
        name: 'injected',
        labels: { tier: 'broken', 'osm-proxy-uuid': '0d2a3c4e-1b2f-4c3d-9e8f-7a6b5c4d3e2f' },
      },
      spec: {
        serviceAccountName: 'app',
        containers: [
          app(),
          {
            name: 'sidecar',
            image: 'flomesh/pipy:1',
            securityContext: { runAsUser: 1500 },
            ports: [{ name: 'proxy-admin', containerPort: 15000 }],
          },
        ],
      },
    },
  });
  await e.idle();
}

beforeAll(async () => {
  emulator = await startEmulator({ seed: 'osm' });
  await seedBrokenNamespace(emulator);
});
afterAll(() => emulator?.close());

async function failure(p: Promise<unknown>): Promise<DomainError> {
  try {
    await p;
  } catch (err) {
    return err as DomainError;
  }
  throw new Error('expected the step to fail');
}

describe('prerequisites step against the emulator', () => {
  const meshConfig = {
    apiVersion: 'config.openservicemesh.io/v1alpha2',
    kind: 'MeshConfig',
    namespace: 'osm-system',
    name: 'osm-mesh-config',
  };

  it('finds every problem of a namespace that breaks every rule, once per workload', async () => {
    // The sidecar's local DNS proxy on: port 5300/UDP is the sidecar's (it is the application's while it is off).
    emulator.store.patch(meshConfig, 'merge', { spec: { sidecar: { localDNSProxy: { enable: true } } } });
    const ctx = await stepContext(emulator, {
      namespace: NS,
      options: { prerequisites: { enabled: true, acceptErrors: ERROR_CODES } },
    });
    const outcome = await applyStep(new PrerequisitesStep(), ctx);
    const pairs = outcome.diagnostics!.map((d) => [d.code, d.object, d.level]);
    expect(pairs).toEqual([
      ['OSM_INVALID_EXCLUSION_ANNOTATION', 'Deployment/badanno', 'error'],
      ['OSM_INVALID_INJECTION_ANNOTATION', 'Deployment/badanno', 'error'],
      ['OSM_INVALID_METRICS_ANNOTATION', 'Namespace/broken', 'error'],
      ['OSM_POD_SECURITY_ENFORCED', 'Namespace/broken', 'error'],
      ['OSM_RESERVED_PORT', 'Deployment/ports', 'error'],
      ['OSM_RESERVED_PORT', 'Deployment/ports', 'error'],
      ['OSM_RESERVED_PROBE_PORT', 'Deployment/ports', 'error'],
      ['OSM_RESERVED_UID', 'Deployment/uid1500', 'error'],
      ['OSM_RUN_AS_NON_ROOT_WITHOUT_UID', 'Deployment/nonroot', 'error'],
      ['OSM_APP_PROTOCOL_UNSUPPORTED', 'Service/db:8082', 'warning'],
      ['OSM_DEFAULT_SERVICE_ACCOUNT', 'DaemonSet/hostnet', 'warning'],
      ['OSM_HOST_NETWORK', 'DaemonSet/hostnet', 'warning'],
      ['OSM_NO_SERVICE', 'StatefulSet/lonely', 'warning'],
      ['OSM_POD_SECURITY_WARN', 'Namespace/broken', 'warning'],
      ['OSM_POD_SECURITY_WARN', 'Namespace/broken', 'warning'],
      ['OSM_PROTOCOL_GUESS', 'Service/db:3306', 'warning'],
      ['OSM_SERVICE_ACCOUNT_NOT_FOUND', 'Deployment/badanno', 'warning'],
      ['OSM_ALREADY_INJECTED', 'Pod/injected', 'info'],
      ['OSM_APP_PROTOCOL_CASE', 'Service/db:8081', 'info'],
      ['OSM_SHARED_SERVICE_ACCOUNT', 'ServiceAccount/shared', 'info'],
    ]);
    // every code of the table is exercised
    expect(new Set(outcome.diagnostics!.map((d) => d.code))).toEqual(new Set(Object.keys(PREREQUISITE_CODES)));
    // the controllers made pods; none of them is reported on its own (they match their templates)
    const pods = await kubeClients(emulator).core.listNamespacedPod({ namespace: NS });
    expect(pods.items.length).toBeGreaterThan(5);
    expect(outcome.diagnostics!.filter((d) => d.object?.startsWith('Pod/')).map((d) => d.object)).toEqual([
      'Pod/injected',
    ]);
    expect(outcome.diagnostics!.find((d) => d.code === 'OSM_PROTOCOL_GUESS')!.hint).toMatch(/tcp-server-first/);
    expect(outcome.diagnostics!.find((d) => d.code === 'OSM_RESERVED_PORT' && /5300/.test(d.message))).toBeDefined();
    const counts = { errors: 9, warnings: 8, infos: 3, accepted: 9 };
    expect(outcome.facts).toMatchObject({ workloads: 6, pods: pods.items.length, services: 2, ...counts });

    // Off (osm-edge's default): the same namespace has one reserved port less.
    emulator.store.patch(meshConfig, 'merge', { spec: { sidecar: { localDNSProxy: { enable: false } } } });
    const off = await applyStep(new PrerequisitesStep(), ctx);
    expect(off.diagnostics!.filter((d) => d.code === 'OSM_RESERVED_PORT').map((d) => d.message)).toEqual([
      expect.not.stringMatching(/5300/),
    ]);
  });

  it('blocks with PREREQUISITES_FAILED while errors are not accepted, and reads with 7 calls, no writes', async () => {
    const ctx = await stepContext(emulator, { namespace: NS });
    emulator.requests.clear();
    const err = await failure(applyStep(new PrerequisitesStep(), ctx));
    expect(err).toBeInstanceOf(DomainError);
    expect(err.code).toBe('PREREQUISITES_FAILED');
    for (const code of ERROR_CODES) expect(err.message).toContain(code);
    expect(err.message).toContain('Deployment/uid1500');
    expect(err.options.hint).toMatch(/acceptErrors/);
    const details = err.options.details!.diagnostics as Diagnostic[];
    expect(details.filter((d) => d.level === 'error').every((d) => !d.accepted)).toBe(true);

    const calls = emulator.requests.all().filter((r) => r.namespace === NS || r.name === NS);
    expect(calls.map((r) => `${r.verb} ${r.resource}`).sort()).toEqual([
      'get namespaces',
      'list daemonsets',
      'list deployments',
      'list pods',
      'list serviceaccounts',
      'list services',
      'list statefulsets',
    ]);
  });

  it('still blocks when one error code is not accepted', async () => {
    const ctx = await stepContext(emulator, {
      namespace: NS,
      options: { prerequisites: { enabled: true, acceptErrors: ERROR_CODES.filter((c) => c !== 'OSM_RESERVED_UID') } },
    });
    const err = await failure(applyStep(new PrerequisitesStep(), ctx));
    expect(err.code).toBe('PREREQUISITES_FAILED');
    expect(err.message).toBe(
      "namespace broken does not meet osm-edge's application requirements: OSM_RESERVED_UID (Deployment/uid1500)",
    );
  });

  it('passes with acceptErrors: UNCHANGED, no writes, errors marked accepted', async () => {
    const ctx = await stepContext(emulator, {
      namespace: NS,
      options: { prerequisites: { enabled: true, acceptErrors: ERROR_CODES } },
    });
    emulator.requests.clear();
    const outcome = await applyStep(new PrerequisitesStep(), ctx);
    expect(outcome.result).toBe('UNCHANGED');
    expect(outcome.changes).toEqual([]);
    expect(outcome.diagnostics!.filter((d) => d.level === 'error').every((d) => d.accepted === true)).toBe(true);
    expect(outcome.diagnostics!.filter((d) => d.level !== 'error').some((d) => d.accepted)).toBe(false);
    expect(emulator.requests.all().filter((r) => r.verb !== 'get' && r.verb !== 'list' && r.verb !== 'watch')).toEqual(
      [],
    );
  });

  it(
    'passes the seeded bookstore sample (two Deployments, one Service, own ServiceAccounts) without ' + 'errors',
    async () => {
      const ctx = await stepContext(emulator, { namespace: 'bookstore' });
      const outcome = await applyStep(new PrerequisitesStep(), ctx);
      expect(outcome.result).toBe('UNCHANGED');
      expect(outcome.diagnostics!.filter((d) => d.level === 'error')).toEqual([]);
      expect(outcome.facts).toMatchObject({ workloads: 2, services: 1, errors: 0 });
    },
  );

  it('reports the seeded mysql Service port as a wrong guess (http instead of tcp-server-first)', async () => {
    const ctx = await stepContext(emulator, { namespace: 'mysql' });
    const outcome = await applyStep(new PrerequisitesStep(), ctx);
    expect(outcome.diagnostics).toContainEqual(
      expect.objectContaining({ code: 'OSM_PROTOCOL_GUESS', object: 'Service/mysql:3306', level: 'warning' }),
    );
  });

  it('fails with NAMESPACE_NOT_FOUND for a namespace that does not exist', async () => {
    const ctx = await stepContext(emulator, { namespace: 'nowhere' });
    expect((await failure(applyStep(new PrerequisitesStep(), ctx))).code).toBe('NAMESPACE_NOT_FOUND');
  });
});

describe('prerequisites step: a namespace of many pods with the same finding', () => {
  it('lists 20 diagnostics of a code and says how many more, in the plan and in the refusal', async () => {
    const ns = 'many-jobs';
    emulator.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    // 30 bare pods (as a Job leaves them) that run as the sidecar's UID: one OSM_RESERVED_UID error each.
    for (let i = 0; i < 30; i++)
      emulator.store.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `job-${String(i).padStart(2, '0')}`, namespace: ns },
        spec: { containers: [app({ securityContext: { runAsUser: 1500 } })] },
      });
    const refused = await failure(applyStep(new PrerequisitesStep(), await stepContext(emulator, { namespace: ns })));
    expect(refused.code).toBe('PREREQUISITES_FAILED');
    const listed = (refused.options?.details as { diagnostics: Diagnostic[] }).diagnostics;
    expect(listed.filter((d) => d.code === 'OSM_RESERVED_UID')).toHaveLength(20);
    // Each pod also has no Service and the default ServiceAccount: 30 of those codes too, 10 of each left out.
    const omitted = listed.filter((d) => d.code === 'DIAGNOSTICS_OMITTED');
    expect(omitted.map((d) => [d.level, d.message.split(' ').slice(0, 3).join(' ')]).sort()).toEqual([
      ['info', '10 more OSM_DEFAULT_SERVICE_ACCOUNT'],
      ['info', '10 more OSM_NO_SERVICE'],
      ['info', '10 more OSM_RESERVED_UID'],
    ]);
    expect(listed).toHaveLength(3 * 20 + 3);
    // Accepted: the plan lists the same 20 and the summary; its facts count all 30.
    const ctx = await stepContext(emulator, {
      namespace: ns,
      options: { prerequisites: { enabled: true, acceptErrors: ['OSM_RESERVED_UID'] } },
    });
    const outcome = await applyStep(new PrerequisitesStep(), ctx);
    expect(outcome.facts).toMatchObject({ pods: 30, errors: 30, accepted: 30 });
    expect(outcome.diagnostics!.filter((d) => d.code === 'OSM_RESERVED_UID')).toHaveLength(20);
    expect(outcome.diagnostics!.filter((d) => d.code === 'DIAGNOSTICS_OMITTED')).toHaveLength(3);
  });
});
