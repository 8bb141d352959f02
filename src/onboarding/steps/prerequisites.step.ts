import type {
  V1Container,
  V1DaemonSet,
  V1Deployment,
  V1Namespace,
  V1ObjectMeta,
  V1Pod,
  V1PodSpec,
  V1Probe,
  V1Service,
  V1ServiceAccount,
  V1StatefulSet,
} from '@kubernetes/client-node';
import { DomainError } from '../../common/domain-error.js';
import {
  INIT_CONTAINER,
  isInjectedPod,
  parseInjectionValue,
  SIDECAR_CONTAINER,
  SIDECAR_INJECTION_ANNOTATION,
  SIDECAR_UID,
} from '../../mesh/osm.js';
import { PROTOCOL_CODES, serviceProtocolDiagnostics } from './app-protocol.step.js';
import { readNamespace } from './namespace.step.js';
import type { Diagnostic, OnboardingStep, StepContext, StepPlan } from './step.js';

/*
 * Guide step 1, "application requirements" (docs/osm-edge.md#app-requirements, #injector, #app-protocol):
 * a read-only analysis of the
 * namespace, in the spirit of `istioctl analyze`. Nothing is written.
 *
 * | Code                              | Level        | Object              | Meaning                                                                 |
 * |-----------------------------------|--------------|---------------------|-------------------------------------------------------------------------|
 * | OSM_RESERVED_UID                  | error        | workload / Pod      | a container runs as UID 1500 (pod or container securityContext), the     |
 * |                                   |              |                     | sidecar's UID: its traffic would bypass the proxy                        |
 * | OSM_RESERVED_PORT                 | error        | workload / Pod      | a container port is a sidecar port: TCP 15000 15001 15003 15010 15901    |
 * |                                   |              |                     | 15902 15903 15904 6060, or UDP 5300 (local DNS proxy)                    |
 * | OSM_RESERVED_PROBE_PORT           | error        | workload / Pod      | a liveness/readiness/startup probe (httpGet, tcpSocket, grpc; numeric or |
 * |                                   |              |                     | named port) targets a sidecar port                                       |
 * | OSM_RUN_AS_NON_ROOT_WITHOUT_UID   | error        | workload / Pod      | pod `runAsNonRoot: true` without `runAsUser` on the pod or on every      |
 * |                                   |              |                     | container (the docs' rule)                                               |
 * | OSM_INVALID_INJECTION_ANNOTATION  | error        | workload / Pod      | pod annotation openservicemesh.io/sidecar-injection is not               |
 * |                                   |              |                     | enabled|yes|true|disabled|no|false: the webhook denies pod creation       |
 * | OSM_POD_SECURITY_ENFORCED         | error        | Namespace           | pod-security.kubernetes.io/enforce is baseline or restricted: osm-init    |
 * |                                   |              |                     | (NET_ADMIN, runAsUser 0) is rejected, so injected pods are not created    |
 * | OSM_POD_SECURITY_WARN             | warning      | Namespace           | the same levels in pod-security.kubernetes.io/warn or /audit              |
 * | OSM_HOST_NETWORK                  | warning      | workload / Pod      | hostNetwork pods are never injected                                      |
 * | OSM_DEFAULT_SERVICE_ACCOUNT       | warning      | workload / Pod      | runs as the `default` ServiceAccount (or names none): its mesh identity  |
 * |                                   |              |                     | is shared with everything else that does                                  |
 * | OSM_SERVICE_ACCOUNT_NOT_FOUND     | warning      | workload / Pod      | the ServiceAccount it names does not exist in the namespace               |
 * | OSM_PROTOCOL_GUESS                | warning      | Service/name:port   | osm-edge would likely pick the wrong protocol (see app-protocol.step.ts)  |
 * | OSM_APP_PROTOCOL_UNSUPPORTED      | warning      | Service/name:port   | appProtocol osm-edge does not understand or mis-cased                     |
 * | OSM_NO_SERVICE                    | info/warning | workload / Pod      | no Service selects its pods (see below for the level)                     |
 * | OSM_SHARED_SERVICE_ACCOUNT        | info         | ServiceAccount/name | several workloads share one (non-default) ServiceAccount, i.e. one        |
 * |                                   |              |                     | identity: SMI policies cannot tell them apart                             |
 * | OSM_ALREADY_INJECTED              | info         | workload / Pod      | running pods that already have a sidecar                                  |
 *
 * OSM_APP_PROTOCOL_CASE (info: `TCP`, `HTTP`, which Pipy lower-cases) and the other Service port codes are
 * described in app-protocol.step.ts.
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
 * Blocking: `plan` throws PREREQUISITES_FAILED when there are errors whose codes are not all in
 * `prerequisites.acceptErrors`; accepted errors stay in the diagnostics with `accepted: true`.
 * With `prerequisites.enabled: false` the analysis is still reported but never blocks.
 *
 * API calls per run: 7 reads in parallel — get namespace; list deployments, statefulsets,
 * daemonsets, pods, services, serviceaccounts (one each).
 */
export const PREREQUISITE_CODES = {
  OSM_RESERVED_UID: 'error',
  OSM_RESERVED_PORT: 'error',
  OSM_RESERVED_PROBE_PORT: 'error',
  OSM_RUN_AS_NON_ROOT_WITHOUT_UID: 'error',
  OSM_INVALID_INJECTION_ANNOTATION: 'error',
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
const POD_SECURITY = 'pod-security.kubernetes.io';
const RESTRICTIVE_LEVELS = new Set(['baseline', 'restricted']);

type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';
type Level = Diagnostic['level'];

/** A diagnostic with a key that says "the same problem", whatever object it was found on. */
interface Finding extends Diagnostic {
  key: string;
}

/** One pod spec to analyze: a workload's template or a running pod. */
interface PodSource {
  object: string;
  meta: V1ObjectMeta;
  spec: V1PodSpec;
  /** A running pod the injector already mutated: its additions are not the application's. */
  injected: boolean;
}

interface Inventory {
  services: V1Service[];
  serviceAccounts: Set<string>;
}

const LEVEL_ORDER: Record<Level, number> = { error: 0, warning: 1, info: 2 };

export class PrerequisitesStep implements OnboardingStep {
  readonly name = 'prerequisites' as const;
  readonly title = 'Check application requirements';

  async plan({ request, kube }: StepContext): Promise<StepPlan> {
    const ns = request.namespace;
    const [namespace, deployments, statefulSets, daemonSets, pods, services, serviceAccounts] = await Promise.all([
      readNamespace(kube, ns),
      kube.listDeployments(ns),
      kube.listStatefulSets(ns),
      kube.listDaemonSets(ns),
      kube.listPods(ns),
      kube.listServices(ns),
      kube.listServiceAccounts(ns),
    ]);
    const diagnostics = analyze({
      namespace,
      deployments: deployments.items,
      statefulSets: statefulSets.items,
      daemonSets: daemonSets.items,
      pods: pods.items,
      services: services.items,
      serviceAccounts: serviceAccounts.items,
    });

    const accept = new Set(request.options.prerequisites?.acceptErrors ?? []);
    for (const d of diagnostics) if (d.level === 'error' && accept.has(d.code)) d.accepted = true;
    const count = (level: Level) => diagnostics.filter((d) => d.level === level).length;
    const accepted = diagnostics.filter((d) => d.accepted).length;
    const workloads = deployments.items.length + statefulSets.items.length + daemonSets.items.length;
    const facts = {
      workloads,
      pods: pods.items.length,
      services: services.items.length,
      serviceAccounts: serviceAccounts.items.length,
      errors: count('error'),
      warnings: count('warning'),
      infos: count('info'),
      accepted,
    };

    const blocking = diagnostics.filter((d) => d.level === 'error' && !d.accepted);
    const enforced = request.options.prerequisites?.enabled !== false;
    if (blocking.length && enforced) {
      throw new DomainError(
        'PREREQUISITES_FAILED',
        `namespace ${ns} does not meet osm-edge's application requirements: ${describe(blocking)}`,
        {
          hint: 'fix them, or pass prerequisites.acceptErrors: [codes] to proceed anyway (recorded)',
          details: { diagnostics },
        },
      );
    }

    const summary =
      `${facts.errors} error(s)${accepted ? ` (${accepted} accepted)` : ''}, ${facts.warnings} warning(s), ${facts.infos} info in ` +
      `${workloads} workload(s), ${facts.pods} pod(s), ${facts.services} service(s)` +
      (blocking.length ? ` — not enforced (prerequisites.enabled is false): ${describe(blocking)}` : '');
    return { changes: [], summary, diagnostics, facts };
  }

  async execute(): Promise<{ after?: unknown }> {
    return {}; // read-only: the plan never has changes
  }
}

/** "OSM_RESERVED_UID (Deployment/a, Pod/b); OSM_RESERVED_PORT (Deployment/c)", at most 5 objects per code. */
function describe(diagnostics: Diagnostic[]): string {
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
}

/** Every diagnostic for the namespace, sorted errors → warnings → info, then by code and object. */
export function analyze(inv: NamespaceInventory): Diagnostic[] {
  const ctx: Inventory = {
    services: inv.services,
    serviceAccounts: new Set(inv.serviceAccounts.map((sa) => sa.metadata?.name ?? '')),
  };
  const out: Diagnostic[] = [...namespaceDiagnostics(inv.namespace)];

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
        : `${injected.length} of ${total} running pod(s) of ${object} already have a sidecar (${injected.slice(0, 5).join(', ')}${injected.length > 5 ? ', …' : ''})`,
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
      message: `ServiceAccount ${sa} is the mesh identity of ${list.length} workloads (${list.join(', ')}); SMI access policies cannot tell them apart`,
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

function namespaceDiagnostics(ns: V1Namespace): Diagnostic[] {
  const labels = ns.metadata?.labels ?? {};
  const object = `Namespace/${ns.metadata?.name ?? ''}`;
  const out: Diagnostic[] = [];
  const why = (level: string) =>
    level === 'baseline'
      ? 'the baseline level forbids the NET_ADMIN capability'
      : 'the restricted level forbids the NET_ADMIN capability and running as root (runAsUser 0)';
  const enforce = labels[`${POD_SECURITY}/enforce`];
  if (enforce && RESTRICTIVE_LEVELS.has(enforce)) {
    out.push({
      code: 'OSM_POD_SECURITY_ENFORCED',
      level: 'error',
      object,
      message: `Pod Security admission enforces "${enforce}" in this namespace; osm-edge's init container osm-init needs NET_ADMIN and runAsUser 0 and ${why(enforce)}, so injected pods would be rejected`,
      hint: `use traffic.interceptionMode ebpf in the MeshConfig (no osm-init), or relax ${POD_SECURITY}/enforce to privileged`,
    });
  }
  for (const mode of ['warn', 'audit']) {
    const level = labels[`${POD_SECURITY}/${mode}`];
    if (level && RESTRICTIVE_LEVELS.has(level)) {
      out.push({
        code: 'OSM_POD_SECURITY_WARN',
        level: 'warning',
        object,
        message: `Pod Security admission ${mode === 'warn' ? 'warns' : 'audits'} at level "${level}"; injected pods (osm-init: NET_ADMIN, runAsUser 0) will ${mode === 'warn' ? 'produce warnings' : 'be logged as violations'}: ${why(level)}`,
        hint: `use traffic.interceptionMode ebpf, or set ${POD_SECURITY}/${mode} to privileged`,
      });
    }
  }
  return out;
}

function serviceAccountOf(spec: V1PodSpec): string {
  return spec.serviceAccountName || spec.serviceAccount || 'default';
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

function podFindings(src: PodSource, inv: Inventory): Finding[] {
  const out: Finding[] = [];
  const add = (key: string, d: Omit<Diagnostic, 'object'>) =>
    out.push({ ...d, object: src.object, key: `${d.code}|${key}` });
  const { containers, initContainers } = appContainers(src);
  const all = [...initContainers, ...containers];
  const podSc = src.spec.securityContext ?? {};

  // The webhook parses the pod annotation first; an invalid value denies pod creation.
  const injection = src.meta.annotations?.[SIDECAR_INJECTION_ANNOTATION];
  if (parseInjectionValue(injection) === 'invalid') {
    add(String(injection), {
      code: 'OSM_INVALID_INJECTION_ANNOTATION',
      level: 'error',
      message: `annotation ${SIDECAR_INJECTION_ANNOTATION}: "${injection}" is not a valid value; the injector webhook (failurePolicy Fail) denies creating these pods`,
      hint: 'use enabled, yes, true, disabled, no or false (case-insensitive), or remove the annotation',
    });
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
        message: `container "${c.name}" runs as UID ${SIDECAR_UID}${own === undefined || own === null ? ' (from the pod securityContext)' : ''}, which is reserved for the Pipy sidecar: its traffic would bypass the proxy`,
        hint: `run it as another UID (${own === undefined || own === null ? 'spec.securityContext.runAsUser' : `containers[${c.name}].securityContext.runAsUser`})`,
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
        message: `the pod sets runAsNonRoot: true but no runAsUser, and container(s) ${missing.map((c) => `"${c}"`).join(', ')} set none either`,
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
          : proto === 'UDP'
            ? SIDECAR_UDP_PORTS.get(p.containerPort)
            : undefined;
      if (!use) continue;
      add(`${c.name}|${p.containerPort}/${proto}`, {
        code: 'OSM_RESERVED_PORT',
        level: 'error',
        message: `container "${c.name}" uses port ${p.containerPort}/${proto}${p.name ? ` ("${p.name}")` : ''}, which the sidecar uses (${use})`,
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
          message: `the ${kind} probe of container "${c.name}" targets port ${port}${typeof raw === 'string' ? ` (named "${raw}")` : ''}, which the sidecar uses (${use})`,
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
        'it runs as the "default" ServiceAccount; osm-edge identities are ServiceAccounts, so it shares its identity with everything else that does',
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
        ? 'no Service selects its pods, but its containers declare ports: osm-edge builds in-mesh routes from Services, so nothing in the mesh can reach it'
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
