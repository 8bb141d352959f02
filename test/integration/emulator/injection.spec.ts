import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isInjected, startEmulator, type Emulator } from '../../support/emulator/index.js';
import { expectApiError, waitFor } from '../../support/emulator/testing.js';

const MONITORED = 'openservicemesh.io/monitored-by';
const INJECTION = 'openservicemesh.io/sidecar-injection';
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);

function podBody(
  name: string,
  annotations: Record<string, string> = {},
  extra: Partial<k8s.V1PodSpec> = {},
): k8s.V1Pod {
  return { metadata: { name, annotations }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }], ...extra } };
}

/** `kubectl rollout restart` as a TS client sends it (docs/osm-edge.md#rollout-restart). */
function restartPatch(): object {
  return {
    spec: {
      template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } },
    },
  };
}

describe('osm-edge sidecar injection through the emulator', () => {
  let emu: Emulator;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let custom: k8s.CustomObjectsApi;

  beforeAll(async () => {
    emu = await startEmulator();
    const kc = new k8s.KubeConfig();
    kc.loadFromString(emu.kubeconfig());
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
  });

  afterAll(async () => {
    await emu?.close();
  });

  async function namespace(
    name: string,
    labels: Record<string, string>,
    annotations: Record<string, string> = {},
  ): Promise<void> {
    await core.createNamespace({ body: { metadata: { name, labels, annotations } } });
  }

  it('rollout restart creates injected pods in a monitored namespace', async () => {
    await core.patchNamespace(
      {
        name: 'bookbuyer',
        body: { metadata: { labels: { [MONITORED]: 'osm' }, annotations: { [INJECTION]: 'enabled' } } },
      },
      strategic,
    );
    const before = (await core.listNamespacedPod({ namespace: 'bookbuyer' })).items.map((p) => p.metadata?.name);
    const restarted = await apps.patchNamespacedDeployment(
      { namespace: 'bookbuyer', name: 'bookbuyer', body: restartPatch() },
      strategic,
    );
    expect(restarted.metadata?.generation).toBe(2);
    await emu.idle();

    const pods = (await core.listNamespacedPod({ namespace: 'bookbuyer' })).items;
    expect(pods).toHaveLength(1);
    const pod = pods[0];
    expect(before).not.toContain(pod.metadata?.name);
    expect(pod.status?.phase).toBe('Running');
    const uuid = pod.metadata?.labels?.['osm-proxy-uuid'] ?? '';
    expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['bookbuyer', 'sidecar']);
    const sidecar = pod.spec?.containers.find((c) => c.name === 'sidecar');
    expect(sidecar?.image).toBe('flomesh/pipy:0.90.3-54');
    expect(sidecar?.securityContext).toEqual({ allowPrivilegeEscalation: false, runAsUser: 1500 });
    expect(sidecar?.ports?.map((p) => `${p.name}:${p.containerPort}`)).toEqual([
      'proxy-admin:15000',
      'proxy-inbound:15003',
      'proxy-metrics:15010',
    ]);
    const init = pod.spec?.initContainers?.find((c) => c.name === 'osm-init');
    expect(init?.image).toBe('flomesh/osm-edge-sidecar-init:1.3.9');
    expect(init?.securityContext?.capabilities?.add).toEqual(['NET_ADMIN']);
    expect(init?.args?.[1]).toContain('-A OSM_PROXY_OUTBOUND -j OSM_PROXY_OUT_REDIRECT');
    const volume = pod.spec?.volumes?.find((v) => v.name === 'sidecar-bootstrap-config-volume');
    expect(volume?.secret?.secretName).toBe(`sidecar-bootstrap-config-${uuid}`);
    await core.readNamespacedSecret({ namespace: 'bookbuyer', name: `sidecar-bootstrap-config-${uuid}` });
    expect(isInjected(pod as never)).toBe(true);

    const deploy = await apps.readNamespacedDeployment({ namespace: 'bookbuyer', name: 'bookbuyer' });
    expect(deploy.status).toMatchObject({
      observedGeneration: 2,
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
    });
    const rs = (await apps.listNamespacedReplicaSet({ namespace: 'bookbuyer' })).items;
    expect(rs.map((r) => r.spec?.replicas).sort()).toEqual([0, 1]);
  });

  it('rollout restart keeps pods unmeshed in an unmonitored namespace', async () => {
    await apps.patchNamespacedDeployment(
      { namespace: 'bookwarehouse', name: 'bookwarehouse', body: restartPatch() },
      strategic,
    );
    await emu.idle();
    const pods = (await core.listNamespacedPod({ namespace: 'bookwarehouse' })).items;
    expect(pods).toHaveLength(1);
    expect(pods[0].metadata?.labels?.['osm-proxy-uuid']).toBeUndefined();
    expect(pods[0].spec?.containers.map((c) => c.name)).toEqual(['bookwarehouse']);
  });

  it('applies the mustInject rules for namespace and pod annotations', async () => {
    await namespace('inj-ns-on', { [MONITORED]: 'osm' }, { [INJECTION]: 'Enabled' });
    await namespace('inj-ns-none', { [MONITORED]: 'osm' });
    await namespace('inj-other-mesh', { [MONITORED]: 'other' }, { [INJECTION]: 'enabled' });
    await namespace(
      'inj-ignored',
      { [MONITORED]: 'osm', 'openservicemesh.io/ignore': 'false' },
      { [INJECTION]: 'enabled' },
    );
    const create = (ns: string, pod: k8s.V1Pod) => core.createNamespacedPod({ namespace: ns, body: pod });
    const injected = (pod: k8s.V1Pod) =>
      !!pod.metadata?.labels?.['osm-proxy-uuid'] && pod.spec?.containers.some((c) => c.name === 'sidecar');

    expect(injected(await create('inj-ns-on', podBody('plain')))).toBe(true);
    expect(injected(await create('inj-ns-on', podBody('opt-out', { [INJECTION]: 'no' })))).toBe(false);
    expect(injected(await create('inj-ns-on', podBody('host', {}, { hostNetwork: true })))).toBe(false);
    expect(injected(await create('inj-ns-none', podBody('plain')))).toBe(false);
    expect(injected(await create('inj-ns-none', podBody('opt-in', { [INJECTION]: 'TRUE' })))).toBe(true);
    expect(injected(await create('inj-other-mesh', podBody('plain')))).toBe(false);
    expect(injected(await create('inj-ignored', podBody('plain')))).toBe(false);
    expect(injected(await create('bookstore', podBody('unmonitored', { [INJECTION]: 'enabled' })))).toBe(false);

    await core.patchNamespace(
      {
        name: 'osm-system',
        body: { metadata: { labels: { [MONITORED]: 'osm' }, annotations: { [INJECTION]: 'enabled' } } },
      },
      merge,
    );
    expect(injected(await create('osm-system', podBody('control-plane')))).toBe(false);
    await core.patchNamespace(
      {
        name: 'kube-system',
        body: { metadata: { labels: { [MONITORED]: 'osm' }, annotations: { [INJECTION]: 'enabled' } } },
      },
      merge,
    );
    expect(injected(await create('kube-system', podBody('system')))).toBe(false);
    // Leave the control plane unmonitored again: a monitored osm-system cannot restart its own injector.
    for (const name of ['osm-system', 'kube-system'])
      await core.patchNamespace(
        { name, body: { metadata: { labels: { [MONITORED]: null }, annotations: { [INJECTION]: null } } } },
        merge,
      );
  });

  it('denies pods with an invalid sidecar-injection annotation, but only where the webhook applies', async () => {
    const denied = await expectApiError(() =>
      core.createNamespacedPod({ namespace: 'inj-ns-on', body: podBody('bad', { [INJECTION]: 'maybe' }) }),
    );
    expect(denied.code).toBe(400);
    expect(denied.status.message).toBe(
      'admission webhook "osm-inject.k8s.io" denied the request: Invalid annotation value for key ' +
        '"openservicemesh.io/sidecar-injection": maybe',
    );
    await namespace('inj-bad-ns', { [MONITORED]: 'osm' }, { [INJECTION]: 'sometimes' });
    const nsDenied = await expectApiError(() =>
      core.createNamespacedPod({ namespace: 'inj-bad-ns', body: podBody('p') }),
    );
    expect(nsDenied.status.message).toContain(
      'Invalid annotation value for key "openservicemesh.io/sidecar-injection": sometimes',
    );
    const allowed = await core.createNamespacedPod({
      namespace: 'bookstore',
      body: podBody('bad-but-unmonitored', { [INJECTION]: 'maybe' }),
    });
    expect(allowed.metadata?.name).toBe('bad-but-unmonitored');
  });

  it('adds prometheus annotations when metrics are enabled and validates exclusion annotations', async () => {
    await namespace(
      'inj-metrics',
      { [MONITORED]: 'osm' },
      { [INJECTION]: 'enabled', 'openservicemesh.io/metrics': 'enabled' },
    );
    const pod = await core.createNamespacedPod({
      namespace: 'inj-metrics',
      body: podBody('m', { 'openservicemesh.io/outbound-ip-range-exclusion-list': '10.0.0.0/8, 192.168.0.1/32' }),
    });
    expect(pod.metadata?.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '15010',
      'prometheus.io/path': '/stats/prometheus',
    });
    expect(pod.spec?.initContainers?.[0].args?.[1]).toContain('-A OSM_PROXY_OUTBOUND -d 192.168.0.1/32 -j RETURN');
    const badCidr = await expectApiError(() =>
      core.createNamespacedPod({
        namespace: 'inj-metrics',
        body: podBody('x', { 'openservicemesh.io/outbound-ip-range-exclusion-list': '10.0.0.300/8' }),
      }),
    );
    expect(badCidr.status.message).toContain(
      `Invalid IP range '10.0.0.300/8' specified for annotation 'openservicemesh.io/outbound-ip-range-exclusion-list'`,
    );
    const badPort = await expectApiError(() =>
      core.createNamespacedPod({
        namespace: 'inj-metrics',
        body: podBody('y', { 'openservicemesh.io/outbound-port-exclusion-list': '80,abc' }),
      }),
    );
    expect(badPort.status.message).toContain(
      `Invalid port value 'abc' specified for annotation 'openservicemesh.io/outbound-port-exclusion-list'`,
    );
  });

  it('follows the MeshConfig: no osm-init outside iptables mode, exclusion CIDRs in the init script', async () => {
    const meshconfig = {
      group: 'config.openservicemesh.io',
      version: 'v1alpha2',
      namespace: 'osm-system',
      plural: 'meshconfigs',
      name: 'osm-mesh-config',
    };
    await custom.patchNamespacedCustomObject(
      { ...meshconfig, body: { spec: { traffic: { outboundIPRangeExclusionList: ['10.96.0.1/32'] } } } },
      merge,
    );
    const withExclusion = await core.createNamespacedPod({ namespace: 'inj-ns-on', body: podBody('excl') });
    expect(withExclusion.spec?.initContainers?.[0].args?.[1]).toContain(
      '-A OSM_PROXY_OUTBOUND -d 10.96.0.1/32 -j RETURN',
    );
    await custom.patchNamespacedCustomObject(
      { ...meshconfig, body: { spec: { traffic: { interceptionMode: 'ebpf' } } } },
      merge,
    );
    const ebpf = await core.createNamespacedPod({ namespace: 'inj-ns-on', body: podBody('ebpf') });
    expect(ebpf.spec?.initContainers ?? []).toEqual([]);
    expect(ebpf.spec?.containers.map((c) => c.name)).toEqual(['app', 'sidecar']);
    await custom.patchNamespacedCustomObject(
      {
        ...meshconfig,
        body: { spec: { traffic: { interceptionMode: 'iptables', outboundIPRangeExclusionList: [] } } },
      },
      merge,
    );
  });

  it('misses the injection when the pod is created before the injector sees the label (#injector-race)', async () => {
    emu.configure({ injectorLagMs: 300 });
    try {
      await namespace('inj-race', {});
      await core.patchNamespace(
        {
          name: 'inj-race',
          body: { metadata: { labels: { [MONITORED]: 'osm' }, annotations: { [INJECTION]: 'enabled' } } },
        },
        strategic,
      );
      const early = await core.createNamespacedPod({ namespace: 'inj-race', body: podBody('early') });
      expect(early.metadata?.labels?.['osm-proxy-uuid']).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 350));
      const late = await core.createNamespacedPod({ namespace: 'inj-race', body: podBody('late') });
      expect(late.metadata?.labels?.['osm-proxy-uuid']).toBeDefined();
    } finally {
      emu.configure({ injectorLagMs: 0 });
    }
  });

  it(
    'fails pod creation in monitored namespaces while the injector has no ready endpoint (failurePolicy ' + 'Fail)',
    async () => {
      await apps.patchNamespacedDeployment(
        { namespace: 'osm-system', name: 'osm-injector', body: { spec: { replicas: 0 } } },
        merge,
      );
      await emu.idle();
      try {
        const failed = await expectApiError(() =>
          core.createNamespacedPod({ namespace: 'inj-ns-on', body: podBody('no-injector') }),
        );
        expect(failed.code).toBe(500);
        expect(failed.status.message).toBe(
          'Internal error occurred: failed calling webhook "osm-inject.k8s.io": failed to call webhook: Post ' +
            '"https://osm-injector.osm-system.svc:9090/mutate-pod-creation?timeout=20s": no endpoints available for ' +
            'service "osm-injector"',
        );
        const elsewhere = await core.createNamespacedPod({ namespace: 'bookstore', body: podBody('still-fine') });
        expect(elsewhere.metadata?.name).toBe('still-fine');
      } finally {
        await apps.patchNamespacedDeployment(
          { namespace: 'osm-system', name: 'osm-injector', body: { spec: { replicas: 1 } } },
          merge,
        );
        await emu.idle();
      }
      const recovered = await core.createNamespacedPod({ namespace: 'inj-ns-on', body: podBody('with-injector') });
      expect(recovered.metadata?.labels?.['osm-proxy-uuid']).toBeDefined();
    },
  );

  it('keeps retrying a rollout whose pods the webhook rejected, and reports FailedCreate events', async () => {
    await namespace('inj-retry', { [MONITORED]: 'osm' }, { [INJECTION]: 'enabled' });
    await core.createNamespacedServiceAccount({ namespace: 'inj-retry', body: { metadata: { name: 'web' } } });
    await apps.patchNamespacedDeployment(
      { namespace: 'osm-system', name: 'osm-injector', body: { spec: { replicas: 0 } } },
      merge,
    );
    await emu.idle();
    await apps.createNamespacedDeployment({
      namespace: 'inj-retry',
      body: {
        metadata: { name: 'web' },
        spec: {
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { serviceAccountName: 'web', containers: [{ name: 'web', image: 'nginx:1.27' }] },
          },
        },
      },
    });
    await emu.idle();
    expect((await core.listNamespacedPod({ namespace: 'inj-retry' })).items).toEqual([]);
    const events = (await core.listNamespacedEvent({ namespace: 'inj-retry', fieldSelector: 'reason=FailedCreate' }))
      .items;
    expect(events[0]?.message).toContain(
      'Error creating: Internal error occurred: failed calling webhook "osm-inject.k8s.io"',
    );
    await apps.patchNamespacedDeployment(
      { namespace: 'osm-system', name: 'osm-injector', body: { spec: { replicas: 1 } } },
      merge,
    );
    const pods = await waitFor(async () => {
      const items = (await core.listNamespacedPod({ namespace: 'inj-retry' })).items;
      return items.length === 1 ? items : undefined;
    }, 3000);
    expect(pods[0].metadata?.labels?.['osm-proxy-uuid']).toBeDefined();
  });

  it('validates Egress matches through the osm validating webhook in monitored namespaces', async () => {
    const egress = (name: string, ns: string, matches: object[]) =>
      custom.createNamespacedCustomObject({
        group: 'policy.openservicemesh.io',
        version: 'v1alpha1',
        namespace: ns,
        plural: 'egresses',
        body: {
          apiVersion: 'policy.openservicemesh.io/v1alpha1',
          kind: 'Egress',
          metadata: { name },
          spec: {
            sources: [{ kind: 'ServiceAccount', name: 'sa', namespace: ns }],
            ports: [{ number: 443, protocol: 'https' }],
            matches,
          },
        },
      });
    const denied = await expectApiError(() =>
      egress('bad', 'inj-ns-on', [{ apiGroup: 'policy.openservicemesh.io', kind: 'HTTPRouteGroup', name: 'r' }]),
    );
    expect(denied.code).toBe(400);
    expect(denied.status.message).toBe(
      `admission webhook "osm-validator.k8s.io" denied the request: Expected 'matches.apiGroup' to be one of ` +
        `[specs.smi-spec.io/v1alpha4 policy.openservicemesh.io/v1alpha1], got: policy.openservicemesh.io`,
    );
    await egress('unchecked', 'bookstore', [
      { apiGroup: 'policy.openservicemesh.io', kind: 'HTTPRouteGroup', name: 'r' },
    ]);
    await egress('good', 'inj-ns-on', [{ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'r' }]);
  });

  it('rolls a StatefulSet and respects paused Deployments', async () => {
    await core.patchNamespace(
      {
        name: 'mysql',
        body: { metadata: { labels: { [MONITORED]: 'osm' }, annotations: { [INJECTION]: 'enabled' } } },
      },
      strategic,
    );
    await apps.patchNamespacedStatefulSet({ namespace: 'mysql', name: 'mysql', body: restartPatch() }, strategic);
    await emu.idle();
    const mysql = await core.readNamespacedPod({ namespace: 'mysql', name: 'mysql-0' });
    expect(mysql.metadata?.labels?.['osm-proxy-uuid']).toBeDefined();

    await core.patchNamespace(
      {
        name: 'bookthief',
        body: { metadata: { labels: { [MONITORED]: 'osm' }, annotations: { [INJECTION]: 'enabled' } } },
      },
      strategic,
    );
    await apps.patchNamespacedDeployment(
      { namespace: 'bookthief', name: 'bookthief', body: { spec: { paused: true } } },
      merge,
    );
    await apps.patchNamespacedDeployment(
      { namespace: 'bookthief', name: 'bookthief', body: restartPatch() },
      strategic,
    );
    await emu.idle();
    const pods = (await core.listNamespacedPod({ namespace: 'bookthief' })).items;
    expect(pods.every((p) => !p.metadata?.labels?.['osm-proxy-uuid'])).toBe(true);
    const paused = await apps.readNamespacedDeployment({ namespace: 'bookthief', name: 'bookthief' });
    expect(paused.status?.conditions?.find((c) => c.type === 'Progressing')?.reason).toBe('DeploymentPaused');
    // No ReplicaSet has the changed template while paused: kube-controller-manager counts 0 updated replicas.
    expect(paused.status?.updatedReplicas ?? 0).toBe(0);
    expect(paused.status?.replicas).toBe(1);
    await apps.patchNamespacedDeployment(
      { namespace: 'bookthief', name: 'bookthief', body: { spec: { paused: false } } },
      merge,
    );
    await emu.idle();
    const resumed = (await core.listNamespacedPod({ namespace: 'bookthief' })).items;
    expect(resumed).toHaveLength(1);
    expect(resumed[0].metadata?.labels?.['osm-proxy-uuid']).toBeDefined();
  });

  it('reports pods as Pending until podStartMs has passed', async () => {
    emu.configure({ podStartMs: 200 });
    try {
      const pod = await core.createNamespacedPod({ namespace: 'bookstore', body: podBody('slow') });
      expect(pod.status?.phase).toBe('Pending');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await core.readNamespacedPod({ namespace: 'bookstore', name: 'slow' })).status?.phase).toBe('Pending');
      await emu.idle();
      const running = await core.readNamespacedPod({ namespace: 'bookstore', name: 'slow' });
      expect(running.status?.phase).toBe('Running');
      expect(running.status?.containerStatuses?.[0].ready).toBe(true);
    } finally {
      emu.configure({ podStartMs: 0 });
    }
  });
});
