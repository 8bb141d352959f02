// Owns the URL paths of Kubernetes resources: every call ClusterClient sends, and the keys a ReadShare answers
// (read-share.ts), are built here, so a list cut from a cluster-wide one is found under the path its read asks for.

export const CORE = '/api/v1';
export const APPS = '/apis/apps/v1';

/** A resource's path: `<api>[/namespaces/<namespace>]/<plural>[/<name>]`, the names escaped. */
export function resourcePath(api: string, plural: string, namespace?: string, name?: string): string {
  const ns = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  return `${api}${ns}/${plural}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}
