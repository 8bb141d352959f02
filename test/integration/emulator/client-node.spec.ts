import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace, SEEDED_APP_NAMESPACES, startEmulator, type Emulator } from '../../support/emulator/index.js';
import { expectApiError, waitFor } from '../../support/emulator/testing.js';

const MESHCONFIG = {
  group: 'config.openservicemesh.io',
  version: 'v1alpha2',
  namespace: 'osm-system',
  plural: 'meshconfigs',
  name: 'osm-mesh-config',
};
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);
const apply = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);

describe('emulator over HTTP with @kubernetes/client-node', () => {
  let emu: Emulator;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let custom: k8s.CustomObjectsApi;

  beforeAll(async () => {
    emu = await startEmulator();
    kc = new k8s.KubeConfig();
    kc.loadFromString(emu.kubeconfig());
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
  });

  afterAll(async () => {
    await emu?.close();
  });

  describe('reads', () => {
    it('serves the seeded cluster with list metadata', async () => {
      const namespaces = await core.listNamespace();
      expect(namespaces.kind).toBe('NamespaceList');
      expect(Number(namespaces.metadata?.resourceVersion)).toBeGreaterThan(0);
      const names = namespaces.items.map((n) => n.metadata?.name);
      expect(names).toEqual(
        expect.arrayContaining([
          'default',
          'kube-system',
          'osm-system',
          'bookstore',
          'bookbuyer',
          'bookthief',
          'bookwarehouse',
          'mysql',
        ]),
      );
      const ns = await core.readNamespace({ name: 'bookstore' });
      expect(ns.metadata?.labels?.['kubernetes.io/metadata.name']).toBe('bookstore');
      expect(ns.spec?.finalizers).toEqual(['kubernetes']);
      expect(ns.status?.phase).toBe('Active');
      expect(ns.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('filters with label and field selectors, across and within namespaces', async () => {
      const mesh = await apps.listDeploymentForAllNamespaces({ labelSelector: 'meshName=osm' });
      expect(mesh.items.map((d) => d.metadata?.name).sort()).toEqual([
        'osm-bootstrap',
        'osm-controller',
        'osm-injector',
      ]);
      expect(mesh.items.every((d) => d.metadata?.namespace === 'osm-system')).toBe(true);
      const controller = await apps.listDeploymentForAllNamespaces({
        labelSelector: 'app=osm-controller,meshName=osm',
      });
      expect(controller.items[0].metadata?.labels?.['app.kubernetes.io/version']).toBe('v1.3.9');

      const v1 = await core.listNamespacedPod({
        namespace: 'bookstore',
        labelSelector: 'app=bookstore,version in (v1)',
      });
      expect(v1.items).toHaveLength(2);
      expect(v1.items.every((p) => p.status?.phase === 'Running')).toBe(true);
      const running = await core.listPodForAllNamespaces({
        fieldSelector: 'status.phase=Running,metadata.namespace=bookstore',
      });
      expect(running.items).toHaveLength(3);
      const notV1 = await core.listNamespacedPod({ namespace: 'bookstore', labelSelector: 'version!=v1' });
      expect(notV1.items.map((p) => p.metadata?.labels?.version)).toEqual(['v2']);

      const bad = await expectApiError(() =>
        core.listNamespacedPod({ namespace: 'bookstore', fieldSelector: 'spec.containers=x' }),
      );
      expect(bad.code).toBe(400);
      expect(bad.status.message).toBe('field label not supported: spec.containers');
    });

    it('pages through lists with limit and continue', async () => {
      const first = await core.listNamespace({ limit: 3 });
      expect(first.items).toHaveLength(3);
      expect(first.metadata?._continue).toBeTruthy();
      expect(first.metadata?.remainingItemCount).toBeGreaterThan(0);
      const seen = first.items.map((n) => n.metadata?.name);
      let token = first.metadata?._continue;
      while (token) {
        const page = await core.listNamespace({ limit: 3, _continue: token });
        seen.push(...page.items.map((n) => n.metadata?.name));
        token = page.metadata?._continue;
      }
      const all = await core.listNamespace();
      expect(seen).toEqual(all.items.map((n) => n.metadata?.name));
    });

    it('seeds the osm-edge control plane, the apiserver service and the demo apps', async () => {
      const svc = await core.readNamespacedService({ namespace: 'default', name: 'kubernetes' });
      expect(svc.spec?.clusterIP).toBe('10.96.0.1');
      expect(svc.spec?.ports?.[0]).toMatchObject({ name: 'https', port: 443, targetPort: 6443 });
      const controllerSvc = await core.readNamespacedService({ namespace: 'osm-system', name: 'osm-controller' });
      expect(controllerSvc.spec?.ports?.find((p) => p.name === 'pipy-admin-port')?.port).toBe(6060);
      const mysql = await core.readNamespacedService({ namespace: 'mysql', name: 'mysql' });
      expect(mysql.spec?.ports?.[0]).toMatchObject({ name: 'mysql', port: 3306 });
      const sts = await apps.readNamespacedStatefulSet({ namespace: 'mysql', name: 'mysql' });
      expect(sts.status?.readyReplicas).toBe(1);
      const deploy = await apps.readNamespacedDeployment({ namespace: 'bookstore', name: 'bookstore' });
      expect(deploy.status).toMatchObject({
        replicas: 2,
        readyReplicas: 2,
        availableReplicas: 2,
        updatedReplicas: 2,
        observedGeneration: 1,
      });
      expect(deploy.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual([
        'Available=True',
        'Progressing=True',
      ]);
      const pods = await core.listNamespacedPod({ namespace: 'bookstore', labelSelector: 'app=bookstore,version=v1' });
      const pod = pods.items[0];
      expect(pod.metadata?.name).toMatch(/^bookstore-[a-z0-9]+-[a-z0-9]{5}$/);
      expect(pod.metadata?.labels?.['pod-template-hash']).toBeTruthy();
      expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet', controller: true });
      expect(pod.spec?.serviceAccountName).toBe('bookstore');
      expect(pod.spec?.containers.map((c) => c.name)).toEqual(['bookstore']);
      expect(pod.metadata?.labels?.['osm-proxy-uuid']).toBeUndefined();
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    });
  });

  describe('errors', () => {
    it('answers 404 NotFound with the apiserver message and details', async () => {
      const err = await expectApiError(() => apps.readNamespacedDeployment({ namespace: 'bookstore', name: 'web' }));
      expect(err.code).toBe(404);
      expect(err.status).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'deployments.apps "web" not found',
        reason: 'NotFound',
        details: { name: 'web', group: 'apps', kind: 'deployments' },
        code: 404,
      });
      const ns = await expectApiError(() => core.readNamespace({ name: 'x' }));
      expect(ns.status.message).toBe('namespaces "x" not found');
      const mc = await expectApiError(() => custom.getNamespacedCustomObject({ ...MESHCONFIG, name: 'nope' }));
      expect(mc.status.message).toBe('meshconfigs.config.openservicemesh.io "nope" not found');
    });

    it('answers 409 AlreadyExists on create and 404 for a missing namespace', async () => {
      const exists = await expectApiError(() => core.createNamespace({ body: { metadata: { name: 'bookstore' } } }));
      expect(exists.code).toBe(409);
      expect(exists.status.reason).toBe('AlreadyExists');
      expect(exists.status.message).toBe('namespaces "bookstore" already exists');
      const missing = await expectApiError(() =>
        core.createNamespacedConfigMap({ namespace: 'ghost', body: { metadata: { name: 'cm' } } }),
      );
      expect(missing.code).toBe(404);
      expect(missing.status.message).toBe('namespaces "ghost" not found');
    });

    it('answers 422 Invalid for bad names and supports generateName', async () => {
      const bad = await expectApiError(() => core.createNamespace({ body: { metadata: { name: 'Bad_Name' } } }));
      expect(bad.code).toBe(422);
      expect(bad.status.reason).toBe('Invalid');
      expect(bad.status.message).toMatch(
        /^Namespace "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 label must consist of/,
      );
      expect(bad.status.details?.causes?.[0]).toMatchObject({ reason: 'FieldValueInvalid', field: 'metadata.name' });
      const svc = await expectApiError(() =>
        core.createNamespacedService({
          namespace: 'default',
          body: { metadata: { name: '1svc' }, spec: { ports: [{ port: 80 }] } },
        }),
      );
      expect(svc.status.message).toContain('a DNS-1035 label must consist of lower case alphanumeric characters');
      const generated = await core.createNamespacedConfigMap({
        namespace: 'default',
        body: { metadata: { generateName: 'gen-' }, data: { a: 'b' } },
      });
      expect(generated.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/);
      const labels = await expectApiError(() =>
        core.createNamespace({ body: { metadata: { name: 'lbl', labels: { 'bad key': 'x' } } } }),
      );
      expect(labels.status.message).toContain('metadata.labels: Invalid value: "bad key"');
    });

    it('answers 409 Conflict for a stale update, with the exact kube message', async () => {
      const ns = await core.createNamespace({ body: { metadata: { name: 'conflict-demo' } } });
      await core.patchNamespace({ name: 'conflict-demo', body: { metadata: { labels: { touched: 'yes' } } } }, merge);
      const stale = await expectApiError(() => core.replaceNamespace({ name: 'conflict-demo', body: ns }));
      expect(stale.code).toBe(409);
      expect(stale.status.reason).toBe('Conflict');
      expect(stale.status.message).toBe(
        'Operation cannot be fulfilled on namespaces "conflict-demo": the object has been modified; please apply ' +
          'your changes to the latest version and try again',
      );
      const deploy = await apps.readNamespacedDeployment({ namespace: 'bookwarehouse', name: 'bookwarehouse' });
      await apps.patchNamespacedDeployment(
        { namespace: 'bookwarehouse', name: 'bookwarehouse', body: { metadata: { labels: { x: 'y' } } } },
        merge,
      );
      const staleDeploy = await expectApiError(() =>
        apps.replaceNamespacedDeployment({ namespace: 'bookwarehouse', name: 'bookwarehouse', body: deploy }),
      );
      expect(staleDeploy.status.message).toBe(
        'Operation cannot be fulfilled on deployments.apps "bookwarehouse": the object has been modified; please ' +
          'apply your changes to the latest version and try again',
      );
      const fresh = await core.readNamespace({ name: 'conflict-demo' });
      delete fresh.metadata?.resourceVersion;
      fresh.metadata!.labels = { ...fresh.metadata?.labels, unconditional: 'ok' };
      const replaced = await core.replaceNamespace({ name: 'conflict-demo', body: fresh });
      expect(replaced.metadata?.labels?.unconditional).toBe('ok');
    });

    it('answers 401 without the bearer token', async () => {
      const response = await fetch(`${emu.url}/api/v1/namespaces`);
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
      const wrong = await fetch(`${emu.url}/api/v1/namespaces`, { headers: { Authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      const ok = await fetch(`${emu.url}/api/v1/namespaces/default`, {
        headers: { Authorization: `Bearer ${emu.token}` },
      });
      expect(ok.status).toBe(200);
    });
  });

  describe('patches', () => {
    it('patches a namespace with merge, strategic and JSON patches', async () => {
      await core.createNamespace({ body: { metadata: { name: 'patch-demo', labels: { keep: 'me', drop: 'me' } } } });
      const merged = await core.patchNamespace(
        {
          name: 'patch-demo',
          body: { metadata: { labels: { 'openservicemesh.io/monitored-by': 'osm', drop: null } } },
        },
        merge,
      );
      expect(merged.metadata?.labels).toEqual({
        keep: 'me',
        'kubernetes.io/metadata.name': 'patch-demo',
        'openservicemesh.io/monitored-by': 'osm',
      });
      const strategicResult = await core.patchNamespace(
        {
          name: 'patch-demo',
          body: { metadata: { annotations: { 'openservicemesh.io/sidecar-injection': 'enabled' } } },
        },
        strategic,
      );
      expect(strategicResult.metadata?.annotations).toEqual({ 'openservicemesh.io/sidecar-injection': 'enabled' });
      const jsonResult = await core.patchNamespace(
        {
          name: 'patch-demo',
          body: [
            { op: 'test', path: '/metadata/labels/keep', value: 'me' },
            { op: 'add', path: '/metadata/labels/openservicemesh.io~1metrics', value: 'enabled' },
          ],
        },
        jsonPatch,
      );
      expect(jsonResult.metadata?.labels?.['openservicemesh.io/metrics']).toBe('enabled');
      const failedTest = await expectApiError(() =>
        core.patchNamespace(
          { name: 'patch-demo', body: [{ op: 'test', path: '/metadata/labels/keep', value: 'other' }] },
          jsonPatch,
        ),
      );
      expect(failedTest.code).toBe(422);
      expect(failedTest.status.reason).toBe('Invalid');
      const badPath = await expectApiError(() =>
        core.patchNamespace(
          { name: 'patch-demo', body: [{ op: 'replace', path: '/metadata/nothing/here', value: 1 }] },
          jsonPatch,
        ),
      );
      expect(badPath.code).toBe(422);
    });

    it('does not bump resourceVersion for a no-op patch', async () => {
      const before = await core.readNamespace({ name: 'bookthief' });
      const same = await core.patchNamespace(
        { name: 'bookthief', body: { metadata: { labels: { 'kubernetes.io/metadata.name': 'bookthief' } } } },
        merge,
      );
      expect(same.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
      const alsoSame = await core.patchNamespace(
        { name: 'bookthief', body: { metadata: { labels: { nothing: null } } } },
        strategic,
      );
      expect(alsoSame.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
      const changed = await core.patchNamespace(
        { name: 'bookthief', body: { metadata: { labels: { changed: 'yes' } } } },
        strategic,
      );
      expect(Number(changed.metadata?.resourceVersion)).toBeGreaterThan(Number(before.metadata?.resourceVersion));
    });

    it('rejects a patch that carries a stale resourceVersion and unknown content types', async () => {
      const ns = await core.readNamespace({ name: 'bookthief' });
      await core.patchNamespace(
        { name: 'bookthief', body: { metadata: { labels: { bump: String(Date.now()) } } } },
        merge,
      );
      const stale = await expectApiError(() =>
        core.patchNamespace(
          {
            name: 'bookthief',
            body: { metadata: { resourceVersion: ns.metadata?.resourceVersion, labels: { a: 'b' } } },
          },
          merge,
        ),
      );
      expect(stale.code).toBe(409);
      expect(stale.status.reason).toBe('Conflict');
      const unsupported = await fetch(`${emu.url}/api/v1/namespaces/bookthief`, {
        method: 'PATCH',
        headers: { Authorization: `Bearer ${emu.token}`, 'Content-Type': 'text/plain' },
        body: '{}',
      });
      expect(unsupported.status).toBe(415);
      expect(await unsupported.json()).toMatchObject({ reason: 'UnsupportedMediaType', code: 415 });
    });

    it('bumps generation only for spec changes and supports server-side apply and dry-run', async () => {
      const before = await apps.readNamespacedDeployment({ namespace: 'bookthief', name: 'bookthief' });
      const labelled = await apps.patchNamespacedDeployment(
        { namespace: 'bookthief', name: 'bookthief', body: { metadata: { labels: { l: 'x' } } } },
        merge,
      );
      expect(labelled.metadata?.generation).toBe(before.metadata?.generation);
      const paused = await apps.patchNamespacedDeployment(
        { namespace: 'bookthief', name: 'bookthief', body: { spec: { paused: true } } },
        merge,
      );
      expect(paused.metadata?.generation).toBe((before.metadata?.generation ?? 0) + 1);

      const noManager = await expectApiError(() =>
        core.patchNamespacedConfigMap(
          {
            namespace: 'default',
            name: 'ssa',
            body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' } },
          },
          apply,
        ),
      );
      expect(noManager.code).toBe(422);
      expect(noManager.status.message).toBe(
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
      );
      const created = await core.patchNamespacedConfigMap(
        {
          namespace: 'default',
          name: 'ssa',
          fieldManager: 'tests',
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data: { a: '1' } },
        },
        apply,
      );
      expect(created.data).toEqual({ a: '1' });
      const applied = await core.patchNamespacedConfigMap(
        {
          namespace: 'default',
          name: 'ssa',
          fieldManager: 'tests',
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa' }, data: { b: '2' } },
        },
        apply,
      );
      expect(applied.data).toEqual({ a: '1', b: '2' });

      const dry = await core.createNamespacedConfigMap({
        namespace: 'default',
        dryRun: 'All',
        body: { metadata: { name: 'dry' } },
      });
      expect(dry.metadata?.name).toBe('dry');
      await expectApiError(() => core.readNamespacedConfigMap({ namespace: 'default', name: 'dry' }));
    });
  });

  describe('custom resources', () => {
    it('gets the MeshConfig at v1alpha2 and v1alpha1 and patches it with a merge patch', async () => {
      const mc = (await custom.getNamespacedCustomObject(MESHCONFIG)) as {
        apiVersion: string;
        metadata: { generation: number };
        spec: Record<string, Record<string, unknown>>;
      };
      expect(mc.apiVersion).toBe('config.openservicemesh.io/v1alpha2');
      expect(mc.spec.sidecar.sidecarImage).toBe('flomesh/pipy:0.90.3-54');
      expect(mc.spec.traffic).toMatchObject({
        enableEgress: true,
        enablePermissiveTrafficPolicyMode: true,
        interceptionMode: 'iptables',
        outboundIPRangeExclusionList: [],
      });
      expect(mc.spec.sidecar.tlsMinProtocolVersion).toBe('TLSv1_2'); // CRD schema default
      const old = (await custom.getNamespacedCustomObject({ ...MESHCONFIG, version: 'v1alpha1' })) as {
        apiVersion: string;
      };
      expect(old.apiVersion).toBe('config.openservicemesh.io/v1alpha1');

      const patched = (await custom.patchNamespacedCustomObject(
        { ...MESHCONFIG, body: { spec: { traffic: { outboundIPRangeExclusionList: ['10.96.0.1/32'] } } } },
        merge,
      )) as { metadata: { generation: number }; spec: { traffic: { outboundIPRangeExclusionList: string[] } } };
      expect(patched.spec.traffic.outboundIPRangeExclusionList).toEqual(['10.96.0.1/32']);
      expect(patched.metadata.generation).toBe(mc.metadata.generation + 1);
      const appended = (await custom.patchNamespacedCustomObject(
        {
          ...MESHCONFIG,
          body: [{ op: 'add', path: '/spec/traffic/outboundIPRangeExclusionList/-', value: '10.0.0.0/8' }],
        },
        jsonPatch,
      )) as { spec: { traffic: { outboundIPRangeExclusionList: string[] } } };
      expect(appended.spec.traffic.outboundIPRangeExclusionList).toEqual(['10.96.0.1/32', '10.0.0.0/8']);
    });

    it('validates custom resources against the CRD schema and refuses strategic merge patches', async () => {
      const invalid = await expectApiError(() =>
        custom.patchNamespacedCustomObject(
          {
            ...MESHCONFIG,
            body: {
              spec: { traffic: { outboundIPRangeExclusionList: ['not-a-cidr'], inboundPortExclusionList: [70000] } },
            },
          },
          merge,
        ),
      );
      expect(invalid.code).toBe(422);
      expect(invalid.status.message).toBe(
        `MeshConfig.config.openservicemesh.io "osm-mesh-config" is invalid: ` +
          `[spec.traffic.inboundPortExclusionList[0]: Invalid value: 70000: ` +
          `spec.traffic.inboundPortExclusionList[0] in body should be less than or equal to 65535, ` +
          `spec.traffic.outboundIPRangeExclusionList[0]: Invalid value: "not-a-cidr": ` +
          `spec.traffic.outboundIPRangeExclusionList[0] in body should match ` +
          `'((?:\\d{1,3}\\.){3}\\d{1,3})\\/(\\d{1,2})$']`,
      );
      expect(invalid.status.details?.causes).toHaveLength(2);
      const strategicCr = await expectApiError(() =>
        custom.patchNamespacedCustomObject({ ...MESHCONFIG, body: { spec: {} } }, strategic),
      );
      expect(strategicCr.code).toBe(415);
      expect(strategicCr.status.reason).toBe('UnsupportedMediaType');

      const egress = {
        group: 'policy.openservicemesh.io',
        version: 'v1alpha1',
        namespace: 'bookbuyer',
        plural: 'egresses',
      };
      const missing = await expectApiError(() =>
        custom.createNamespacedCustomObject({
          ...egress,
          body: {
            apiVersion: 'policy.openservicemesh.io/v1alpha1',
            kind: 'Egress',
            metadata: { name: 'e' },
            spec: { ports: [{ number: 443, protocol: 'https' }] },
          },
        }),
      );
      expect(missing.status.message).toBe(
        'Egress.policy.openservicemesh.io "e" is invalid: spec.sources: Required value',
      );
      const badKind = await expectApiError(() =>
        custom.createNamespacedCustomObject({
          ...egress,
          body: {
            apiVersion: 'policy.openservicemesh.io/v1alpha1',
            kind: 'Egress',
            metadata: { name: 'e' },
            spec: { sources: [{ kind: 'Pod', name: 'x', namespace: 'y' }], ports: [{ number: 0, protocol: 'tcp' }] },
          },
        }),
      );
      expect(badKind.status.message).toContain(
        'spec.sources[0].kind: Unsupported value: "Pod": supported values: "ServiceAccount"',
      );
      expect(badKind.status.message).toContain(
        'spec.ports[0].number: Invalid value: 0: spec.ports[0].number in body should be greater than or equal to 1',
      );
      const ok = await custom.createNamespacedCustomObject({
        ...egress,
        body: {
          apiVersion: 'policy.openservicemesh.io/v1alpha1',
          kind: 'Egress',
          metadata: { name: 'k8s-server-egress' },
          spec: {
            sources: [{ kind: 'ServiceAccount', name: 'bookbuyer', namespace: 'bookbuyer' }],
            ipAddresses: ['10.96.0.1/32'],
            ports: [{ number: 443, protocol: 'https' }],
            unknownField: 1,
          },
        },
      });
      // pruned like a structural schema
      expect((ok as { spec: Record<string, unknown> }).spec.unknownField).toBeUndefined();

      const tt = await expectApiError(() =>
        custom.createNamespacedCustomObject({
          group: 'access.smi-spec.io',
          version: 'v1alpha3',
          namespace: 'bookstore',
          plural: 'traffictargets',
          body: { apiVersion: 'access.smi-spec.io/v1alpha3', kind: 'TrafficTarget', metadata: { name: 't' }, spec: {} },
        }),
      );
      expect(tt.status.message).toContain('spec.destination: Required value');
    });

    it('serves the osm CRDs as CustomResourceDefinition objects', async () => {
      const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
      const crd = await ext.readCustomResourceDefinition({ name: 'meshconfigs.config.openservicemesh.io' });
      expect(crd.spec.versions.map((v) => `${v.name}:${v.served}:${v.storage}`)).toEqual([
        'v1alpha2:true:true',
        'v1alpha1:true:false',
      ]);
      expect(crd.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
      const split = await ext.readCustomResourceDefinition({ name: 'trafficsplits.split.smi-spec.io' });
      expect(split.spec.versions.filter((v) => v.served).map((v) => v.name)).toEqual(['v1alpha4', 'v1alpha2']);
    });
  });

  describe('watch', () => {
    it('streams ADDED, MODIFIED and DELETED in order', async () => {
      const events: string[] = [];
      const watch = new k8s.Watch(kc);
      const list = await core.listNamespacedConfigMap({ namespace: 'bookstore' });
      const controller = await watch.watch(
        '/api/v1/namespaces/bookstore/configmaps',
        { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
        (type, obj: k8s.V1ConfigMap) => {
          if (obj.metadata?.name === 'watched') events.push(`${type}:${obj.data?.v ?? ''}`);
        },
        () => undefined,
      );
      await core.createNamespacedConfigMap({
        namespace: 'bookstore',
        body: { metadata: { name: 'watched' }, data: { v: '1' } },
      });
      await core.patchNamespacedConfigMap(
        { namespace: 'bookstore', name: 'watched', body: { data: { v: '2' } } },
        merge,
      );
      await core.deleteNamespacedConfigMap({ namespace: 'bookstore', name: 'watched' });
      await waitFor(() => events.length === 3);
      controller.abort();
      expect(events).toEqual(['ADDED:1', 'MODIFIED:2', 'DELETED:2']);
    });

    it('replays from a resourceVersion and honours label selectors', async () => {
      const start = emu.store.resourceVersion();
      await core.createNamespacedConfigMap({
        namespace: 'bookstore',
        body: { metadata: { name: 'sel-a', labels: { pick: 'yes' } } },
      });
      await core.createNamespacedConfigMap({ namespace: 'bookstore', body: { metadata: { name: 'sel-b' } } });
      await core.patchNamespacedConfigMap(
        { namespace: 'bookstore', name: 'sel-a', body: { metadata: { labels: { pick: 'no' } } } },
        merge,
      );
      const events: string[] = [];
      const controller = await new k8s.Watch(kc).watch(
        '/api/v1/namespaces/bookstore/configmaps',
        { resourceVersion: start, labelSelector: 'pick=yes' },
        (type, obj: k8s.V1ConfigMap) => events.push(`${type}:${obj.metadata?.name ?? ''}`),
        () => undefined,
      );
      await waitFor(() => events.length === 2);
      controller.abort();
      // leaving the selector shows up as DELETED, as with kube-apiserver
      expect(events).toEqual(['ADDED:sel-a', 'DELETED:sel-a']);
    });

    it('feeds makeInformer', async () => {
      const seen: string[] = [];
      const informer = k8s.makeInformer(kc, '/api/v1/namespaces', () => core.listNamespace());
      informer.on('add', (ns) => seen.push(`add:${ns.metadata?.name ?? ''}`));
      informer.on('update', (ns) => seen.push(`update:${ns.metadata?.name ?? ''}`));
      informer.on('delete', (ns) => seen.push(`delete:${ns.metadata?.name ?? ''}`));
      await informer.start();
      await core.createNamespace({ body: { metadata: { name: 'informed' } } });
      await core.patchNamespace({ name: 'informed', body: { metadata: { labels: { x: 'y' } } } }, merge);
      await core.deleteNamespace({ name: 'informed' });
      await waitFor(() => seen.includes('delete:informed'));
      await informer.stop();
      expect(seen).toContain('add:bookstore');
      const mine = seen.filter((s) => s.endsWith(':informed'));
      expect(mine[0]).toBe('add:informed');
      expect(mine).toContain('update:informed');
      expect(mine[mine.length - 1]).toBe('delete:informed');
    });
  });

  describe('deletion', () => {
    it('deletes a namespace through a Terminating phase, with everything inside', async () => {
      await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
      await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'cm' } } });
      const terminating = await core.deleteNamespace({ name: 'doomed' });
      expect((terminating as k8s.V1Namespace).status?.phase).toBe('Terminating');
      const blocked = await expectApiError(() =>
        core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'late' } } }),
      );
      expect(blocked.code).toBe(403);
      expect(blocked.status.message).toBe(
        'configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being ' +
          'terminated',
      );
      await emu.idle();
      expect((await expectApiError(() => core.readNamespace({ name: 'doomed' }))).code).toBe(404);
      expect(emu.store.list('v1', 'ConfigMap', { namespace: 'doomed' })).toEqual([]);
      const immortal = await expectApiError(() => core.deleteNamespace({ name: 'default' }));
      expect(immortal.status.message).toBe('namespaces "default" is forbidden: this namespace may not be deleted');
    });

    it('returns a Status for deployments and garbage-collects their ReplicaSets and pods', async () => {
      await core.createNamespace({ body: { metadata: { name: 'gc-demo' } } });
      await apps.createNamespacedDeployment({
        namespace: 'gc-demo',
        body: {
          metadata: { name: 'web' },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: 'web' } },
            template: {
              metadata: { labels: { app: 'web' } },
              spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
            },
          },
        },
      });
      await emu.idle();
      expect((await core.listNamespacedPod({ namespace: 'gc-demo' })).items).toHaveLength(2);
      const status = await apps.deleteNamespacedDeployment({ namespace: 'gc-demo', name: 'web' });
      expect(status).toMatchObject({
        kind: 'Status',
        status: 'Success',
        details: { name: 'web', group: 'apps', kind: 'deployments' },
      });
      await emu.idle();
      expect((await apps.listNamespacedReplicaSet({ namespace: 'gc-demo' })).items).toEqual([]);
      expect((await core.listNamespacedPod({ namespace: 'gc-demo' })).items).toEqual([]);
    });
  });

  it('seeds extra application namespaces for benchmarks', async () => {
    expect(SEEDED_APP_NAMESPACES).toEqual(['bookstore', 'bookbuyer', 'bookthief', 'bookwarehouse', 'mysql']);
    for (let i = 0; i < 20; i++) seedAppNamespace(emu.store, `bench-${i}`, { deployments: 2, replicas: 2 });
    await emu.idle();
    const pods = await core.listPodForAllNamespaces({ labelSelector: 'app in (app-0, app-1)' });
    expect(
      pods.items.filter((p) => p.metadata?.namespace?.startsWith('bench-') && p.status?.phase === 'Running'),
    ).toHaveLength(80);
    const svc = await core.readNamespacedService({ namespace: 'bench-3', name: 'app-1' });
    expect(svc.spec?.ports?.[0]).toMatchObject({ name: 'http', port: 8080 });
  });

  it('answers SelfSubjectAccessReview with allowed: true', async () => {
    const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
    const review = await authz.createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { verb: 'patch', resource: 'namespaces', name: 'bookstore' } } },
    });
    expect(review.status?.allowed).toBe(true);
  });
});
