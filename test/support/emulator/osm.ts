// Simulated osm-edge v1.3.9 webhook servers: the sidecar injector (osm-inject.k8s.io, pkg/injector)
// and the policy validator (osm-validator.k8s.io, pkg/validator). They are reached through the
// webhook configurations in the store, so deleting a configuration or the injector pods changes
// behaviour exactly as on a real cluster.

import { randomUUID } from 'node:crypto';
import type { KubeApi } from './api.js';
import { isStatusError } from './errors.js';
import type { ResourceType } from './resources.js';
import type { ObjectStore } from './store.js';
import { asArray, asRecord, isObject, stringMap, type KubeObject } from './types.js';
import type { WebhookBackend, WebhookCall, WebhookResult } from './webhooks.js';
import type { WorkTracker } from './work.js';

export const OSM = {
  monitoredBy: 'openservicemesh.io/monitored-by',
  sidecarInjection: 'openservicemesh.io/sidecar-injection',
  metrics: 'openservicemesh.io/metrics',
  ignore: 'openservicemesh.io/ignore',
  proxyUuid: 'osm-proxy-uuid',
  injectorWebhook: 'osm-inject.k8s.io',
  validatorWebhook: 'osm-validator.k8s.io',
  meshConfigName: 'osm-mesh-config',
  version: 'v1.3.9',
  sidecarUid: 1500,
  bootstrapVolume: 'sidecar-bootstrap-config-volume',
  bootstrapSecretPrefix: 'sidecar-bootstrap-config-',
  outboundPortExclusion: 'openservicemesh.io/outbound-port-exclusion-list',
  inboundPortExclusion: 'openservicemesh.io/inbound-port-exclusion-list',
  outboundIpExclusion: 'openservicemesh.io/outbound-ip-range-exclusion-list',
  outboundIpInclusion: 'openservicemesh.io/outbound-ip-range-inclusion-list',
} as const;

interface NamespaceView {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/**
 * The injector's namespace informer. Changes reach it `lagMs` after they are written, which is the
 * race docs/osm-edge.md#injector-race describes: a pod created right after `namespace add` may be admitted unmeshed.
 */
export class InjectorNamespaceCache {
  private readonly namespaces = new Map<string, NamespaceView>();

  constructor(store: ObjectStore, work: WorkTracker, lagMs: () => number) {
    for (const ns of store.scan('/namespaces')) this.apply(ns, false);
    store.subscribe((event) => {
      if (event.typeKey !== '/namespaces') return;
      const snapshot = event.object;
      const deleted = event.type === 'DELETED';
      const lag = lagMs();
      if (lag <= 0) this.apply(snapshot, deleted);
      else work.schedule(lag, () => this.apply(snapshot, deleted));
    });
  }

  private apply(ns: KubeObject, deleted: boolean): void {
    const name = ns.metadata.name ?? '';
    if (deleted) this.namespaces.delete(name);
    else
      this.namespaces.set(name, {
        labels: stringMap(ns.metadata.labels),
        annotations: stringMap(ns.metadata.annotations),
      });
  }

  /** The informer only lists namespaces labelled for this mesh. */
  monitored(name: string, meshName: string): NamespaceView | undefined {
    const view = this.namespaces.get(name);
    return view && view.labels[OSM.monitoredBy] === meshName ? view : undefined;
  }
}

type Toggle = { exists: false } | { exists: true; enabled: boolean } | { error: string };

function parseInjectionAnnotation(annotations: Record<string, string>): Toggle {
  const value = annotations[OSM.sidecarInjection];
  if (value === undefined) return { exists: false };
  switch (value.toLowerCase()) {
    case 'enabled':
    case 'yes':
    case 'true':
      return { exists: true, enabled: true };
    case 'disabled':
    case 'no':
    case 'false':
      return { exists: true, enabled: false };
    default:
      return { error: `Invalid annotation value for key "${OSM.sidecarInjection}": ${value}` };
  }
}

function metricsEnabled(annotations: Record<string, string>): boolean | { error: string } {
  const raw = annotations[OSM.metrics];
  if (raw === undefined) return false;
  const value = raw.toLowerCase();
  if (value === '') return false;
  if (['enabled', 'yes', 'true'].includes(value)) return true;
  if (['disabled', 'no', 'false'].includes(value)) return false;
  return { error: `Invalid value specified for annotation "${OSM.metrics}": ${value}` };
}

function portList(annotations: Record<string, string>, key: string): number[] | { error: string } {
  const raw = annotations[key];
  if (raw === undefined) return [];
  const ports: number[] = [];
  for (const part of raw.split(',')) {
    const text = part.trim();
    const port = /^[+-]?\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isInteger(port) || port <= 0)
      return { error: `Invalid port value '${text}' specified for annotation '${key}'` };
    ports.push(port);
  }
  return ports;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** net.ParseCIDR for IPv4 (the injector accepts IPv6 too; the emulator only needs IPv4). */
export function isValidCidr(value: string): boolean {
  const m = CIDR.exec(value);
  if (!m) return /^[0-9a-fA-F:]+\/\d{1,3}$/.test(value) && Number(value.split('/')[1]) <= 128;
  return m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
}

function cidrList(annotations: Record<string, string>, key: string): string[] | { error: string } {
  const raw = annotations[key];
  if (raw === undefined) return [];
  const out: string[] = [];
  for (const part of raw.split(',')) {
    const cidr = part.trim();
    if (!isValidCidr(cidr)) return { error: `Invalid IP range '${cidr}' specified for annotation '${key}'` };
    out.push(cidr);
  }
  return out;
}

function uniq<T>(values: T[]): T[] {
  return [...new Set(values)];
}

/** pkg/injector/iptables.go GenerateIptablesCommands. */
export function iptablesInitCommand(opts: {
  localProxyMode: string;
  dnsProxy: boolean;
  outboundIpExclusions: string[];
  outboundIpInclusions: string[];
  outboundPortExclusions: number[];
  inboundPortExclusions: number[];
  interfaceExclusions: string[];
}): string {
  const cmds = [
    '-A OSM_PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-port 15003',
    '-A PREROUTING -p tcp -j OSM_PROXY_INBOUND',
    '-A OSM_PROXY_INBOUND -p tcp --dport 15010 -j RETURN',
    '-A OSM_PROXY_INBOUND -p tcp --dport 15901 -j RETURN',
    '-A OSM_PROXY_INBOUND -p tcp --dport 15902 -j RETURN',
    '-A OSM_PROXY_INBOUND -p tcp --dport 15903 -j RETURN',
    '-A OSM_PROXY_INBOUND -p tcp --dport 15904 -j RETURN',
    '-A OSM_PROXY_INBOUND -p tcp -j OSM_PROXY_IN_REDIRECT',
  ];
  for (const iface of opts.interfaceExclusions) cmds.push(`-I OSM_PROXY_INBOUND -i ${iface} -j RETURN`);
  if (opts.inboundPortExclusions.length > 0)
    cmds.push(
      `-I OSM_PROXY_INBOUND -p tcp --match multiport --dports ${opts.inboundPortExclusions.join(',')} -j RETURN`,
    );
  cmds.push(
    '-A OSM_PROXY_OUT_REDIRECT -p tcp -j REDIRECT --to-port 15001',
    '-A OSM_PROXY_OUT_REDIRECT -p tcp --dport 15000 -j ACCEPT',
    '-A OUTPUT -p tcp -j OSM_PROXY_OUTBOUND',
    '-A OSM_PROXY_OUTBOUND -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1500 -j OSM_PROXY_IN_REDIRECT',
    '-A OSM_PROXY_OUTBOUND -o lo -m owner ! --uid-owner 1500 -j RETURN',
    '-A OSM_PROXY_OUTBOUND -m owner --uid-owner 1500 -j RETURN',
    '-A OSM_PROXY_OUTBOUND -d 127.0.0.1/32 -j RETURN',
  );
  if (opts.dnsProxy) cmds.push('-A OUTPUT -p udp -d 127.0.0.153 --dport 53 -j DNAT --to-destination 127.0.0.153:5300');
  if (opts.localProxyMode === 'PodIP')
    cmds.push('-I OUTPUT -p tcp -o lo -d 127.0.0.1/32 -m owner --uid-owner 1500 -j DNAT --to-destination $POD_IP');
  for (const iface of opts.interfaceExclusions) cmds.push(`-A OSM_PROXY_OUTBOUND -o ${iface} -j RETURN`);
  for (const cidr of opts.outboundIpExclusions) cmds.push(`-A OSM_PROXY_OUTBOUND -d ${cidr} -j RETURN`);
  if (opts.outboundPortExclusions.length > 0)
    cmds.push(
      `-A OSM_PROXY_OUTBOUND -p tcp --match multiport --dports ${opts.outboundPortExclusions.join(',')} -j RETURN`,
    );
  if (opts.outboundIpInclusions.length > 0) {
    for (const cidr of opts.outboundIpInclusions)
      cmds.push(`-A OSM_PROXY_OUTBOUND -d ${cidr} -j OSM_PROXY_OUT_REDIRECT`);
    cmds.push('-A OSM_PROXY_OUTBOUND -j RETURN');
  } else {
    cmds.push('-A OSM_PROXY_OUTBOUND -j OSM_PROXY_OUT_REDIRECT');
  }
  const rules = [
    '# OSM sidecar interception rules',
    '*nat',
    ':OSM_PROXY_INBOUND - [0:0]',
    ':OSM_PROXY_IN_REDIRECT - [0:0]',
    ':OSM_PROXY_OUTBOUND - [0:0]',
    ':OSM_PROXY_OUT_REDIRECT - [0:0]',
    ...cmds,
  ].join('\n');
  return `iptables-restore --noflush <<EOF\n${rules}\nCOMMIT\nEOF\n`;
}

interface MeshSettings {
  meshName: string;
  osmNamespace: string;
}

function meshOf(call: WebhookCall): MeshSettings {
  const selector = asRecord(call.webhook.namespaceSelector);
  const service = asRecord(asRecord(call.webhook.clientConfig).service);
  return {
    meshName: stringMap(selector.matchLabels)[OSM.monitoredBy] ?? 'osm',
    osmNamespace: String(service.namespace ?? 'osm-system'),
  };
}

function driverFor(sidecar: Record<string, unknown>): Record<string, unknown> {
  const cls = String(sidecar.sidecarClass ?? '').toLowerCase();
  return (
    asArray(sidecar.sidecarDrivers)
      .filter(isObject)
      .find((d) => String(d.sidecarName ?? '').toLowerCase() === cls) ?? {}
  );
}

function deny(message: string): WebhookResult {
  return { allowed: false, message };
}

const ALLOW: WebhookResult = { allowed: true };

/** mutatingWebhook.mustInject + createPatch of osm-edge, applied directly to the pod being created. */
export function osmInjectorBackend(api: KubeApi, cache: InjectorNamespaceCache): WebhookBackend {
  const nonInject = new Set(['kube-system', 'kube-public']);
  return (call) => {
    const { req } = call;
    const pod = req.object;
    if (!pod || req.rt.plural !== 'pods') return ALLOW;
    const { meshName, osmNamespace } = meshOf(call);
    const spec = asRecord(pod.spec);
    if (spec.hostNetwork === true) return ALLOW;
    if (nonInject.has(req.namespace) || req.namespace === osmNamespace) return ALLOW;
    const ns = cache.monitored(req.namespace, meshName);
    if (!ns) return ALLOW;

    const podToggle = parseInjectionAnnotation(stringMap(pod.metadata.annotations));
    if ('error' in podToggle) return deny(podToggle.error);
    const nsToggle = parseInjectionAnnotation(ns.annotations);
    if ('error' in nsToggle) return deny(nsToggle.error);
    const inject =
      (podToggle.exists && podToggle.enabled) ||
      (nsToggle.exists && nsToggle.enabled && (!podToggle.exists || podToggle.enabled));
    if (!inject) return ALLOW;

    const meshConfig = api.store.peek('config.openservicemesh.io/meshconfigs', osmNamespace, OSM.meshConfigName);
    const mcSpec = asRecord(meshConfig?.spec);
    const sidecar = asRecord(mcSpec.sidecar);
    const traffic = asRecord(mcSpec.traffic);
    const driver = driverFor(sidecar);
    const sidecarImage = String(sidecar.sidecarImage || driver.sidecarImage || '');
    const initImage = String(sidecar.initContainerImage || driver.initContainerImage || '');
    if (!sidecarImage) return deny('MeshConfig sidecar.sidecarImage not set');
    if (!initImage) return deny('MeshConfig sidecar.initContainerImage not set');

    const metrics = metricsEnabled(ns.annotations);
    if (typeof metrics === 'object') return deny(metrics.error);
    const annotations = { ...stringMap(pod.metadata.annotations) };
    if (metrics) {
      annotations['prometheus.io/scrape'] = 'true';
      annotations['prometheus.io/port'] = '15010';
      annotations['prometheus.io/path'] = '/stats/prometheus';
    }

    const uuid = randomUUID();
    const secretName = `${OSM.bootstrapSecretPrefix}${uuid}`;
    const proxyPort = typeof driver.proxyServerPort === 'number' ? driver.proxyServerPort : 15128;
    const serviceAccount = String(spec.serviceAccountName ?? 'default');
    const cnPrefix = `${uuid}.sidecar.${serviceAccount}.${req.namespace}`;

    const volumes = asArray(spec.volumes).filter(isObject);
    const existing = volumes.find((v) => v.name === OSM.bootstrapVolume);
    if (!req.dryRun) {
      try {
        api.create(
          secretsType(api),
          'v1',
          req.namespace,
          bootstrapSecret(secretName, meshName, osmNamespace, cnPrefix, proxyPort, sidecar),
        );
      } catch (err) {
        return deny(isStatusError(err) ? (err.status.message ?? 'failed to create bootstrap secret') : String(err));
      }
    }
    pod.metadata.labels = { ...stringMap(pod.metadata.labels), [OSM.proxyUuid]: uuid };
    pod.metadata.annotations = annotations;
    if (existing) {
      existing.secret = { secretName };
      return ALLOW;
    }
    spec.volumes = [...volumes, { name: OSM.bootstrapVolume, secret: { secretName } }];

    if (traffic.interceptionMode === 'iptables') {
      const podAnnotations = stringMap(pod.metadata.annotations);
      const outPorts = portList(podAnnotations, OSM.outboundPortExclusion);
      if ('error' in outPorts) return deny(outPorts.error);
      const inPorts = portList(podAnnotations, OSM.inboundPortExclusion);
      if ('error' in inPorts) return deny(inPorts.error);
      const outIps = cidrList(podAnnotations, OSM.outboundIpExclusion);
      if ('error' in outIps) return deny(outIps.error);
      const inIps = cidrList(podAnnotations, OSM.outboundIpInclusion);
      if ('error' in inIps) return deny(inIps.error);
      const numbers = (v: unknown): number[] => asArray(v).filter((n): n is number => typeof n === 'number');
      const strings = (v: unknown): string[] => asArray(v).map(String);
      const privileged = sidecar.enablePrivilegedInitContainer === true;
      spec.initContainers = [
        ...asArray(spec.initContainers),
        {
          name: 'osm-init',
          image: initImage,
          imagePullPolicy: 'IfNotPresent',
          securityContext: { privileged, capabilities: { add: ['NET_ADMIN'] }, runAsNonRoot: false, runAsUser: 0 },
          command: ['/bin/sh'],
          args: [
            '-c',
            iptablesInitCommand({
              localProxyMode: String(sidecar.localProxyMode ?? 'Localhost'),
              dnsProxy: asRecord(sidecar.localDNSProxy).enable === true,
              outboundIpExclusions: uniq([...outIps, ...strings(traffic.outboundIPRangeExclusionList)]),
              outboundIpInclusions: uniq([...inIps, ...strings(traffic.outboundIPRangeInclusionList)]),
              outboundPortExclusions: uniq([...numbers(traffic.outboundPortExclusionList), ...outPorts]),
              inboundPortExclusions: uniq([...numbers(traffic.inboundPortExclusionList), ...inPorts]),
              interfaceExclusions: strings(traffic.networkInterfaceExclusionList),
            }),
          ],
          env: [{ name: 'POD_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } }],
        },
      ];
    }

    const controller = (pod.metadata.ownerReferences ?? []).find((r) => r.controller === true);
    let controllerKind = controller?.kind ?? '';
    let controllerName = controller?.name ?? '';
    if (controllerKind === 'ReplicaSet' && controllerName.includes('-')) {
      controllerKind = 'Deployment';
      controllerName = controllerName.slice(0, controllerName.lastIndexOf('-'));
    }
    spec.containers = [
      ...asArray(spec.containers),
      {
        name: 'sidecar',
        image: sidecarImage,
        imagePullPolicy: 'IfNotPresent',
        securityContext: { allowPrivilegeEscalation: false, runAsUser: OSM.sidecarUid },
        ports: [
          { name: 'proxy-admin', containerPort: 15000 },
          { name: 'proxy-inbound', containerPort: 15003 },
          { name: 'proxy-metrics', containerPort: 15010 },
        ],
        volumeMounts: [{ name: OSM.bootstrapVolume, readOnly: true, mountPath: '/etc/pipy' }],
        resources: {},
        args: [
          'pipy',
          `--log-level=${String(sidecar.logLevel || 'error')}`,
          `--admin-port=${proxyPort}`,
          `http://osm-controller.${osmNamespace}:${proxyPort}/repo/osm-edge-sidecar/${cnPrefix}/`,
        ],
        env: [
          { name: 'MESH_NAME', value: meshName },
          { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'SERVICE_ACCOUNT', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
          { name: 'POD_CONTROLLER_KIND', value: controllerKind },
          { name: 'POD_CONTROLLER_NAME', value: controllerName },
        ],
      },
    ];
    pod.spec = spec;
    return ALLOW;
  };
}

function secretsType(api: KubeApi): ResourceType {
  const rt = api.registry.byGroupResource('', 'secrets');
  if (!rt) throw new Error('secrets are not served');
  return rt;
}

function fakePem(kind: string, seed: string): string {
  const body = Buffer.from(`${kind}:${seed}:emulator`).toString('base64');
  return `-----BEGIN ${kind}-----\n${body}\n-----END ${kind}-----\n`;
}

function bootstrapSecret(
  name: string,
  meshName: string,
  osmNamespace: string,
  cnPrefix: string,
  repoPort: number,
  sidecar: Record<string, unknown>,
): KubeObject {
  const config = {
    NodeID: `${cnPrefix}.cluster.local`,
    RepoHost: `osm-controller.${osmNamespace}.svc.cluster.local`,
    RepoPort: repoPort,
    OriginalHealthProbes: {},
    TLSMinProtocolVersion: sidecar.tlsMinProtocolVersion ?? 'TLSv1_2',
    TLSMaxProtocolVersion: sidecar.tlsMaxProtocolVersion ?? 'TLSv1_3',
    CipherSuites: sidecar.cipherSuites ?? null,
    ECDHCurves: sidecar.ecdhCurves ?? null,
  };
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      labels: {
        'app.kubernetes.io/name': 'openservicemesh.io',
        'app.kubernetes.io/instance': meshName,
        'app.kubernetes.io/version': OSM.version,
      },
    },
    data: {
      'bootstrap.yaml': b64(JSON.stringify(config, null, '')),
      'cacert.pem': b64(fakePem('CERTIFICATE', 'osm-ca')),
      'repo_cert.pem': b64(fakePem('CERTIFICATE', cnPrefix)),
      'repo_key.pem': b64(fakePem('PRIVATE KEY', cnPrefix)),
    },
  };
}

/** pkg/validator: the checks osm-controller's validating webhook performs on policy objects. */
export function osmValidatorBackend(): WebhookBackend {
  return (call) => {
    const obj = call.req.object;
    if (!obj) return ALLOW;
    const spec = asRecord(obj.spec);
    switch (call.req.rt.plural) {
      case 'egresses':
        return validateEgress(spec);
      case 'ingressbackends':
        return validateIngressBackend(spec);
      case 'traffictargets': {
        const destinationNs = String(asRecord(spec.destination).namespace ?? '');
        const ns = obj.metadata.namespace ?? '';
        if (destinationNs !== ns)
          return deny(`The traffic target namespace (${ns}) must match spec.Destination.Namespace (${destinationNs})`);
        return ALLOW;
      }
      default:
        return ALLOW;
    }
  };
}

function validateEgress(spec: Record<string, unknown>): WebhookResult {
  const allowed = ['specs.smi-spec.io/v1alpha4', 'policy.openservicemesh.io/v1alpha1'];
  let upstreamTrafficSettings = 0;
  for (const raw of asArray(spec.matches)) {
    const m = asRecord(raw);
    const group = String(m.apiGroup ?? '');
    const kind = String(m.kind ?? '');
    const name = String(m.name ?? '');
    if (group === allowed[0]) {
      if (kind !== 'HTTPRouteGroup')
        return deny(`Expected 'matches.kind' for match '${name}' to be 'HTTPRouteGroup', got: ${kind}`);
    } else if (group === allowed[1]) {
      if (kind !== 'UpstreamTrafficSetting')
        return deny(`Expected 'matches.kind' for match '${name}' to be 'UpstreamTrafficSetting', got: ${kind}`);
      upstreamTrafficSettings++;
    } else {
      return deny(`Expected 'matches.apiGroup' to be one of [${allowed.join(' ')}], got: ${group}`);
    }
  }
  if (upstreamTrafficSettings > 1) return deny('Cannot have more than 1 UpstreamTrafficSetting match');
  return ALLOW;
}

function validateIngressBackend(spec: Record<string, unknown>): WebhookResult {
  const seen = new Set<string>();
  for (const raw of asArray(spec.backends)) {
    const backend = asRecord(raw);
    const port = asRecord(backend.port);
    const key = `${String(backend.name)}:${String(port.number)}`;
    if (seen.has(key))
      return deny(
        `Duplicate backends detected with service name: ${String(backend.name)} and port: ${String(port.number)}`,
      );
    seen.add(key);
    const protocol = String(port.protocol ?? '').toLowerCase();
    if (!['http', 'https', 'grpc'].includes(protocol))
      return deny(`Expected 'port.protocol' to be 'http', 'https' or 'grpc', got: ${String(port.protocol ?? '')}`);
  }
  for (const raw of asArray(spec.sources)) {
    const source = asRecord(raw);
    switch (source.kind) {
      case 'Service':
        if (!source.name) return deny("'source.name' not specified for source kind Service");
        if (!source.namespace) return deny("'source.namespace' not specified for source kind Service");
        break;
      case 'AuthenticatedPrincipal':
        break;
      case 'IPRange':
        if (!isValidCidr(String(source.name ?? '')))
          return deny(
            `Invalid 'source.name' value specified for IPRange. Expected CIDR notation 'a.b.c.d/x', got ` +
              `'${String(source.name ?? '')}'`,
          );
        break;
      default:
        return deny("Invalid 'source.kind' value specified. Must be one of: Service, AuthenticatedPrincipal, IPRange");
    }
  }
  return ALLOW;
}

/** True when the pod carries what osm-edge's CLI treats as an injected sidecar (docs/osm-edge.md#pod-in-mesh). */
export function isInjected(pod: KubeObject): boolean {
  const uuid = stringMap(pod.metadata.labels)[OSM.proxyUuid];
  const uuidOk = !!uuid && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuid);
  return uuidOk && asArray(asRecord(pod.spec).containers).some((c) => isObject(c) && c.name === 'sidecar');
}
