// The prerequisites rules for one pod spec (a workload's template or a running pod): reserved UID and ports,
// probes on sidecar ports, runAsNonRoot without a UID, the injection annotation, ServiceAccounts, Services.
import { isIP } from 'node:net';
import type { V1Container, V1ObjectMeta, V1PodSpec, V1Probe, V1Service } from '@kubernetes/client-node';
import type { Diagnostic } from './change.js';
import {
  INIT_CONTAINER,
  parseInjectionValue,
  SIDECAR_CONTAINER,
  SIDECAR_INJECTION_ANNOTATION,
  SIDECAR_UID,
} from './osm.js';

/** TCP ports the sidecar listens on or redirects to (docs/osm-edge.md#app-requirements). */
export const SIDECAR_TCP_PORTS: ReadonlyMap<number, string> = new Map([
  [15000, 'Pipy admin'],
  [15001, 'outbound listener'],
  [15003, 'inbound listener'],
  [15010, 'Prometheus listener'],
  [15901, 'rewritten liveness probe'],
  [15902, 'rewritten readiness probe'],
  [15903, 'rewritten startup probe'],
  [15904, 'osm-healthcheck'],
  [6060, 'pipy --admin-port (proxyServerPort)'],
]);
/** UDP port of the sidecar's local DNS proxy (127.0.0.153:5300, when sidecar.localDNSProxy is on). */
export const SIDECAR_UDP_PORTS: ReadonlyMap<number, string> = new Map([[5300, 'local DNS proxy']]);

const HEALTHCHECK_CONTAINER = 'osm-healthcheck';

/**
 * The pod annotations osm-init's rules are built from (osm-edge pkg/injector/exclusions.go, semantics §4): each a
 * comma-separated list, every entry trimmed; ports parsed with Go's strconv.Atoi and > 0, ranges with net.ParseCIDR.
 * An entry that fails (an empty annotation is one empty entry) denies the pod's creation, in iptables mode.
 */
export const PORT_LIST_ANNOTATIONS = [
  'openservicemesh.io/outbound-port-exclusion-list',
  'openservicemesh.io/inbound-port-exclusion-list',
] as const;
export const IP_RANGE_LIST_ANNOTATIONS = [
  'openservicemesh.io/outbound-ip-range-exclusion-list',
  'openservicemesh.io/outbound-ip-range-inclusion-list',
] as const;
const EXCLUSION_ANNOTATIONS: readonly string[] = [...PORT_LIST_ANNOTATIONS, ...IP_RANGE_LIST_ANNOTATIONS];
const INT64_MAX = 2n ** 63n - 1n;

/** Go's strconv.Atoi (optional sign, decimal digits, in int64) and `> 0`. */
function validPort(entry: string): boolean {
  if (!/^[+-]?[0-9]+$/.test(entry)) return false;
  const n = BigInt(entry);
  return n > 0n && n <= INT64_MAX;
}

/** Go's net.ParseCIDR: an IPv4 or IPv6 address (no zone), `/`, decimal bits within its length. */
function validCidr(entry: string): boolean {
  const slash = entry.indexOf('/');
  if (slash < 0) return false;
  const addr = entry.slice(0, slash);
  const bits = entry.slice(slash + 1);
  const family = addr.includes('%') ? 0 : isIP(addr);
  return family !== 0 && /^[0-9]+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/** The first entry of an exclusion annotation that the injector refuses, if any. */
export function invalidExclusionEntry(annotation: string, value: string): string | undefined {
  const valid = (PORT_LIST_ANNOTATIONS as readonly string[]).includes(annotation) ? validPort : validCidr;
  return value
    .split(',')
    .map((e) => e.trim())
    .find((e) => !valid(e));
}

/** Whether a pod spec asks for osm-init's exclusion rules (whose check depends on the interception mode). */
export const hasExclusionAnnotations = (meta: V1ObjectMeta | undefined): boolean =>
  EXCLUSION_ANNOTATIONS.some((a) => meta?.annotations?.[a] !== undefined);

/** A diagnostic with a key that says "the same problem", whatever object it was found on. */
export interface Finding extends Diagnostic {
  key: string;
}

/** One pod spec to analyze: a workload's template or a running pod. */
export interface PodSource {
  object: string;
  meta: V1ObjectMeta;
  spec: V1PodSpec;
  /** A running pod the injector already mutated: its additions are not the application's. */
  injected: boolean;
}

export interface Inventory {
  services: V1Service[];
  serviceAccounts: Set<string>;
  /** The mesh's sidecar settings that decide some rules (MeshSidecarSettings). */
  sidecar: MeshSidecarSettings;
}

/**
 * What of the mesh's MeshConfig some requirements depend on: `spec.traffic.interceptionMode` (osm-init, with
 * NET_ADMIN and runAsUser 0, is added only in `iptables` mode: semantics §7) and `spec.sidecar.localDNSProxy.enable`
 * (the sidecar's DNS proxy on 127.0.0.153:5300/UDP only when on).
 */
export interface MeshSidecarSettings {
  interceptionMode: string;
  localDnsProxy: boolean;
}

/** When the MeshConfig could not be read: the stricter reading of each rule. */
export const UNKNOWN_SIDECAR_SETTINGS: MeshSidecarSettings = { interceptionMode: 'iptables', localDnsProxy: true };

/** The settings a MeshConfig gives (osm-edge's defaults where a field is absent: iptables, no DNS proxy). */
export function sidecarSettingsOf(meshConfig: { spec?: unknown }): MeshSidecarSettings {
  const spec = (meshConfig.spec ?? {}) as {
    traffic?: { interceptionMode?: unknown };
    sidecar?: { localDNSProxy?: { enable?: unknown } };
  };
  const mode = spec.traffic?.interceptionMode;
  return {
    interceptionMode: typeof mode === 'string' && mode ? mode : 'iptables',
    localDnsProxy: spec.sidecar?.localDNSProxy?.enable === true,
  };
}

/** Whether any container of these pod specs declares a port whose rule reads localDNSProxy. */
export function declaresDnsProxyPort(specs: (V1PodSpec | undefined)[]): boolean {
  return specs.some((spec) =>
    [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].some((c) =>
      (c.ports ?? []).some((p) => p.protocol === 'UDP' && SIDECAR_UDP_PORTS.has(p.containerPort)),
    ),
  );
}

export function serviceAccountOf(spec: V1PodSpec): string {
  return spec.serviceAccountName || spec.serviceAccount || 'default';
}

/** The application's containers: for an injected pod, without what the injector added. */
function appContainers(src: PodSource): { containers: V1Container[]; initContainers: V1Container[] } {
  const containers = src.spec.containers ?? [];
  const initContainers = src.spec.initContainers ?? [];
  if (!src.injected) return { containers, initContainers };
  return {
    containers: containers.filter((c) => c.name !== SIDECAR_CONTAINER && c.name !== HEALTHCHECK_CONTAINER),
    initContainers: initContainers.filter((c) => c.name !== INIT_CONTAINER),
  };
}

export function podFindings(src: PodSource, inv: Inventory): Finding[] {
  const out: Finding[] = [];
  const add = (key: string, d: Omit<Diagnostic, 'object'>) =>
    out.push({ ...d, object: src.object, key: `${d.code}|${key}` });
  const { containers, initContainers } = appContainers(src);
  const all = [...initContainers, ...containers];
  const podSc = src.spec.securityContext ?? {};

  // The webhook skips a hostNetwork pod before anything else (mustInject, semantics §8), then parses the pod
  // annotation; an invalid value denies pod creation.
  const injection = src.meta.annotations?.[SIDECAR_INJECTION_ANNOTATION];
  if (!src.spec.hostNetwork && parseInjectionValue(injection) === 'invalid') {
    add(String(injection), {
      code: 'OSM_INVALID_INJECTION_ANNOTATION',
      level: 'error',
      message:
        `annotation ${SIDECAR_INJECTION_ANNOTATION}: "${injection}" is not a valid value; the injector ` +
        `webhook (failurePolicy Fail) denies creating these pods`,
      hint: 'use enabled, yes, true, disabled, no or false (case-insensitive), or remove the annotation',
    });
  }

  // osm-init's exclusion annotations, checked when the injector adds osm-init: iptables mode, a pod not for Windows.
  const windows = src.spec.nodeSelector?.['kubernetes.io/os']?.toLowerCase() === 'windows';
  if (!src.spec.hostNetwork && !windows && inv.sidecar.interceptionMode === 'iptables') {
    for (const annotation of EXCLUSION_ANNOTATIONS) {
      const value = src.meta.annotations?.[annotation];
      const bad = value === undefined ? undefined : invalidExclusionEntry(annotation, value);
      if (bad === undefined) continue;
      const what = (PORT_LIST_ANNOTATIONS as readonly string[]).includes(annotation)
        ? 'a port (an integer above 0)'
        : 'an IP range in CIDR form (10.0.0.0/8)';
      add(`${annotation}=${value}`, {
        code: 'OSM_INVALID_EXCLUSION_ANNOTATION',
        level: 'error',
        message:
          `annotation ${annotation}: "${bad}" is not ${what}; the injector webhook (failurePolicy Fail) denies ` +
          'creating these pods',
        hint: `make it a comma-separated list of ${what.replace(/^an? /, '')}s, or remove the annotation`,
      });
    }
  }

  if (src.spec.hostNetwork) {
    add('', {
      code: 'OSM_HOST_NETWORK',
      level: 'warning',
      message: 'hostNetwork pods are never injected with a sidecar, so they stay outside the mesh',
      hint: 'run it without hostNetwork if it should be in the mesh, or label it out of scope knowingly',
    });
  }

  // UID 1500: the iptables rules let the sidecar's own traffic (UID 1500) bypass the proxy.
  for (const c of all) {
    const own = c.securityContext?.runAsUser;
    const uid = own ?? podSc.runAsUser;
    if (uid === SIDECAR_UID) {
      add(c.name, {
        code: 'OSM_RESERVED_UID',
        level: 'error',
        message:
          `container "${c.name}" runs as UID ` +
          `${SIDECAR_UID}${own === undefined || own === null ? ' (from the pod securityContext)' : ''}, which is ` +
          `reserved for the Pipy sidecar: its traffic would bypass the proxy`,
        hint:
          `run it as another UID ` +
          `(${own === undefined || own === null ? 'spec' : `containers[${c.name}]`}.securityContext.runAsUser)`,
      });
    }
  }

  // The docs' rule: runAsNonRoot at pod level needs runAsUser on the pod or on every container.
  if (podSc.runAsNonRoot === true && (podSc.runAsUser === undefined || podSc.runAsUser === null)) {
    const missing = all
      .filter((c) => (c.securityContext?.runAsUser ?? null) === null && c.securityContext?.runAsNonRoot !== false)
      .map((c) => c.name);
    if (missing.length) {
      add(missing.join(','), {
        code: 'OSM_RUN_AS_NON_ROOT_WITHOUT_UID',
        level: 'error',
        message:
          `the pod sets runAsNonRoot: true but no runAsUser, and container(s) ` +
          `${missing.map((c) => `"${c}"`).join(', ')} set none either`,
        hint: 'set spec.securityContext.runAsUser (not 1500), or runAsUser on every container',
      });
    }
  }

  // Ports the sidecar owns in the pod's network namespace.
  for (const c of all) {
    for (const p of c.ports ?? []) {
      const proto = p.protocol ?? 'TCP';
      const use =
        proto === 'TCP'
          ? SIDECAR_TCP_PORTS.get(p.containerPort)
          : proto === 'UDP' && inv.sidecar.localDnsProxy
            ? SIDECAR_UDP_PORTS.get(p.containerPort)
            : undefined;
      if (!use) continue;
      add(`${c.name}|${p.containerPort}/${proto}`, {
        code: 'OSM_RESERVED_PORT',
        level: 'error',
        message:
          `container "${c.name}" uses port ${p.containerPort}/${proto}${p.name ? ` ("${p.name}")` : ''}, ` +
          `which the sidecar uses (${use})`,
        hint: 'move the application to another port',
      });
    }
  }

  // Probe ports (an injected pod's probes are already rewritten to 15901-15904: not the app's).
  if (!src.injected) {
    for (const c of all) {
      const probes: [string, V1Probe | undefined][] = [
        ['liveness', c.livenessProbe],
        ['readiness', c.readinessProbe],
        ['startup', c.startupProbe],
      ];
      for (const [kind, probe] of probes) {
        if (!probe) continue;
        const raw = probe.httpGet?.port ?? probe.tcpSocket?.port ?? probe.grpc?.port;
        const port = resolvePort(c, raw);
        const use = port === undefined ? undefined : SIDECAR_TCP_PORTS.get(port);
        if (!use) continue;
        add(`${c.name}|${kind}|${port}`, {
          code: 'OSM_RESERVED_PROBE_PORT',
          level: 'error',
          message:
            `the ${kind} probe of container "${c.name}" targets port ` +
            `${port}${typeof raw === 'string' ? ` (named "${raw}")` : ''}, which the sidecar uses (${use})`,
          hint: 'probe the application on its own port',
        });
      }
    }
  }

  const sa = serviceAccountOf(src.spec);
  if (sa === 'default') {
    add('', {
      code: 'OSM_DEFAULT_SERVICE_ACCOUNT',
      level: 'warning',
      message:
        'it runs as the "default" ServiceAccount; osm-edge identities are ServiceAccounts, so it shares its ' +
        'identity with everything else that does',
      hint: 'create a ServiceAccount for the application and set spec.serviceAccountName',
    });
  } else if (!inv.serviceAccounts.has(sa)) {
    add(sa, {
      code: 'OSM_SERVICE_ACCOUNT_NOT_FOUND',
      level: 'warning',
      message: `ServiceAccount "${sa}" does not exist in the namespace; pods cannot be created until it does`,
      hint: `create ServiceAccount ${sa}`,
    });
  }

  const labels = src.meta.labels ?? {};
  const selected = inv.services.some((s) => {
    const selector = s.spec?.selector;
    return (
      !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v)
    );
  });
  if (!selected) {
    const listens = containers.some((c) => (c.ports ?? []).some((p) => (p.protocol ?? 'TCP') === 'TCP'));
    add('', {
      code: 'OSM_NO_SERVICE',
      level: listens ? 'warning' : 'info',
      message: listens
        ? 'no Service selects its pods, but its containers declare ports: osm-edge builds in-mesh routes from ' +
          'Services, so nothing in the mesh can reach it'
        : 'no Service selects its pods; fine for a pure client, but it cannot receive in-mesh traffic',
      hint: 'add a Service whose selector matches the pod labels if it should receive traffic',
    });
  }
  return out;
}

/** A probe port as a number: numeric, or a name resolved against the container's ports. */
function resolvePort(c: V1Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  if (typeof port !== 'string') return undefined;
  if (/^\d+$/.test(port)) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}
