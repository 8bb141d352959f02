// Owns what the access log writes of a call's URL: its path, and its query with every value the service's own
// parameters do not name replaced. A client that puts a credential in the query (`?access_token=…`, as a browser's
// EventSource invites, or a GraphQL GET's `variables` holding a webhook secret) is refused, and its secret is not
// written to the log either.

/** Query parameters of the REST API whose values are logged as sent (filters, cursors, page sizes). */
const LOGGED_PARAMS = new Set([
  'limit',
  'after',
  'continue',
  'cluster',
  'namespace',
  'meshName',
  'kind',
  'status',
  'requestedBy',
  'actor',
  'action',
  'requestId',
  'since',
  'until',
  'format',
  'operationName',
]);

export const REDACTED = '[REDACTED]';

/** The URL as the access log writes it: unchanged without a query; otherwise other parameters' values redacted. */
export function loggedUrl(url: string | undefined): string | undefined {
  const q = url?.indexOf('?') ?? -1;
  if (url === undefined || q === -1) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  const shown: string[] = [];
  for (const [name, value] of params) {
    shown.push(`${encodeURIComponent(name)}=${LOGGED_PARAMS.has(name) ? encodeURIComponent(value) : REDACTED}`);
  }
  return shown.length ? `${url.slice(0, q)}?${shown.join('&')}` : url.slice(0, q);
}
