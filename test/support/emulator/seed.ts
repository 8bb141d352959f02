// Seeds: a bare cluster (what kubeadm/kind leave behind), an osm-edge v1.3.9 install as its Helm
// chart renders it (charts/osm, values.yaml defaults), and the bookstore demo applications.
// Everything is created through the API, so controllers and admission behave as they would.

import { readdirSync, readFileSync } from 'node:fs';
import { CORE_SCHEMA, loadAll } from 'js-yaml';
import type { EmulatorStore } from './facade.js';
import { OSM } from './osm.js';
import { bootstrapPolicy } from './rbac.js';
import { isObject, type KubeObject } from './types.js';

export const SEEDED_APP_NAMESPACES = ['bookstore', 'bookbuyer', 'bookthief', 'bookwarehouse', 'mysql'] as const;
export const OSM_NAMESPACE = 'osm-system';
export const MESH_NAME = 'osm';
export const NODE_NAME = 'emulator-node';

const CRD_DIR = new URL('./crds/', import.meta.url);

/** The osm-edge CRDs (cmd/osm-bootstrap/crds at v1.3.9) this emulator serves. */
export function osmCrds(): KubeObject[] {
  const out: KubeObject[] = [];
  for (const file of readdirSync(CRD_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    for (const doc of loadAll(readFileSync(new URL(file, CRD_DIR), 'utf8'), undefined, { schema: CORE_SCHEMA }))
      if (isObject(doc) && doc.kind === 'CustomResourceDefinition') out.push(doc as KubeObject);
  }
  return out;
}

function namespace(
  name: string,
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels, annotations } };
}

function serviceAccount(ns: string, name: string, labels?: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns, ...(labels ? { labels } : {}) } };
}

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number;
  appProtocol?: string;
}

function service(
  ns: string,
  name: string,
  selector: Record<string, string>,
  ports: ServicePort[],
  extra: { labels?: Record<string, string>; clusterIP?: string } = {},
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels: extra.labels ?? { app: name } },
    spec: { selector, ports, ...(extra.clusterIP ? { clusterIP: extra.clusterIP } : {}) },
  };
}

/** What every fresh cluster has: system namespaces, the node, the apiserver Service and CoreDNS. */
export function seedBaseCluster(store: EmulatorStore): void {
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) store.create(namespace(name));
  for (const obj of bootstrapPolicy()) store.create(obj); // kube-apiserver's RBAC bootstrap (rbac.ts)
  store.create({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: NODE_NAME,
      labels: {
        'kubernetes.io/hostname': NODE_NAME,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node-role.kubernetes.io/control-plane': '',
      },
    },
    spec: { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'] },
    status: {
      addresses: [
        { type: 'InternalIP', address: '172.18.0.2' },
        { type: 'Hostname', address: NODE_NAME },
      ],
      capacity: { cpu: '8', memory: '16Gi', pods: '110' },
      allocatable: { cpu: '8', memory: '16Gi', pods: '110' },
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
      ],
      nodeInfo: {
        kubeletVersion: 'v1.32.0',
        containerRuntimeVersion: 'containerd://1.7.24',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  });
  store.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: {
      clusterIP: '10.96.0.1',
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
      sessionAffinity: 'None',
      type: 'ClusterIP',
    },
  });
  store.create({
    ...service(
      'kube-system',
      'kube-dns',
      { 'k8s-app': 'kube-dns' },
      [
        { name: 'dns-tcp', port: 53 },
        { name: 'metrics', port: 9153 },
      ],
      { labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' }, clusterIP: '10.96.0.10' },
    ),
  });
  store.create(serviceAccount('kube-system', 'coredns'));
  store.create(
    deployment('kube-system', 'coredns', {
      replicas: 2,
      labels: { 'k8s-app': 'kube-dns' },
      selector: { 'k8s-app': 'kube-dns' },
      serviceAccountName: 'coredns',
      priorityClassName: 'system-cluster-critical',
      containers: [
        {
          name: 'coredns',
          image: 'registry.k8s.io/coredns/coredns:v1.11.3',
          args: ['-conf', '/etc/coredns/Corefile'],
          ports: [{ name: 'dns-tcp', containerPort: 53, protocol: 'TCP' }],
        },
      ],
    }),
  );
}

interface DeploymentSpec {
  replicas?: number;
  labels: Record<string, string>;
  selector: Record<string, string>;
  podLabels?: Record<string, string>;
  podAnnotations?: Record<string, string>;
  serviceAccountName?: string;
  priorityClassName?: string;
  securityContext?: Record<string, unknown>;
  initContainers?: Record<string, unknown>[];
  containers: Record<string, unknown>[];
}

function deployment(
  ns: string,
  name: string,
  spec: DeploymentSpec,
  kind: 'Deployment' | 'StatefulSet' = 'Deployment',
): KubeObject {
  const podSpec: Record<string, unknown> = { containers: spec.containers };
  if (spec.serviceAccountName) podSpec.serviceAccountName = spec.serviceAccountName;
  if (spec.priorityClassName) podSpec.priorityClassName = spec.priorityClassName;
  if (spec.securityContext) podSpec.securityContext = spec.securityContext;
  if (spec.initContainers) podSpec.initContainers = spec.initContainers;
  const template: Record<string, unknown> = { metadata: { labels: spec.podLabels ?? spec.selector }, spec: podSpec };
  if (spec.podAnnotations) (template.metadata as Record<string, unknown>).annotations = spec.podAnnotations;
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name, namespace: ns, labels: spec.labels },
    spec: {
      replicas: spec.replicas ?? 1,
      selector: { matchLabels: spec.selector },
      template,
      ...(kind === 'StatefulSet' ? { serviceName: name } : {}),
    },
  };
}

const CHART_LABELS = {
  'app.kubernetes.io/name': 'openservicemesh.io',
  'app.kubernetes.io/instance': MESH_NAME,
  'app.kubernetes.io/version': OSM.version,
};

const RESTRICTED_SECURITY_CONTEXT = { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [5555] };

/** The MeshConfig spec osm-bootstrap derives from preset-mesh-config (chart defaults of v1.3.9). */
export function defaultMeshConfigSpec(): Record<string, unknown> {
  return {
    clusterSet: { properties: [] },
    sidecar: {
      enablePrivilegedInitContainer: false,
      logLevel: 'error',
      maxDataPlaneConnections: 0,
      configResyncInterval: '90s',
      sidecarTimeout: 60,
      sidecarClass: 'pipy',
      sidecarImage: 'flomesh/pipy:0.90.3-54',
      initContainerImage: 'flomesh/osm-edge-sidecar-init:1.3.9',
      sidecarDrivers: [
        { sidecarName: 'pipy', sidecarImage: 'flomesh/pipy:0.90.3-54', proxyServerPort: 6060 },
        {
          sidecarName: 'envoy',
          sidecarImage: 'envoyproxy/envoy:v1.19.3',
          sidecarWindowsImage: 'envoyproxy/envoy-windows:latest',
          proxyServerPort: 15128,
        },
      ],
      localProxyMode: 'Localhost',
      localDNSProxy: { enable: false },
    },
    traffic: {
      interceptionMode: 'iptables',
      enableEgress: true,
      enablePermissiveTrafficPolicyMode: true,
      http1PerRequestLoadBalancing: false,
      http2PerRequestLoadBalancing: true,
      outboundPortExclusionList: [],
      inboundPortExclusionList: [],
      outboundIPRangeExclusionList: [],
      outboundIPRangeInclusionList: [],
      networkInterfaceExclusionList: [],
    },
    observability: {
      enableDebugServer: false,
      osmLogLevel: 'info',
      tracing: { enable: false },
      remoteLogging: { enable: false },
    },
    certificate: { serviceCertValidityDuration: '24h', certKeyBitSize: 2048 },
    repoServer: { ipaddr: '127.0.0.1', codebase: '' },
    featureFlags: {
      enableWASMStats: false,
      enableEgressPolicy: true,
      enableSnapshotCacheMode: false,
      enableAsyncProxyServiceMapping: false,
      enableIngressBackendPolicy: true,
      enableAccessControlPolicy: false,
      enableAccessCertPolicy: false,
      enableSidecarActiveHealthChecks: false,
      enableRetryPolicy: false,
      enablePluginPolicy: false,
    },
    pluginChains: {},
  };
}

function osmContainer(
  name: string,
  image: string,
  ports: { name: string; containerPort: number }[],
  args: string[],
): Record<string, unknown> {
  return {
    name,
    image,
    imagePullPolicy: 'IfNotPresent',
    ports,
    command: [`/${name}`],
    args,
    resources: { limits: { cpu: '0.5', memory: '128M' }, requests: { cpu: '0.3', memory: '128M' } },
  };
}

function curlInit(name: string, ns: string): Record<string, unknown> {
  return {
    name,
    image: 'curlimages/curl',
    command: [
      'curl',
      `http://osm-bootstrap.${ns}.svc.cluster.local:9091/healthz`,
      '--connect-timeout',
      '2',
      '--retry',
      '50',
      '--retry-connrefused',
      '--retry-delay',
      '5',
    ],
  };
}

/** `osm install` with the default chart values: control plane, CRDs, MeshConfig, webhooks. */
export function seedOsmControlPlane(store: EmulatorStore, ns = OSM_NAMESPACE, meshName = MESH_NAME): void {
  for (const crd of osmCrds()) store.create(crd);
  store.create(namespace(ns));
  store.create(serviceAccount(ns, 'osm', CHART_LABELS));
  store.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'osm-ca-bundle', namespace: ns, labels: CHART_LABELS },
    type: 'Opaque',
    data: {
      'ca.crt': Buffer.from('-----BEGIN CERTIFICATE-----\nb3NtLWNhLWVtdWxhdG9y\n-----END CERTIFICATE-----\n').toString(
        'base64',
      ),
      'private.key': Buffer.from(
        '-----BEGIN PRIVATE KEY-----\nb3NtLWNhLWVtdWxhdG9y\n-----END PRIVATE KEY-----\n',
      ).toString('base64'),
    },
  });
  const spec = defaultMeshConfigSpec();
  store.create({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'preset-mesh-config', namespace: ns },
    data: { 'preset-mesh-config.json': JSON.stringify(spec, null, 2) },
  });
  store.create({
    apiVersion: 'config.openservicemesh.io/v1alpha2',
    kind: 'MeshConfig',
    metadata: { name: OSM.meshConfigName, namespace: ns },
    spec,
  });

  const common = { '--verbosity': 'info', '--osm-namespace': ns, '--osm-version': OSM.version };
  const flags = (extra: Record<string, string>): string[] => Object.entries({ ...common, ...extra }).flat();
  const podAnnotations = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9091' };

  store.create(
    deployment(ns, 'osm-bootstrap', {
      labels: { ...CHART_LABELS, app: 'osm-bootstrap', meshName },
      selector: { app: 'osm-bootstrap' },
      podLabels: { ...CHART_LABELS, app: 'osm-bootstrap' },
      podAnnotations,
      serviceAccountName: 'osm',
      priorityClassName: 'system-node-critical',
      securityContext: RESTRICTED_SECURITY_CONTEXT,
      containers: [
        osmContainer(
          'osm-bootstrap',
          'flomesh/osm-edge-bootstrap:1.3.9',
          [
            { name: 'crdconversion', containerPort: 9443 },
            { name: 'metrics', containerPort: 9091 },
          ],
          flags({ '--ca-bundle-secret-name': 'osm-ca-bundle', '--certificate-manager': 'tresor' }),
        ),
      ],
    }),
  );
  store.create(
    deployment(ns, 'osm-controller', {
      labels: { ...CHART_LABELS, app: 'osm-controller', meshName, enforceSingleMesh: 'true' },
      selector: { app: 'osm-controller', codebase: '' },
      podLabels: { ...CHART_LABELS, app: 'osm-controller', codebase: '' },
      podAnnotations,
      serviceAccountName: 'osm',
      priorityClassName: 'system-node-critical',
      securityContext: RESTRICTED_SECURITY_CONTEXT,
      initContainers: [curlInit('init-osm-controller', ns)],
      containers: [
        {
          name: 'osm-pipy-repo',
          image: 'flomesh/pipy-repo:0.90.3-38',
          imagePullPolicy: 'IfNotPresent',
          ports: [{ name: 'pipy-admin-port', containerPort: 6060 }],
          command: ['pipy'],
          args: ['--admin-port=6060'],
        },
        osmContainer(
          'osm-controller',
          'flomesh/osm-edge-controller:1.3.9',
          [
            { name: 'admin-port', containerPort: 15000 },
            { name: 'osm-metrics', containerPort: 9091 },
          ],
          flags({
            '--mesh-name': meshName,
            '--osm-service-account': 'osm',
            '--validator-webhook-config': `osm-validator-mesh-${meshName}`,
            '--ca-bundle-secret-name': 'osm-ca-bundle',
            '--certificate-manager': 'tresor',
          }),
        ),
      ],
    }),
  );
  store.create(
    deployment(ns, 'osm-injector', {
      labels: { ...CHART_LABELS, app: 'osm-injector', meshName },
      selector: { app: 'osm-injector' },
      podLabels: { ...CHART_LABELS, app: 'osm-injector' },
      podAnnotations,
      serviceAccountName: 'osm',
      priorityClassName: 'system-node-critical',
      securityContext: RESTRICTED_SECURITY_CONTEXT,
      initContainers: [curlInit('init-osm-injector', ns)],
      containers: [
        osmContainer(
          'osm-injector',
          'flomesh/osm-edge-injector:1.3.9',
          [
            { name: 'sidecar-inject', containerPort: 9090 },
            { name: 'metrics', containerPort: 9091 },
          ],
          flags({
            '--mesh-name': meshName,
            '--webhook-config-name': `osm-webhook-${meshName}`,
            '--webhook-timeout': '20',
            '--ca-bundle-secret-name': 'osm-ca-bundle',
            '--certificate-manager': 'tresor',
          }),
        ),
      ],
    }),
  );

  store.create(
    service(
      ns,
      'osm-bootstrap',
      { app: 'osm-bootstrap' },
      [
        { name: 'crdconversion', port: 9443 },
        { name: 'health', port: 9091 },
      ],
      { labels: { ...CHART_LABELS, app: 'osm-bootstrap' } },
    ),
  );
  store.create(
    service(
      ns,
      'osm-controller',
      { app: 'osm-controller' },
      [
        { name: 'pipy-admin-port', port: 6060, targetPort: 6060 },
        { name: 'debug-port', port: 9092, targetPort: 9092 },
        { name: 'healthz', port: 9091, targetPort: 9091 },
      ],
      { labels: { ...CHART_LABELS, app: 'osm-controller' } },
    ),
  );
  store.create(
    service(ns, 'osm-injector', { app: 'osm-injector' }, [{ name: 'sidecar-inject', port: 9090 }], {
      labels: { ...CHART_LABELS, app: 'osm-injector' },
    }),
  );
  store.create(
    service(ns, 'osm-validator', { app: 'osm-controller' }, [{ name: 'validator', port: 9093, targetPort: 9093 }], {
      labels: { ...CHART_LABELS, app: 'osm-controller' },
    }),
  );

  const namespaceSelector = {
    matchLabels: { [OSM.monitoredBy]: meshName },
    matchExpressions: [
      { key: OSM.ignore, operator: 'DoesNotExist' },
      { key: 'name', operator: 'NotIn', values: [ns] },
      { key: 'control-plane', operator: 'DoesNotExist' },
    ],
  };
  const caBundle = Buffer.from(
    '-----BEGIN CERTIFICATE-----\nb3NtLWNhLWVtdWxhdG9y\n-----END CERTIFICATE-----\n',
  ).toString('base64');
  store.create({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: `osm-webhook-${meshName}`, labels: { ...CHART_LABELS, app: 'osm-injector' } },
    webhooks: [
      {
        name: OSM.injectorWebhook,
        clientConfig: {
          service: { namespace: ns, name: 'osm-injector', path: '/mutate-pod-creation', port: 9090 },
          caBundle,
        },
        failurePolicy: 'Fail',
        matchPolicy: 'Exact',
        namespaceSelector,
        objectSelector: {},
        rules: [{ operations: ['CREATE'], apiGroups: ['*'], apiVersions: ['v1'], resources: ['pods'], scope: '*' }],
        sideEffects: 'NoneOnDryRun',
        timeoutSeconds: 20,
        admissionReviewVersions: ['v1'],
        reinvocationPolicy: 'Never',
      },
    ],
  });
  store.create({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: `osm-validator-mesh-${meshName}`, labels: { ...CHART_LABELS, app: 'osm-controller' } },
    webhooks: [
      {
        name: OSM.validatorWebhook,
        clientConfig: { service: { namespace: ns, name: 'osm-validator', path: '/validate', port: 9093 }, caBundle },
        failurePolicy: 'Fail',
        matchPolicy: 'Exact',
        namespaceSelector,
        objectSelector: {},
        rules: [
          {
            operations: ['CREATE', 'UPDATE'],
            apiGroups: ['policy.openservicemesh.io'],
            apiVersions: ['v1alpha1'],
            resources: ['ingressbackends', 'egresses', 'egressgateways'],
            scope: '*',
          },
          {
            operations: ['CREATE', 'UPDATE'],
            apiGroups: ['plugin.flomesh.io'],
            apiVersions: ['v1alpha1'],
            resources: ['plugins', 'pluginchains', 'pluginconfigs'],
            scope: '*',
          },
          {
            operations: ['CREATE', 'UPDATE'],
            apiGroups: ['access.smi-spec.io'],
            apiVersions: ['v1alpha3'],
            resources: ['traffictargets'],
            scope: '*',
          },
        ],
        sideEffects: 'NoneOnDryRun',
        timeoutSeconds: 10,
        admissionReviewVersions: ['v1'],
      },
    ],
  });
}

function appContainer(
  name: string,
  image: string,
  port?: number,
  env: Record<string, string> = {},
): Record<string, unknown> {
  const container: Record<string, unknown> = {
    name,
    image,
    imagePullPolicy: 'Always',
    command: [`/${name.replace(/-v\d$/, '')}`],
  };
  if (port) {
    container.ports = [{ containerPort: port, name: 'web' }];
    container.args = ['--path', './', '--port', String(port)];
  }
  const vars = Object.entries(env).map(([k, v]) => ({ name: k, value: v }));
  if (vars.length) container.env = vars;
  return container;
}

/** The osm-edge bookstore demo (docs/getting_started), none of it in the mesh yet. */
export function seedBookstore(store: EmulatorStore): void {
  for (const ns of SEEDED_APP_NAMESPACES) store.create(namespace(ns));

  store.create(serviceAccount('bookstore', 'bookstore'));
  store.create(serviceAccount('bookstore', 'bookstore-v2'));
  store.create(service('bookstore', 'bookstore', { app: 'bookstore' }, [{ name: 'http', port: 14001 }]));
  store.create(
    deployment('bookstore', 'bookstore', {
      replicas: 2,
      labels: { app: 'bookstore', version: 'v1' },
      selector: { app: 'bookstore', version: 'v1' },
      serviceAccountName: 'bookstore',
      containers: [
        appContainer('bookstore', 'flomesh/bookstore:latest', 14001, {
          IDENTITY: 'bookstore-v1',
          BOOKWAREHOUSE_NAMESPACE: 'bookwarehouse',
        }),
      ],
    }),
  );
  store.create(
    deployment('bookstore', 'bookstore-v2', {
      labels: { app: 'bookstore', version: 'v2' },
      selector: { app: 'bookstore', version: 'v2' },
      serviceAccountName: 'bookstore-v2',
      containers: [
        appContainer('bookstore', 'flomesh/bookstore:latest', 14001, {
          IDENTITY: 'bookstore-v2',
          BOOKWAREHOUSE_NAMESPACE: 'bookwarehouse',
        }),
      ],
    }),
  );

  for (const app of ['bookbuyer', 'bookthief']) {
    store.create(serviceAccount(app, app));
    store.create(
      deployment(app, app, {
        labels: { app, version: 'v1' },
        selector: { app, version: 'v1' },
        serviceAccountName: app,
        containers: [
          appContainer(app, `flomesh/${app}:latest`, undefined, {
            BOOKSTORE_NAMESPACE: 'bookstore',
            BOOKSTORE_SVC: 'bookstore',
          }),
        ],
      }),
    );
  }

  store.create(serviceAccount('bookwarehouse', 'bookwarehouse'));
  store.create(service('bookwarehouse', 'bookwarehouse', { app: 'bookwarehouse' }, [{ port: 14001 }]));
  store.create(
    deployment('bookwarehouse', 'bookwarehouse', {
      labels: { app: 'bookwarehouse', version: 'v1' },
      selector: { app: 'bookwarehouse', version: 'v1' },
      serviceAccountName: 'bookwarehouse',
      containers: [appContainer('bookwarehouse', 'flomesh/bookwarehouse:latest', 14001)],
    }),
  );

  store.create(serviceAccount('mysql', 'mysql'));
  store.create(service('mysql', 'mysql', { app: 'mysql' }, [{ name: 'mysql', port: 3306 }]));
  store.create(
    deployment(
      'mysql',
      'mysql',
      {
        labels: { app: 'mysql' },
        selector: { app: 'mysql' },
        serviceAccountName: 'mysql',
        containers: [
          {
            name: 'mysql',
            image: 'mysql:5.6',
            imagePullPolicy: 'IfNotPresent',
            env: [
              { name: 'MYSQL_ROOT_PASSWORD', value: 'mypassword' },
              { name: 'MYSQL_DATABASE', value: 'booksdemo' },
            ],
            ports: [{ containerPort: 3306, name: 'mysql' }],
          },
        ],
      },
      'StatefulSet',
    ),
  );
}

export interface AppNamespaceOptions {
  deployments?: number;
  replicas?: number;
  /** Also create one Service per Deployment (port 8080 named `http`). Default true. */
  services?: boolean;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/**
 * Creates a namespace with `deployments` Deployments (`app-0`, `app-1`, ...), each with its own
 * ServiceAccount and Service. Synchronous; `await store.idle()` to wait for the pods.
 */
export function seedAppNamespace(
  store: EmulatorStore,
  name: string,
  opts: AppNamespaceOptions = {},
): { namespace: string; deployments: string[] } {
  const count = opts.deployments ?? 1;
  store.create(namespace(name, opts.labels, opts.annotations));
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const app = `app-${i}`;
    names.push(app);
    store.create(serviceAccount(name, app));
    if (opts.services !== false) store.create(service(name, app, { app }, [{ name: 'http', port: 8080 }]));
    store.create(
      deployment(name, app, {
        replicas: opts.replicas ?? 1,
        labels: { app },
        selector: { app },
        serviceAccountName: app,
        containers: [{ name: 'app', image: 'nginx:1.27', ports: [{ containerPort: 8080, name: 'http' }] }],
      }),
    );
  }
  return { namespace: name, deployments: names };
}
