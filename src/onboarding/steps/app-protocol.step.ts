// Guide step 5, the app-protocol step: the protocol osm-edge picks for each Service port, and the `appProtocol`s a
// request sets (guarded JSON patches, re-planned when the Service moved). Its resolution of the requested ports
// (resolveAppProtocols) is also the API's request-time check (request-validator.ts).
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { DomainError } from '../../common/domain-error.js';
import { KubeError } from '../../kubernetes/kube-error.js';
import type { ClusterClient } from '../../kubernetes/cluster-client.js';
import { effectiveProtocol } from '../../mesh/protocol.js';
import { serviceProtocolDiagnostics } from '../../mesh/protocol-diagnostics.js';
import type { RequestOptions } from '../onboarding.input.js';
import type { Change, OnboardingStep, StepContext, StepPlan } from './step.js';

interface PortImage {
  name: string | null;
  port: number;
  appProtocol: string | null;
}

interface ServiceImage {
  service: string;
  resourceVersion: string | undefined;
  ports: PortImage[];
}

function serviceImage(svc: V1Service): ServiceImage {
  return {
    service: svc.metadata?.name ?? '',
    resourceVersion: svc.metadata?.resourceVersion,
    ports: (svc.spec?.ports ?? []).map((p) => ({
      name: p.name ?? null,
      port: p.port,
      appProtocol: p.appProtocol ?? null,
    })),
  };
}

type Requested = RequestOptions['appProtocols'][number];

/** How a port is named in messages: `"http"` (by name) or `8080` (by number). */
function selectorText(port: Requested['port']): string {
  return typeof port === 'number' ? String(port) : `"${port}"`;
}

function portsText(ports: V1ServicePort[]): string {
  return ports
    .map((p) => {
      const number = `${p.port}${p.protocol && p.protocol !== 'TCP' ? `/${p.protocol}` : ''}`;
      return p.name ? `${p.name} (${number})` : number;
    })
    .join(', ');
}

/**
 * The index of the port a request names: by name (`"http"`), or by number (`8080`, the Service
 * `port`), which is how a Service with one unnamed port is selected. A number that several ports
 * share (53/TCP and 53/UDP) means the TCP one: osm-edge intercepts TCP only.
 */
function resolvePort(namespace: string, svc: V1Service, req: Requested, field: string): number {
  const ports = svc.spec?.ports ?? [];
  const byNumber = typeof req.port === 'number';
  const candidates = ports.flatMap((p, i) => ((byNumber ? p.port === req.port : p.name === req.port) ? [i] : []));
  const tcp = candidates.filter((i) => (ports[i].protocol ?? 'TCP') === 'TCP');
  const index = byNumber ? tcp[0] : candidates[0];
  if (index !== undefined) return index;
  const onlyOther = byNumber && candidates.length > 0; // the number exists, but not as TCP
  const what = byNumber ? `${onlyOther ? 'TCP ' : ''}port ${req.port}` : `port named "${req.port}"`;
  const digits = !byNumber && /^\d+$/.test(String(req.port));
  const asNumber = digits ? `; to select a port by number, send a number: port: ${req.port}` : '';
  throw new DomainError('SERVICE_PORT_NOT_FOUND', `Service ${req.service} in ${namespace} has no ${what}`, {
    field,
    hint: `${onlyOther ? 'osm-edge intercepts TCP only; ' : ''}its ports: ${portsText(ports) || '(none)'}${asNumber}`,
  });
}

/**
 * Guide step 5, "protocol selection": reports the protocol osm-edge picks for every Service
 * port (appProtocol as written, then the name prefix, then http), flags likely wrong guesses,
 * and sets the `appProtocol` the request asks for, on ports named by their name.
 *
 * Writes: one JSON patch per Service whose requested ports differ:
 *   [{ op: 'test', path: '/metadata/resourceVersion', value: <observed> },
 *    { op: 'replace' | 'add', path: '/spec/ports/<observed index>/appProtocol', value }]
 * The `test` makes the write fail if anything edited the Service after the plan read it (so a
 * reordered ports list can never get the value on the wrong port). A failed `test` is a 422
 * (Invalid) from the API server, not a 409; `execute` re-reads the Service and, when its
 * resourceVersion moved (or it is gone), rethrows a KubeError CONFLICT, which the runner retries
 * by running plan + execute again. A 422 with an unchanged resourceVersion is a real rejection and
 * is rethrown as is.
 *
 * API calls: plan 1 (list services); execute 1 patch per changed Service (+1 get after a 422).
 */
export class AppProtocolStep implements OnboardingStep {
  readonly name = 'app-protocol' as const;
  readonly title = 'Select application protocols';

  /** A Service or port the request names that the namespace does not have (the namespace step writes first). */
  async preflight({ request, kube }: StepContext): Promise<void> {
    const services = (await kube.listServices(request.namespace)).items;
    resolveAppProtocols(request.namespace, services, request.options.appProtocols ?? []);
  }

  async plan({ request, kube }: StepContext): Promise<StepPlan> {
    const services = (await kube.listServices(request.namespace)).items;
    // Resolve every request to (service, port index) before planning anything.
    const resolved = resolveAppProtocols(request.namespace, services, request.options.appProtocols ?? []);
    const perService = new Map<string, { svc: V1Service; entries: { index: number; req: Requested }[] }>();
    for (const { svc, index, req } of resolved) {
      const entry = perService.get(req.service) ?? { svc, entries: [] };
      entry.entries.push({ index, req });
      perService.set(req.service, entry);
    }
    // What this step sets, by `<service>\0<port index>`.
    const wanted = new Map(
      [...perService].flatMap(([service, { entries }]) =>
        entries.map((e) => [`${service}\u0000${e.index}`, e.req.appProtocol] as const),
      ),
    );

    const changes: Change[] = [];
    const before: ServiceImage[] = [];
    const described: string[] = [];
    for (const [name, { svc, entries }] of [...perService].sort(([a], [b]) => a.localeCompare(b))) {
      const ports = svc.spec?.ports ?? [];
      const differing = entries
        .filter(({ index, req }) => ports[index].appProtocol !== req.appProtocol)
        .sort((a, b) => a.index - b.index);
      if (differing.length === 0) continue;
      before.push(serviceImage(svc));
      const ops: object[] = [{ op: 'test', path: '/metadata/resourceVersion', value: svc.metadata?.resourceVersion }];
      for (const { index, req } of differing) {
        const current = ports[index].appProtocol;
        ops.push({
          op: current === undefined || current === null ? 'add' : 'replace',
          path: `/spec/ports/${index}/appProtocol`,
          value: req.appProtocol,
        });
        const label = ports[index].name ?? String(ports[index].port);
        const was = current ?? `(${effectiveProtocol(ports[index]).protocol})`;
        described.push(`${name}:${label} ${was} → ${req.appProtocol}`);
      }
      changes.push({
        action: 'patch',
        target: { apiVersion: 'v1', kind: 'Service', namespace: request.namespace, name },
        patchType: 'json',
        body: ops,
      });
    }

    // Facts: the observed ports, each with what osm-edge picks today and what this step sets.
    const facts = {
      ports: services.flatMap((svc) =>
        (svc.spec?.ports ?? []).map((p, i) => {
          const eff = effectiveProtocol(p);
          const service = svc.metadata?.name ?? '';
          const req = wanted.get(`${service}\u0000${i}`);
          return {
            service,
            port: p.port,
            name: p.name ?? null,
            appProtocol: p.appProtocol ?? null,
            effective: eff.protocol,
            source: eff.source,
            ...(req !== undefined && req !== p.appProtocol ? { requested: req } : {}),
          };
        }),
      ),
    };

    // Diagnostics describe the state after this step: ports it sets are no longer guessed.
    const after = services.map((svc) => {
      const service = svc.metadata?.name ?? '';
      return {
        ...svc,
        spec: {
          ...svc.spec,
          ports: (svc.spec?.ports ?? []).map((p, i) => {
            const req = wanted.get(`${service}\u0000${i}`);
            return req ? { ...p, appProtocol: req } : p;
          }),
        },
      };
    });
    const diagnostics = serviceProtocolDiagnostics(after);

    const portCount = facts.ports.length;
    const summary = changes.length
      ? `set appProtocol on ${described.length} port(s) of ${changes.length} service(s): ${described.join(', ')}`
      : `${portCount} service port(s) in ${services.length} service(s); ` +
        `${wanted.size ? 'every requested appProtocol is already set' : 'no appProtocol requested'}` +
        `${diagnostics.length ? `; ${diagnostics.length} port(s) with a likely wrong protocol` : ''}`;
    return { changes, summary, before, diagnostics, facts };
  }

  async execute({ request, kube }: StepContext, plan: StepPlan): Promise<{ after: ServiceImage[] }> {
    const after: ServiceImage[] = [];
    for (const change of plan.changes) {
      const name = change.target.name;
      const ops = change.body as { op: string; path: string; value?: unknown }[];
      const expectedVersion = ops[0]?.op === 'test' ? ops[0].value : undefined;
      try {
        after.push(serviceImage(await kube.patchService(request.namespace, name, ops, 'json')));
      } catch (err) {
        throw await asConflict(kube, { namespace: request.namespace, name, expectedVersion }, err);
      }
    }
    return { after };
  }
}

export interface ResolvedRequest {
  svc: V1Service;
  /** The port's index in the Service's `spec.ports`. */
  index: number;
  req: Requested;
  /** The request's index in `appProtocols`. */
  item: number;
}

/** The field an error names for a key of item `i` of `appProtocols`. */
export type AppProtocolField = (i: number, key: 'service' | 'port' | 'appProtocol') => string;

/**
 * Every requested port resolved on the namespace's Services to (Service, port index), each port once: a port by
 * name is the `spec.ports[].name`, by number the `spec.ports[].port` (resolvePort). Throws SERVICE_PORT_NOT_FOUND
 * for a Service or port the namespace does not have, and VALIDATION_FAILED for one port given two values
 * (dedupeRequests). The step names the field `appProtocols`; the API's request-time check (request-validator.ts)
 * names the item's own (`appProtocols.<i>.service`).
 */
export function resolveAppProtocols(
  namespace: string,
  services: V1Service[],
  requested: Requested[],
  fieldOf: AppProtocolField = () => 'appProtocols',
): ResolvedRequest[] {
  const byName = new Map(services.map((s) => [s.metadata?.name ?? '', s]));
  const resolved = requested.map((req, item) => {
    const svc = byName.get(req.service);
    if (!svc) {
      throw new DomainError('SERVICE_PORT_NOT_FOUND', `Service ${req.service} not found in namespace ${namespace}`, {
        field: fieldOf(item, 'service'),
        hint: `services in ${namespace}: ${[...byName.keys()].sort().join(', ') || '(none)'}`,
      });
    }
    return { svc, index: resolvePort(namespace, svc, req, fieldOf(item, 'port')), req, item };
  });
  return dedupeRequests(resolved, fieldOf);
}

/**
 * The same port twice (by name, by number, or both) with the same value is one request; with
 * different values it is an input error. The request's validation refuses it when both name the port
 * the same way; a name and a number that denote one port only the Service shows, here.
 */
function dedupeRequests(resolved: ResolvedRequest[], fieldOf: AppProtocolField): ResolvedRequest[] {
  const seen = new Map<string, ResolvedRequest>();
  for (const r of resolved) {
    const key = `${r.req.service}\u0000${r.index}`;
    const prior = seen.get(key);
    if (prior && prior.req.appProtocol !== r.req.appProtocol) {
      const port = r.svc.spec?.ports?.[r.index];
      const values = [prior, r].map((x) => `${selectorText(x.req.port)}: ${x.req.appProtocol}`).join(', ');
      throw new DomainError(
        'VALIDATION_FAILED',
        `appProtocols: port ${port?.name ? `"${port.name}"` : port?.port} of Service ${r.req.service} ` +
          `is given twice (${values})`,
        { field: fieldOf(r.item, 'appProtocol') },
      );
    }
    if (!prior) seen.set(key, r);
  }
  return [...seen.values()];
}

/**
 * A failed JSON-patch `test` comes back as 422 Invalid. When the Service moved on since the plan
 * (or is gone), that is a conflict: the runner re-plans. Otherwise the original error stands.
 */
async function asConflict(
  kube: ClusterClient,
  { namespace, name, expectedVersion }: { namespace: string; name: string; expectedVersion: unknown },
  err: unknown,
): Promise<unknown> {
  if (!(err instanceof KubeError) || err.reason !== 'INVALID') return err;
  let current: string | undefined;
  try {
    current = (await kube.getService(namespace, name)).metadata?.resourceVersion;
  } catch (readErr) {
    if (readErr instanceof KubeError && readErr.reason === 'NOT_FOUND') current = undefined;
    else return err;
  }
  if (current === expectedVersion) return err;
  return new KubeError(
    'CONFLICT',
    `patch service ${namespace}/${name}: the Service changed since it was read (resourceVersion ` +
      `${String(expectedVersion)} → ${current ?? 'deleted'}); re-planning`,
    409,
  );
}
