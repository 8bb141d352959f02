// Owns which shape an HTTP error's body takes, by the path it answers: REST's `{"error":{code, message, fields?,
// hint?, details?}}`, and on GraphQL's endpoint GraphQL's `{"errors":[{message, extensions:{code, fields?, hint?,
// details?}}]}`, the shape Apollo answers there. Used where the HTTP edge refuses a call before Apollo reads it (the
// 400/413/415 of its body, src/http/platform.ts and the exception filter), so a GraphQL client reads every refusal of
// /graphql the same way; the HTTP status is kept.

/** GraphQL's endpoint as both routers match it (case-insensitive; Express's Apollo mount takes sub-paths too). */
export const GRAPHQL_PATH = /^\/graphql(\/|$)/i;

export interface ErrorBody {
  error: { code: string; message: string; fields?: unknown; hint?: string; details?: unknown };
}

/** `body` as it leaves on `path` (without the query string): as is, or in GraphQL's shape on /graphql. */
export function errorBodyFor(path: string, body: ErrorBody): object {
  if (!GRAPHQL_PATH.test(path)) return body;
  const { message, ...extensions } = body.error;
  return { errors: [{ message, extensions }] };
}

/** The path of a request URL (`/graphql?query=…` → `/graphql`). */
export function pathOfUrl(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q === -1 ? u : u.slice(0, q);
}
