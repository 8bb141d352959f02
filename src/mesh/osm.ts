// osm-edge v1.3.9 facts (see docs/osm-edge.md). Nothing else in the code
// spells these keys, so a newcomer finds every osm-edge convention here.
export const MONITORED_BY_LABEL = 'openservicemesh.io/monitored-by';
export const IGNORE_LABEL = 'openservicemesh.io/ignore';
export const SIDECAR_INJECTION_ANNOTATION = 'openservicemesh.io/sidecar-injection';
export const METRICS_ANNOTATION = 'openservicemesh.io/metrics';
export const PROXY_UUID_LABEL = 'osm-proxy-uuid';
export const SIDECAR_CONTAINER = 'sidecar';
export const INIT_CONTAINER = 'osm-init';
export const SIDECAR_UID = 1500;
export const MESH_CONFIG_NAME = 'osm-mesh-config';
export const MESH_NAME_LABEL = 'meshName';
export const CONTROLLER_APP_LABEL = 'app';
export const CONTROLLER_APP = 'osm-controller';
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';
/** A namespace carrying this label (any value) is skipped by the injector webhook (pkg/injector/webhook.go). */
export const CONTROL_PLANE_LABEL = 'control-plane';

/** Never injected by osm-edge and refused by this service. */
export const RESERVED_NAMESPACES = ['kube-system', 'kube-public'] as const;

export const CRD = {
  meshConfig: { group: 'config.openservicemesh.io', version: 'v1alpha2', plural: 'meshconfigs', kind: 'MeshConfig' },
  egress: { group: 'policy.openservicemesh.io', version: 'v1alpha1', plural: 'egresses', kind: 'Egress' },
  trafficTarget: { group: 'access.smi-spec.io', version: 'v1alpha3', plural: 'traffictargets', kind: 'TrafficTarget' },
  httpRouteGroup: {
    group: 'specs.smi-spec.io',
    version: 'v1alpha4',
    plural: 'httproutegroups',
    kind: 'HTTPRouteGroup',
  },
  tcpRoute: { group: 'specs.smi-spec.io', version: 'v1alpha4', plural: 'tcproutes', kind: 'TCPRoute' },
  trafficSplit: { group: 'split.smi-spec.io', version: 'v1alpha4', plural: 'trafficsplits', kind: 'TrafficSplit' },
} as const;

/** osm-edge's reading of `openservicemesh.io/sidecar-injection` (case-insensitive). */
export function parseInjectionValue(value: string | undefined): 'enabled' | 'disabled' | 'invalid' | 'unset' {
  if (value === undefined) return 'unset';
  const v = value.toLowerCase();
  if (v === 'enabled' || v === 'yes' || v === 'true') return 'enabled';
  if (v === 'disabled' || v === 'no' || v === 'false') return 'disabled';
  return 'invalid';
}

/**
 * How the injector reads a namespace's `openservicemesh.io/metrics` (osm-edge pkg/injector/metrics.go
 * IsMetricsEnabled, semantics §11): case-insensitive; empty is off; any other value fails the creation of every
 * injected pod in the namespace.
 */
export function parseMetricsValue(value: string | undefined): 'enabled' | 'disabled' | 'invalid' | 'unset' {
  if (value === undefined) return 'unset';
  const v = value.toLowerCase();
  if (v === 'enabled' || v === 'yes' || v === 'true') return 'enabled';
  if (v === '' || v === 'disabled' || v === 'no' || v === 'false') return 'disabled';
  return 'invalid';
}

/** Same rule as `ProxyLabelExists` + the CLI's verifier: a UUID label and a `sidecar` container. */
export function isInjectedPod(pod: {
  metadata?: { labels?: Record<string, string> };
  spec?: { containers?: { name: string }[] };
}): boolean {
  const uuid = pod.metadata?.labels?.[PROXY_UUID_LABEL];
  const uuidOk = !!uuid && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuid);
  return uuidOk && (pod.spec?.containers ?? []).some((c) => c.name === SIDECAR_CONTAINER);
}

export const PROMETHEUS_ANNOTATIONS = {
  'prometheus.io/scrape': 'true',
  'prometheus.io/port': '15010',
  'prometheus.io/path': '/stats/prometheus',
} as const;

/**
 * Whether osm-edge's injector would give a pod created from this template a sidecar, in a
 * namespace monitored by the mesh (`namespaceInjection` = its annotation) or not (null).
 * The pod annotation wins over the namespace's (docs/osm-edge.md#injector, `mustInject`).
 */
export function expectsSidecar(
  template: { metadata?: { annotations?: Record<string, string> }; spec?: { hostNetwork?: boolean } },
  namespaceInjection: 'enabled' | 'disabled' | null,
): boolean {
  if (template.spec?.hostNetwork) return false;
  if (namespaceInjection === null) return false;
  const pod = parseInjectionValue(template.metadata?.annotations?.[SIDECAR_INJECTION_ANNOTATION]);
  if (pod === 'enabled') return true;
  if (pod === 'disabled') return false;
  return namespaceInjection === 'enabled';
}
