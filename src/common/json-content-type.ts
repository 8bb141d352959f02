// The REST edge's media type: a /v1 request that carries a body must say it is JSON. Without this, express's JSON
// parser skips the body and the caller gets a confusing "namespace: must be a string"; here it gets a 415 that
// names the header. So must a GraphQL request's body (POST /graphql: Apollo reads JSON only; GET and the graphql-ws
// upgrade carry none, and a body sent with GET is not read). Bodiless calls (retry, apply, cancel without a reason)
// need no Content-Type. Slack's interactivity callbacks are form-encoded by Slack itself (src/integrations/slack):
// there a body must be application/x-www-form-urlencoded, refused here otherwise (JSON included), before any parser
// reads it or the signature is checked.
// A JSON body on any path (GraphQL's too) is read as UTF-8, so one that declares another charset is a 415 as well
// (no charset means UTF-8, RFC 8259 §8.1), instead of being decoded as UTF-8 regardless, or by body-parser only.
import type { IncomingHttpHeaders } from 'node:http';
import typeIs from 'type-is';
import { type ErrorBody, GRAPHQL_PATH } from './error-body.js';
import { routerPath } from './request-path.js';

/** Slack's callback, as both routers match it (case-insensitive, a trailing slash ignored). */
const FORM_PATH = /^\/v1\/integrations\/slack\/interactions\/?$/i;
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** The labels of UTF-8 (the WHATWG Encoding Standard's, as sent by clients), lower case. */
const UTF8 = new Set(['utf-8', 'utf8']);
const CHARSET = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i;

/**
 * The 415 answer for a call whose body is not JSON (/v1, GraphQL) or not UTF-8 JSON, or on Slack's callback not a
 * form, or undefined when the call may go on.
 */
export function nonJsonBody(req: {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}): ErrorBody | undefined {
  const length = Number(req.headers['content-length']);
  const hasBody = req.headers['transfer-encoding'] !== undefined || length > 0;
  const given = req.headers['content-type'];
  if (!hasBody) return undefined;
  if (FORM_PATH.test(req.path)) {
    if (given && typeIs.is(given, [FORM_TYPE])) return undefined;
    return refusal(`expected an ${FORM_TYPE} body (got ${given ? `"${given}"` : 'no Content-Type'})`, SLACK_HINT);
  }
  if (given && typeIs.is(given, ['application/json', '+json'])) {
    const match = CHARSET.exec(given);
    const charset = match ? (match[1] ?? match[2]).toLowerCase() : undefined;
    if (charset === undefined || UTF8.has(charset)) return undefined;
    return refusal(`a JSON body must be UTF-8 (got charset "${charset}")`, 'send the body as UTF-8: charset=utf-8');
  }
  const path = routerPath(req.path);
  const graphql = GRAPHQL_PATH.test(path) && req.method !== 'GET' && req.method !== 'HEAD';
  if (!(graphql || path.startsWith('/v1/'))) return undefined;
  const got = given ? `"${given}"` : 'no Content-Type';
  return refusal(
    `the body must be JSON with Content-Type: application/json (got ${got})`,
    "curl: add -H 'content-type: application/json'",
  );
}

const SLACK_HINT = "this is Slack's interactivity request URL: Slack posts its callbacks form-encoded";

function refusal(message: string, hint: string): ErrorBody {
  return { error: { code: 'UNSUPPORTED_MEDIA_TYPE', message, hint } };
}
