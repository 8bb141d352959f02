// osm-edge's application requirements as pure rules over one namespace's objects (read by the prerequisites
// step): what would keep its pods from joining the mesh, or make them behave differently once they do.
import type {
  V1DaemonSet,
  V1Deployment,
  V1Namespace,
  V1Pod,
  V1Service,
  V1ServiceAccount,
  V1StatefulSet,
} from '@kubernetes/client-node';
import type { Diagnostic } from './change.js';
import {
  declaresDnsProxyPort,
  hasExclusionAnnotations,
  podFindings,
  serviceAccountOf,
  UNKNOWN_SIDECAR_SETTINGS,
  type Inventory,
  type MeshSidecarSettings,
  type PodSource,
} from './pod-requirements.js';
import { PROTOCOL_CODES, serviceProtocolDiagnostics } from './protocol-diagnostics.js';
import { isInjectedPod, METRICS_ANNOTATION, parseMetricsValue } from './osm.js';

/*
 * Guide step 1, "application requirements" (docs/osm-edge.md#app-requirements, #injector, #app-protocol):
 * a read-only analysis of the namespace, in the spirit of `istioctl analyze`. Nothing is written.
 *
 * - OSM_RESERVED_UID (error; workload / Pod): a container runs as UID 1500 (pod or container securityContext), the
 *   sidecar's UID: its traffic would bypass the proxy
 * - OSM_RESERVED_PORT (error; workload / Pod): a container port is a sidecar port: TCP 15000 15001 15003 15010 15901
 *   15902 15903 15904 6060, or UDP 5300 (local DNS proxy)
 * - OSM_RESERVED_PROBE_PORT (error; workload / Pod): a liveness/readiness/startup probe (httpGet, tcpSocket, grpc;
 *   numeric or named port) targets a sidecar port
 * - OSM_RUN_AS_NON_ROOT_WITHOUT_UID (error; workload / Pod): pod `runAsNonRoot: true` without `runAsUser` on the pod
 *   or on every container (the docs' rule)
 * - OSM_INVALID_INJECTION_ANNOTATION (error; workload / Pod): pod annotation openservicemesh.io/sidecar-injection is
 *   not enabled, yes, true, disabled, no or false: the webhook denies pod creation
 * - OSM_INVALID_EXCLUSION_ANNOTATION (error; workload / Pod): a pod annotation of osm-init's exclusion or inclusion
 *   lists (outbound/inbound port exclusion, outbound IP range exclusion/inclusion) holds an entry that is no port or
 *   CIDR: the webhook denies pod creation (iptables interception only; not for hostNetwork or Windows pods)
 * - OSM_INVALID_METRICS_ANNOTATION (error; Namespace): the namespace's openservicemesh.io/metrics is not enabled,
 *   yes, true, disabled, no, false or empty: the webhook denies creating every injected pod (not raised when the
 *   request enables metrics: its metrics step writes `enabled`)
 * - OSM_POD_SECURITY_ENFORCED (error; Namespace): pod-security.kubernetes.io/enforce is baseline or restricted:
 *   osm-init (NET_ADMIN, runAsUser 0) is rejected, so injected pods are not created
 * - OSM_POD_SECURITY_WARN (warning; Namespace): the same levels in pod-security.kubernetes.io/warn or /audit
 * - OSM_HOST_NETWORK (warning; workload / Pod): hostNetwork pods are never injected
 * - OSM_DEFAULT_SERVICE_ACCOUNT (warning; workload / Pod): runs as the `default` ServiceAccount (or names none): its
 *   mesh identity is shared with everything else that does
 * - OSM_SERVICE_ACCOUNT_NOT_FOUND (warning; workload / Pod): the ServiceAccount it names does not exist in the
 *   namespace
 * - OSM_PROTOCOL_GUESS (warning; Service/name:port): osm-edge would likely pick the wrong protocol (see
 *   mesh/protocol-diagnostics.ts)
 * - OSM_APP_PROTOCOL_UNSUPPORTED (warning; Service/name:port): appProtocol osm-edge does not understand or mis-cased
 * - OSM_NO_SERVICE (info/warning; workload / Pod): no Service selects its pods (see below for the level)
 * - OSM_SHARED_SERVICE_ACCOUNT (info; ServiceAccount/name): several workloads share one (non-default)
 *   ServiceAccount, i.e. one identity: SMI policies cannot tell them apart
 * - OSM_ALREADY_INJECTED (info; workload / Pod): running pods that already have a sidecar
 *
 * OSM_APP_PROTOCOL_CASE (info: `TCP`, `HTTP`, which Pipy lower-cases) and the other Service port codes are
 * described in mesh/protocol-diagnostics.ts.
 *
 * A "workload" object is `Deployment/<name>`, `StatefulSet/<name>` or `DaemonSet/<name>` and
 * describes its pod template. Running pods are reported only where they differ from their
 * workload's template (older revisions, bare pods, pods of Jobs or of ownerless ReplicaSets);
 * for injected pods the parts the injector added (sidecar, osm-init, osm-healthcheck, rewritten
 * probes) are ignored.
 *
 * OSM_NO_SERVICE is info for a workload that declares no container ports (a pure client, like
 * bookbuyer and bookthief in the bookstore sample: valid mesh members, they only call out) and
 * a warning when it declares ports (it listens, but osm-edge builds in-mesh routes from Services,
 * so nothing in the mesh can reach it).
 *
 * Whether errors block is the step's decision (onboarding/steps/prerequisites.step.ts).
 */
export const PREREQUISITE_CODES = {
  OSM_RESERVED_UID: 'error',
  OSM_RESERVED_PORT: 'error',
  OSM_RESERVED_PROBE_PORT: 'error',
  OSM_RUN_AS_NON_ROOT_WITHOUT_UID: 'error',
  OSM_INVALID_INJECTION_ANNOTATION: 'error',
  OSM_INVALID_EXCLUSION_ANNOTATION: 'error',
  OSM_INVALID_METRICS_ANNOTATION: 'error',
  OSM_POD_SECURITY_ENFORCED: 'error',
  OSM_POD_SECURITY_WARN: 'warning',
  OSM_HOST_NETWORK: 'warning',
  OSM_DEFAULT_SERVICE_ACCOUNT: 'warning',
  OSM_SERVICE_ACCOUNT_NOT_FOUND: 'warning',
  ...PROTOCOL_CODES,
  OSM_NO_SERVICE: 'info',
  OSM_SHARED_SERVICE_ACCOUNT: 'info',
  OSM_ALREADY_INJECTED: 'info',
} as const;

export type PrerequisiteCode = keyof typeof PREREQUISITE_CODES;

const POD_SECURITY = 'pod-security.kubernetes.io';
const RESTRICTIVE_LEVELS = new Set(['baseline', 'restricted']);

type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';
type Level = Diagnostic['level'];

const LEVEL_ORDER: Record<Level, number> = { error: 0, warning: 1, info: 2 };

/** "OSM_RESERVED_UID (Deployment/a, Pod/b); OSM_RESERVED_PORT (Deployment/c)", at most 5 objects per code. */
export function describeDiagnostics(diagnostics: Diagnostic[]): string {
  const byCode = new Map<string, string[]>();
  for (const d of diagnostics) {
    const objects = byCode.get(d.code) ?? [];
    if (d.object && !objects.includes(d.object)) objects.push(d.object);
    byCode.set(d.code, objects);
  }
  return [...byCode]
    .map(([code, objects]) => {
      const shown = objects.slice(0, 5).join(', ');
      const more = objects.length > 5 ? ` and ${objects.length - 5} more` : '';
      return objects.length ? `${code} (${shown}${more})` : code;
    })
    .join('; ');
}

export interface NamespaceInventory {
  namespace: V1Namespace;
  deployments: V1Deployment[];
  statefulSets: V1StatefulSet[];
  daemonSets: V1DaemonSet[];
  pods: V1Pod[];
  services: V1Service[];
  serviceAccounts: V1ServiceAccount[];
  /** The mesh's sidecar settings (UNKNOWN_SIDECAR_SETTINGS, the stricter reading, when not given). */
  sidecar?: MeshSidecarSettings;
  /** The request enables metrics (its metrics step writes the namespace's annotation). */
  metrics?: boolean;
}

/**
 * Whether the analysis of `inv` depends on the mesh's sidecar settings (so the MeshConfig is worth a read): a Pod
 * Security level of `baseline` (a problem only with osm-init, in `iptables` interception) or `restricted` (why it is
 * one), an exclusion annotation (checked only when osm-init is added), or a container port the local DNS proxy
 * would take.
 */
export function readsSidecarSettings(inv: Omit<NamespaceInventory, 'sidecar'>): boolean {
  const labels = inv.namespace.metadata?.labels ?? {};
  if (['enforce', 'warn', 'audit'].some((mode) => RESTRICTIVE_LEVELS.has(labels[`${POD_SECURITY}/${mode}`] ?? '')))
    return true;
  const templates = [...inv.deployments, ...inv.statefulSets, ...inv.daemonSets].map((w) => w.spec?.template);
  if ([...templates.map((t) => t?.metadata), ...inv.pods.map((p) => p.metadata)].some(hasExclusionAnnotations)) {
    return true;
  }
  return declaresDnsProxyPort([
    ...[...inv.deployments, ...inv.statefulSets, ...inv.daemonSets].map((w) => w.spec?.template?.spec),
    ...inv.pods.map((p) => p.spec),
  ]);
}

/** Every diagnostic for the namespace, sorted errors → warnings → info, then by code and object. */
export function analyze(inv: NamespaceInventory): Diagnostic[] {
  const sidecar = inv.sidecar ?? UNKNOWN_SIDECAR_SETTINGS;
  const ctx: Inventory = {
    services: inv.services,
    serviceAccounts: new Set(inv.serviceAccounts.map((sa) => sa.metadata?.name ?? '')),
    sidecar,
  };
  const out: Diagnostic[] = [...namespaceDiagnostics(inv.namespace, sidecar, inv.metrics === true)];

  // Workload templates: each problem once per workload.
  const workloads = new Map<string, { object: string; keys: Set<string>; serviceAccount: string }>();
  const addWorkload = (kind: WorkloadKind, obj: V1Deployment | V1StatefulSet | V1DaemonSet) => {
    const name = obj.metadata?.name ?? '';
    const template = obj.spec?.template;
    const src: PodSource = {
      object: `${kind}/${name}`,
      meta: template?.metadata ?? {},
      spec: template?.spec ?? { containers: [] },
      injected: false,
    };
    const findings = podFindings(src, ctx);
    out.push(...findings);
    workloads.set(`${kind}/${name}`, {
      object: src.object,
      keys: new Set(findings.map((f) => f.key)),
      serviceAccount: serviceAccountOf(src.spec),
    });
  };
  inv.deployments.forEach((d) => addWorkload('Deployment', d));
  inv.statefulSets.forEach((s) => addWorkload('StatefulSet', s));
  inv.daemonSets.forEach((d) => addWorkload('DaemonSet', d));

  // Running pods: only what differs from the owner's template; bare pods in full.
  const injectedByOwner = new Map<string, { injected: string[]; total: number }>();
  const identities = new Map<string, Set<string>>(); // ServiceAccount → workloads / bare pods
  for (const w of workloads.values()) addTo(identities, w.serviceAccount, w.object);
  for (const pod of inv.pods) {
    const name = pod.metadata?.name ?? '';
    const owner = ownerWorkload(pod, workloads);
    const src: PodSource = {
      object: `Pod/${name}`,
      meta: pod.metadata ?? {},
      spec: pod.spec ?? { containers: [] },
      injected: isInjectedPod(pod),
    };
    const findings = podFindings(src, ctx);
    const templateKeys = owner ? workloads.get(owner)!.keys : new Set<string>();
    out.push(...findings.filter((f) => !templateKeys.has(f.key)));
    // Pods of controllers we do not list (Jobs, bare ReplicaSets) count once per controller.
    const controller = pod.metadata?.ownerReferences?.find((r) => r.controller);
    const group = owner ?? (controller ? `${controller.kind}/${controller.name}` : src.object);
    if (!owner) addTo(identities, serviceAccountOf(src.spec), group);
    const entry = injectedByOwner.get(group) ?? { injected: [], total: 0 };
    entry.total += 1;
    if (src.injected) entry.injected.push(name);
    injectedByOwner.set(group, entry);
  }
  for (const [object, { injected, total }] of injectedByOwner) {
    if (!injected.length) continue;
    out.push({
      code: 'OSM_ALREADY_INJECTED',
      level: 'info',
      object,
      message: object.startsWith('Pod/')
        ? `${object} already has a sidecar`
        : `${injected.length} of ${total} running pod(s) of ${object} already have a sidecar ` +
          `(${injected.slice(0, 5).join(', ')}${injected.length > 5 ? ', …' : ''})`,
      hint: 'they were injected earlier; a restart re-injects them with the current mesh settings',
    });
  }
  for (const [sa, users] of identities) {
    if (sa === 'default' || users.size < 2) continue;
    const list = [...users].sort();
    out.push({
      code: 'OSM_SHARED_SERVICE_ACCOUNT',
      level: 'info',
      object: `ServiceAccount/${sa}`,
      message:
        `ServiceAccount ${sa} is the mesh identity of ${list.length} workloads (${list.join(', ')}); SMI ` +
        `access policies cannot tell them apart`,
      hint: 'give each application its own ServiceAccount if their access should differ',
    });
  }

  out.push(...serviceProtocolDiagnostics(inv.services));

  return out
    .map(({ code, level, message, object, hint }) => ({
      code,
      level,
      message,
      ...(object ? { object } : {}),
      ...(hint ? { hint } : {}),
    }))
    .sort(
      (a, b) =>
        LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level] ||
        a.code.localeCompare(b.code) ||
        (a.object ?? '').localeCompare(b.object ?? ''),
    );
}

function addTo(map: Map<string, Set<string>>, key: string, value: string) {
  const set = map.get(key) ?? new Set<string>();
  set.add(value);
  map.set(key, set);
}

function namespaceDiagnostics(ns: V1Namespace, sidecar: MeshSidecarSettings, metrics: boolean): Diagnostic[] {
  const labels = ns.metadata?.labels ?? {};
  const object = `Namespace/${ns.metadata?.name ?? ''}`;
  const out: Diagnostic[] = [];
  // The injector reads the namespace's metrics annotation for every pod it injects (semantics §11).
  const metricsValue = ns.metadata?.annotations?.[METRICS_ANNOTATION];
  if (!metrics && parseMetricsValue(metricsValue) === 'invalid') {
    out.push({
      code: 'OSM_INVALID_METRICS_ANNOTATION',
      level: 'error',
      object,
      message:
        `annotation ${METRICS_ANNOTATION}: "${metricsValue}" is not a valid value; the injector webhook ` +
        '(failurePolicy Fail) denies creating every injected pod in this namespace',
      hint: 'use enabled, yes, true, disabled, no or false (case-insensitive), or ask for metrics: true',
    });
  }
  // osm-init (NET_ADMIN, runAsUser 0) exists only in iptables interception (semantics §7); the sidecar container
  // itself (runAsUser 1500, no privilege escalation, capabilities not dropped) passes baseline but not restricted.
  const osmInit = sidecar.interceptionMode === 'iptables';
  const why = (level: string): string | undefined => {
    if (level === 'baseline') return osmInit ? 'the baseline level forbids the NET_ADMIN capability' : undefined;
    return osmInit
      ? 'the restricted level forbids the NET_ADMIN capability and running as root (runAsUser 0)'
      : 'the restricted level requires every container to drop ALL capabilities, which the injected sidecar ' +
          'container does not';
  };
  const injects = (level: string) =>
    osmInit && level === 'restricted'
      ? "osm-edge's init container osm-init needs NET_ADMIN and runAsUser 0"
      : osmInit
        ? "osm-edge's init container osm-init needs NET_ADMIN"
        : "osm-edge's sidecar container drops no capabilities";
  const fix = (mode: string, level: string) =>
    osmInit && level === 'baseline'
      ? `use traffic.interceptionMode ebpf in the MeshConfig (no osm-init), or relax ${POD_SECURITY}/${mode} to ` +
        'privileged'
      : `relax ${POD_SECURITY}/${mode} to ${osmInit ? 'privileged' : 'baseline'}`;
  const enforce = labels[`${POD_SECURITY}/enforce`];
  const enforced = enforce && RESTRICTIVE_LEVELS.has(enforce) ? why(enforce) : undefined;
  if (enforce && enforced) {
    out.push({
      code: 'OSM_POD_SECURITY_ENFORCED',
      level: 'error',
      object,
      message:
        `Pod Security admission enforces "${enforce}" in this namespace (interception mode ` +
        `${sidecar.interceptionMode}); ${injects(enforce)} and ${enforced}, so injected pods would be rejected`,
      hint: fix('enforce', enforce),
    });
  }
  for (const mode of ['warn', 'audit']) {
    const level = labels[`${POD_SECURITY}/${mode}`];
    const reason = level && RESTRICTIVE_LEVELS.has(level) ? why(level) : undefined;
    if (level && reason) {
      out.push({
        code: 'OSM_POD_SECURITY_WARN',
        level: 'warning',
        object,
        message:
          `Pod Security admission ${mode === 'warn' ? 'warns' : 'audits'} at level "${level}"; injected pods ` +
          `(${injects(level)}) will ${mode === 'warn' ? 'produce warnings' : 'be logged as violations'}: ${reason}`,
        hint: fix(mode, level),
      });
    }
  }
  return out;
}

/** The workload ("Kind/name") that controls a pod, if it is one we listed. */
function ownerWorkload(pod: V1Pod, workloads: Map<string, unknown>): string | undefined {
  const refs = pod.metadata?.ownerReferences ?? [];
  const ref = refs.find((r) => r.controller) ?? refs[0];
  if (!ref) return undefined;
  if (ref.kind === 'ReplicaSet') {
    // The deployment controller names ReplicaSets <deployment>-<pod-template-hash>.
    const hash = pod.metadata?.labels?.['pod-template-hash'];
    const deployment =
      hash && ref.name.endsWith(`-${hash}`)
        ? ref.name.slice(0, -hash.length - 1)
        : ref.name.slice(0, Math.max(0, ref.name.lastIndexOf('-')));
    return workloads.has(`Deployment/${deployment}`) ? `Deployment/${deployment}` : undefined;
  }
  if (ref.kind === 'StatefulSet' || ref.kind === 'DaemonSet') {
    return workloads.has(`${ref.kind}/${ref.name}`) ? `${ref.kind}/${ref.name}` : undefined;
  }
  return undefined;
}
