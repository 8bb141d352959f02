// Owns the URL paths of Kubernetes resources: every call ClusterClient sends, and the keys a ReadShare answers
// (read-share.ts: readKey), are built here, so a list cut from a cluster-wide one is found under the path its read
// asks for; and the namespaced kinds a plan lists (NamespacedKind).

export const CORE = '/api/v1';
export const APPS = '/apis/apps/v1';

/** A resource's path: `<api>[/namespaces/<namespace>]/<plural>[/<name>]`, the names escaped. */
export function resourcePath(api: string, plural: string, namespace?: string, name?: string): string {
  const ns = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  return `${api}${ns}/${plural}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}

/**
 * A namespaced kind that a plan lists in its namespace: `api` its path prefix, `plural` its resource, `resource` its
 * name in the call metrics (`deployments.apps`).
 */
export interface NamespacedKind {
  api: string;
  plural: string;
  resource: string;
}

/** The key of one GET: the cluster, the path and the query's defined values in key order. */
export function readKey(cluster: string, path: string, query?: Record<string, string | number | undefined>): string {
  const params = Object.entries(query ?? {})
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return params.length ? `${cluster} ${path}?${params.join('&')}` : `${cluster} ${path}`;
}
