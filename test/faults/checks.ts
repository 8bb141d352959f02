import type pg from 'pg';
import type { Emulator, KubeObject, RequestLogEntry } from '../support/emulator/index.js';

// The end-of-scenario checks: every request's status, every namespace's final state in the
// emulator, no step run twice at once or applied twice, and every cluster write audited.

export interface AuditRow {
  seq: number;
  action: string;
  step: string | null;
  data: Record<string, any>;
  created_at: Date;
}

export interface RequestRecord {
  id: string;
  namespace: string;
  kind: 'ONBOARD' | 'OFFBOARD';
  status: string;
  error_code: string | null;
  created_at: Date;
  steps: {
    name: string;
    status: string;
    attempts: number;
    result: string | null;
    error_code: string | null;
    error_message: string | null;
  }[];
  events: AuditRow[];
}

export async function loadRequests(db: pg.Pool, ids: string[]): Promise<Map<string, RequestRecord>> {
  const out = new Map<string, RequestRecord>();
  if (!ids.length) return out;
  const { rows } = await db.query(
    'SELECT id, namespace, kind, status, error_code, created_at FROM onboarding_request WHERE id = ANY($1::uuid[])',
    [ids],
  );
  for (const r of rows) out.set(r.id, { ...r, steps: [], events: [] });
  const steps = await db.query(
    'SELECT request_id, name, status, attempts, result, error_code, error_message FROM step_run WHERE request_id = ' +
      'ANY($1::uuid[]) ORDER BY position',
    [ids],
  );
  for (const s of steps.rows) out.get(s.request_id)?.steps.push(s);
  const events = await db.query(
    'SELECT request_id, seq, action, step, data, created_at FROM audit_event WHERE request_id = ANY($1::uuid[]) ' +
      'ORDER BY request_id, seq',
    [ids],
  );
  for (const e of events.rows) out.get(e.request_id)?.events.push(e);
  return out;
}

const TERMINAL = ['request.succeeded', 'request.failed', 'request.cancelled'];

/**
 * Evidence that a request ran twice at once or applied a step twice:
 * - a `step.started` by a worker that did not hold the claim at that point (the claim moves with
 *   `request.started`/`request.resumed`, and is dropped by `request.released`);
 * - two `step.started` with the same attempt number (two workers read the same step row);
 * - more than one `step.succeeded` for a step, or more than one terminal event;
 * - a step that wrote (`step.applying`) again after it had already succeeded.
 */
export function duplicateEvidence(r: RequestRecord): string[] {
  const problems: string[] = [];
  let owner: string | null = null;
  const attempts = new Map<string, Set<number>>();
  const succeeded = new Map<string, number>();
  let terminal = 0;
  for (const e of r.events) {
    if (e.action === 'request.started' || e.action === 'request.resumed') owner = e.data.worker ?? null;
    else if (e.action === 'request.released') owner = null;
    else if (e.action === 'step.started') {
      if (e.data.worker && e.data.worker !== owner)
        problems.push(
          `step ${e.step} started by ${e.data.worker} while ${owner ?? 'nobody'} held the claim (seq ${e.seq})`,
        );
      const seen = attempts.get(e.step!) ?? new Set<number>();
      if (seen.has(e.data.attempt)) problems.push(`step ${e.step} attempt ${e.data.attempt} started twice`);
      seen.add(e.data.attempt);
      attempts.set(e.step!, seen);
    } else if (e.action === 'step.succeeded') {
      succeeded.set(e.step!, (succeeded.get(e.step!) ?? 0) + 1);
      if (succeeded.get(e.step!)! > 1) problems.push(`step ${e.step} succeeded twice`);
    } else if (e.action === 'step.applying' && succeeded.has(e.step!)) {
      problems.push(`step ${e.step} wrote again after it had succeeded (seq ${e.seq})`);
    }
    if (TERMINAL.includes(e.action)) terminal++;
  }
  if (terminal > 1) problems.push(`${terminal} terminal events`);
  return problems;
}

const resourceOf = (kind: string) => {
  const k = kind.toLowerCase();
  return k.endsWith('s') ? `${k}es` : `${k}s`;
};
const keyOf = (resource: string, namespace: string | undefined, name: string | undefined) =>
  `${resource}/${namespace ?? ''}/${name ?? ''}`;

export interface WriteAudit {
  /** Successful cluster writes (create/update/patch/delete, 2xx) served by the emulator. */
  writes: number;
  /** Writes to an object with fewer audited changes (`step.applying` data.changes) than writes. */
  unaudited: string[];
}

/** Every cluster write has its audit event: per object, successful writes ≤ audited changes to it. */
export function auditWrites(log: RequestLogEntry[], records: Iterable<RequestRecord>): WriteAudit {
  const writes = new Map<string, number>();
  let total = 0;
  for (const e of log) {
    if (!['create', 'update', 'patch', 'delete'].includes(e.verb) || e.fault || e.status < 200 || e.status >= 300)
      continue;
    if (e.resource === 'selfsubjectaccessreviews') continue; // a question, not a change
    // A create is addressed to the collection; the name is in the body (the step's audited change).
    const k = keyOf(e.resource ?? '?', e.namespace, e.name ?? '*');
    writes.set(k, (writes.get(k) ?? 0) + 1);
    total++;
  }
  const audited = new Map<string, number>();
  for (const r of records) {
    for (const e of r.events) {
      if (e.action !== 'step.applying') continue;
      for (const c of (e.data.changes ?? []) as {
        action: string;
        target: { kind: string; namespace?: string; name: string };
      }[]) {
        const name = c.action === 'create' ? '*' : c.target.name;
        const k = keyOf(
          resourceOf(c.target.kind),
          c.target.kind === 'Namespace' ? undefined : c.target.namespace,
          name,
        );
        audited.set(k, (audited.get(k) ?? 0) + 1);
      }
    }
  }
  const unaudited: string[] = [];
  for (const [k, n] of writes) {
    const a = audited.get(k) ?? 0;
    if (n > a) unaudited.push(`${k}: ${n} write(s), ${a} audited`);
  }
  return { writes: total, unaudited };
}

// ------------------------------------------------------------------ final state in the emulator

const MONITORED_BY = 'openservicemesh.io/monitored-by';
const INJECTION = 'openservicemesh.io/sidecar-injection';
const METRICS = 'openservicemesh.io/metrics';
const API_ACCESS = 'osm-onboarding.flomesh.io/api-server-access';
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
const MANAGED_BY = 'app.kubernetes.io/managed-by';

export const MESH_CONFIG_REF = {
  apiVersion: 'config.openservicemesh.io/v1alpha2',
  kind: 'MeshConfig',
  namespace: 'osm-system',
  name: 'osm-mesh-config',
};

export function exclusionList(emulator: Emulator): string[] {
  const mc = emulator.store.get<KubeObject & { spec: any }>(MESH_CONFIG_REF);
  return [...((mc?.spec?.traffic?.outboundIPRangeExclusionList as string[] | undefined) ?? [])];
}

export function apiServerCidr(emulator: Emulator): string {
  const svc = emulator.store.get<any>({
    apiVersion: 'v1',
    kind: 'Service',
    namespace: 'default',
    name: 'kubernetes',
  });
  return `${svc.spec.clusterIP}/32`;
}

/** What a successful full onboarding (see scenarios.ts `fullOnboarding`) leaves in its namespace. */
export function onboardedProblems(
  emulator: Emulator,
  ns: string,
  createdAt: Date,
  opts: { smi: boolean; apiAccess: boolean },
): string[] {
  const p: string[] = [];
  const nsObj = emulator.store.get<any>({ apiVersion: 'v1', kind: 'Namespace', name: ns });
  if (!nsObj) return [`namespace ${ns} is gone`];
  const labels = nsObj.metadata.labels ?? {};
  const ann = nsObj.metadata.annotations ?? {};
  if (labels[MONITORED_BY] !== 'osm') p.push(`${ns}: label ${MONITORED_BY}=${labels[MONITORED_BY]}`);
  if (ann[INJECTION] !== 'enabled') p.push(`${ns}: annotation ${INJECTION}=${ann[INJECTION]}`);
  if (ann[METRICS] !== 'enabled') p.push(`${ns}: annotation ${METRICS}=${ann[METRICS]}`);
  if (opts.apiAccess && ann[API_ACCESS] !== 'ip-exclusion')
    p.push(`${ns}: annotation ${API_ACCESS}=${ann[API_ACCESS]}`);
  const dep = emulator.store.get<any>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'app-0' });
  const restartedAt = dep?.spec?.template?.metadata?.annotations?.[RESTARTED_AT];
  // The restart token is the request's creation time in kubectl's format (RFC 3339, whole seconds): a resumed
  // restart writes the same value.
  const want = createdAt.toISOString().replace(/\.\d+Z$/, 'Z');
  if (restartedAt !== want) p.push(`${ns}: deployment restartedAt=${restartedAt}, want ${want}`);
  const pods = emulator.store.list<any>('v1', 'Pod', { namespace: ns });
  const running = pods.filter((x) => !x.metadata.deletionTimestamp);
  if (!running.length || running.some((x) => !(x.spec.containers ?? []).some((c: any) => c.name === 'sidecar')))
    p.push(`${ns}: pods without a sidecar`);
  const svc = emulator.store.get<any>({ apiVersion: 'v1', kind: 'Service', namespace: ns, name: 'app-0' });
  if (svc?.spec?.ports?.[0]?.appProtocol !== 'http')
    p.push(`${ns}: service app-0 appProtocol=${svc?.spec?.ports?.[0]?.appProtocol}`);
  if (opts.smi) {
    for (const [apiVersion, kind, name] of [
      ['access.smi-spec.io/v1alpha3', 'TrafficTarget', 'allow-app'],
      ['specs.smi-spec.io/v1alpha4', 'HTTPRouteGroup', 'routes'],
    ]) {
      const o = emulator.store.get<any>({ apiVersion, kind, namespace: ns, name });
      if (o?.metadata?.labels?.[MANAGED_BY] !== 'osm-onboarding') p.push(`${ns}: ${kind}/${name} missing or not ours`);
    }
  }
  return p;
}

/** What an untouched namespace looks like (a request that failed before writing, or a failed-fast one). */
export function untouchedProblems(emulator: Emulator, ns: string): string[] {
  const nsObj = emulator.store.get<any>({ apiVersion: 'v1', kind: 'Namespace', name: ns });
  const labels = nsObj?.metadata?.labels ?? {};
  return labels[MONITORED_BY]
    ? [`${ns}: labelled ${MONITORED_BY}=${labels[MONITORED_BY]} although its request failed at the namespace step`]
    : [];
}

/** The shared MeshConfig list: the API server's entry exactly once, every pre-existing entry kept. */
export function exclusionProblems(emulator: Emulator, before: string[], wanted: string[]): string[] {
  const list = exclusionList(emulator);
  const p: string[] = [];
  for (const e of before) if (!list.includes(e)) p.push(`exclusion list lost pre-existing ${e}`);
  for (const e of wanted) {
    const n = list.filter((x) => x === e).length;
    if (n !== 1) p.push(`exclusion list has ${e} ${n} time(s)`);
  }
  return p;
}
