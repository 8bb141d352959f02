// The REST edge's media type: a /v1 request that carries a body must say it is JSON. Without this, express's JSON
// parser skips the body and the caller gets a confusing "namespace: must be a string"; here it gets a 415 that
// names the header. Bodiless calls (retry, apply, cancel without a reason) need no Content-Type. Slack's
// interactivity callbacks are form-encoded by Slack itself (src/integrations/slack), so that path is exempt.
const FORM_PATHS = new Set(['/v1/integrations/slack/interactions']);
import type { IncomingHttpHeaders } from 'node:http';
import typeIs from 'type-is';

/** The 415 answer for a /v1 call whose body is not JSON, or undefined when the call may go on. */
export function nonJsonBody(req: { path: string; headers: IncomingHttpHeaders }): object | undefined {
  const length = Number(req.headers['content-length']);
  const hasBody = req.headers['transfer-encoding'] !== undefined || length > 0;
  const given = req.headers['content-type'];
  if (!hasBody || !req.path.startsWith('/v1/') || FORM_PATHS.has(req.path)) return undefined;
  if (given && typeIs.is(given, ['application/json', '+json'])) return undefined;
  const got = given ? `"${given}"` : 'no Content-Type';
  return {
    error: {
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: `the body must be JSON with Content-Type: application/json (got ${got})`,
      hint: "curl: add -H 'content-type: application/json'",
    },
  };
}
