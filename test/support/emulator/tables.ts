// Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for. Columns follow
// pkg/printers/internalversion for built-ins and additionalPrinterColumns for custom resources.

import type { ResourceType, PrinterColumn } from './resources.js';
import { asArray, asRecord, isObject, stringMap, type KubeObject } from './types.js';

interface Column {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority: number;
  cell: (obj: KubeObject) => unknown;
}

/** duration.HumanDuration from apimachinery. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 365 * 8)
    return days % 365 === 0 ? `${Math.trunc(days / 365)}y` : `${Math.trunc(days / 365)}y${days % 365}d`;
  return `${Math.trunc(days / 365)}y`;
}

function age(timestamp: unknown): string {
  if (typeof timestamp !== 'string') return '<unknown>';
  return humanDuration(Date.now() - Date.parse(timestamp));
}

const nameColumn: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  priority: 0,
  cell: (o) => o.metadata.name ?? '',
};
const ageColumn: Column = {
  name: 'Age',
  type: 'string',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  priority: 0,
  cell: (o) => age(o.metadata.creationTimestamp),
};

function col(name: string, type: string, cell: (o: KubeObject) => unknown, priority = 0, description = name): Column {
  return { name, type, description, priority, cell };
}

const spec = (o: KubeObject): Record<string, unknown> => asRecord(o.spec);
const status = (o: KubeObject): Record<string, unknown> => asRecord(o.status);
const involved = (o: KubeObject): Record<string, unknown> => asRecord(o.involvedObject);
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

function containers(o: KubeObject): Record<string, unknown>[] {
  return asArray(asRecord(asRecord(spec(o).template).spec).containers).filter(isObject);
}

function selectorString(selector: unknown): string {
  const sel = asRecord(selector);
  const parts = Object.entries(stringMap(sel.matchLabels)).map(([k, v]) => `${k}=${v}`);
  for (const raw of asArray(sel.matchExpressions)) {
    const e = asRecord(raw);
    parts.push(`${String(e.key)} ${String(e.operator).toLowerCase()} (${asArray(e.values).join(',')})`);
  }
  return parts.length ? parts.join(',') : '<none>';
}

function podStatus(o: KubeObject): string {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  const st = status(o);
  for (const cs of asArray(st.containerStatuses)) {
    const waiting = asRecord(asRecord(asRecord(cs).state).waiting);
    if (typeof waiting.reason === 'string') return waiting.reason;
  }
  return typeof st.phase === 'string' ? st.phase : 'Unknown';
}

const workloadWide = (): Column[] => [
  col(
    'Containers',
    'string',
    (o) =>
      containers(o)
        .map((c) => String(c.name))
        .join(','),
    1,
  ),
  col(
    'Images',
    'string',
    (o) =>
      containers(o)
        .map((c) => String(c.image))
        .join(','),
    1,
  ),
  col('Selector', 'string', (o) => selectorString(spec(o).selector), 1),
];

const BUILTIN_COLUMNS: Record<string, () => Column[]> = {
  '/namespaces': () => [nameColumn, col('Status', 'string', (o) => String(status(o).phase ?? '')), ageColumn],
  '/pods': () => [
    nameColumn,
    col('Ready', 'string', (o) => {
      const total = asArray(spec(o).containers).length;
      const ready = asArray(status(o).containerStatuses).filter((c) => asRecord(c).ready === true).length;
      return `${ready}/${total}`;
    }),
    col('Status', 'string', podStatus),
    col('Restarts', 'string', (o) =>
      String(asArray(status(o).containerStatuses).reduce((n: number, c) => n + num(asRecord(c).restartCount), 0)),
    ),
    ageColumn,
    col('IP', 'string', (o) => String(status(o).podIP ?? '<none>'), 1),
    col('Node', 'string', (o) => String(spec(o).nodeName ?? '<none>'), 1),
    col('Nominated Node', 'string', () => '<none>', 1),
    col('Readiness Gates', 'string', () => '<none>', 1),
  ],
  '/services': () => [
    nameColumn,
    col('Type', 'string', (o) => String(spec(o).type ?? 'ClusterIP')),
    col('Cluster-IP', 'string', (o) => String(spec(o).clusterIP ?? '<none>')),
    col('External-IP', 'string', () => '<none>'),
    col('Port(s)', 'string', (o) => {
      const ports = asArray(spec(o).ports).map(asRecord);
      if (ports.length === 0) return '<none>';
      return ports
        .map((p) => `${String(p.port)}${p.nodePort ? `:${String(p.nodePort)}` : ''}/${String(p.protocol ?? 'TCP')}`)
        .join(',');
    }),
    ageColumn,
    col(
      'Selector',
      'string',
      (o) => {
        const sel = Object.entries(stringMap(spec(o).selector));
        return sel.length ? sel.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
      },
      1,
    ),
  ],
  '/serviceaccounts': () => [nameColumn, col('Secrets', 'integer', (o) => asArray(o.secrets).length), ageColumn],
  '/configmaps': () => [
    nameColumn,
    col('Data', 'integer', (o) => Object.keys(asRecord(o.data)).length + Object.keys(asRecord(o.binaryData)).length),
    ageColumn,
  ],
  '/secrets': () => [
    nameColumn,
    col('Type', 'string', (o) => String(o.type ?? 'Opaque')),
    col('Data', 'integer', (o) => Object.keys(asRecord(o.data)).length),
    ageColumn,
  ],
  '/events': () => [
    col('Last Seen', 'string', (o) => age(o.lastTimestamp ?? o.eventTime)),
    col('Type', 'string', (o) => String(o.type ?? '')),
    col('Reason', 'string', (o) => String(o.reason ?? '')),
    col('Object', 'string', (o) => `${String(involved(o).kind ?? '').toLowerCase()}/${String(involved(o).name ?? '')}`),
    col('Message', 'string', (o) => String(o.message ?? '')),
  ],
  '/nodes': () => [
    nameColumn,
    col('Status', 'string', () => 'Ready'),
    col('Roles', 'string', () => 'control-plane'),
    ageColumn,
    col('Version', 'string', (o) => String(asRecord(status(o).nodeInfo).kubeletVersion ?? '')),
  ],
  'apps/deployments': () => [
    nameColumn,
    col(
      'Ready',
      'string',
      (o) => `${num(status(o).readyReplicas)}/${typeof spec(o).replicas === 'number' ? String(spec(o).replicas) : '1'}`,
    ),
    col('Up-to-date', 'integer', (o) => num(status(o).updatedReplicas)),
    col('Available', 'integer', (o) => num(status(o).availableReplicas)),
    ageColumn,
    ...workloadWide(),
  ],
  'apps/replicasets': () => [
    nameColumn,
    col('Desired', 'integer', (o) => num(spec(o).replicas)),
    col('Current', 'integer', (o) => num(status(o).replicas)),
    col('Ready', 'integer', (o) => num(status(o).readyReplicas)),
    ageColumn,
    ...workloadWide(),
  ],
  'apps/statefulsets': () => [
    nameColumn,
    col(
      'Ready',
      'string',
      (o) => `${num(status(o).readyReplicas)}/${typeof spec(o).replicas === 'number' ? String(spec(o).replicas) : '1'}`,
    ),
    ageColumn,
    ...workloadWide().slice(0, 2),
  ],
  'apps/daemonsets': () => [
    nameColumn,
    col('Desired', 'integer', (o) => num(status(o).desiredNumberScheduled)),
    col('Current', 'integer', (o) => num(status(o).currentNumberScheduled)),
    col('Ready', 'integer', (o) => num(status(o).numberReady)),
    col('Up-to-date', 'integer', (o) => num(status(o).updatedNumberScheduled)),
    col('Available', 'integer', (o) => num(status(o).numberAvailable)),
    col('Node Selector', 'string', (o) => {
      const sel = Object.entries(stringMap(asRecord(asRecord(spec(o).template).spec).nodeSelector));
      return sel.length ? sel.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
    }),
    ageColumn,
    ...workloadWide(),
  ],
  'apiextensions.k8s.io/customresourcedefinitions': () => [
    nameColumn,
    { ...col('Created At', 'date', (o) => o.metadata.creationTimestamp ?? ''), description: 'Created at' },
  ],
  'admissionregistration.k8s.io/mutatingwebhookconfigurations': () => [
    nameColumn,
    col('Webhooks', 'integer', (o) => asArray(o.webhooks).length),
    ageColumn,
  ],
  'admissionregistration.k8s.io/validatingwebhookconfigurations': () => [
    nameColumn,
    col('Webhooks', 'integer', (o) => asArray(o.webhooks).length),
    ageColumn,
  ],
};

/** Evaluates the simple JSONPath subset CRD printer columns use (`.spec.a.b`, `.x[0].y`). */
function evalJsonPath(obj: unknown, path: string): unknown {
  const tokens = path
    .replace(/^\{?\.?/, '')
    .replace(/\}$/, '')
    .split(/\.|\[(\d+)\]/)
    .filter((t) => t !== undefined && t !== '');
  let current: unknown = obj;
  for (const token of tokens) {
    if (Array.isArray(current) && /^\d+$/.test(token)) current = current[Number(token)];
    else if (isObject(current)) current = current[token];
    else return undefined;
  }
  return current;
}

function customColumns(columns: PrinterColumn[]): Column[] {
  if (columns.length === 0) return [nameColumn, ageColumn];
  return [
    nameColumn,
    ...columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format,
      description: c.description ?? c.name,
      priority: c.priority ?? 0,
      cell: (o: KubeObject): unknown => {
        const value = evalJsonPath(o, c.jsonPath);
        if (value === undefined || value === null) return null;
        if (c.type === 'date') return typeof value === 'string' ? age(value) : '<invalid>';
        if (c.type === 'string' && typeof value !== 'string') return JSON.stringify(value);
        return value;
      },
    })),
  ];
}

function columnsFor(rt: ResourceType, version: string): Column[] {
  if (rt.custom) return customColumns(rt.crd?.printerColumns.get(version) ?? []);
  return BUILTIN_COLUMNS[`${rt.group}/${rt.plural}`]?.() ?? [nameColumn, ageColumn];
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

export function toTable(
  rt: ResourceType,
  version: string,
  items: KubeObject[],
  meta: TableMeta,
  include: IncludeObject,
): Record<string, unknown> {
  const columns = columnsFor(rt, version);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: meta,
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description,
      priority: c.priority,
    })),
    rows: items.map((item) => {
      const row: Record<string, unknown> = { cells: columns.map((c) => c.cell(item)) };
      if (include === 'Object') row.object = item;
      else if (include === 'Metadata')
        row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: item.metadata };
      return row;
    }),
  };
}

/** Parses an Accept header and tells whether the client asked for a Table. */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => /;\s*as=Table/.test(part) && /g=meta\.k8s\.io/.test(part));
}
