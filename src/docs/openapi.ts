// Owns /docs/openapi.json: the OpenAPI 3.1 document derived from the REST handlers themselves. Paths and
// methods come from Nest's route metadata (./served-routes.ts), everything else from each handler's
// @ApiOperation (./api-operation.ts): its zod body, query and response schemas (named with `.meta({ id })`,
// converted by zod's own z.toJSONSchema), summary, roles and error codes. Error responses per operation come
// from the codes it declares and the HTTP status table at the edge.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { ErrorCode } from '../common/domain-error.js';
import { HTTP_STATUS } from '../common/http-status.js';
import { BATCH_CURSOR_PATTERN } from '../events/batch-cursor.js';
import type { ApiHeader, ApiOperationDoc, ApiResponseDoc } from './api-operation.js';
import { PARAM_DESCRIPTIONS } from './descriptions.js';
import { ERROR_DESCRIPTIONS } from './error-docs.js';
import { ErrorBodySchema } from './response-schemas.js';
import type { DocumentedRoute } from './served-routes.js';

export type { DocumentedRoute };

/** What every route can also answer. */
export function commonErrors(route: DocumentedRoute): ErrorCode[] {
  const codes: ErrorCode[] = [];
  // The JSON body parser and the path check run before routing: any call with a JSON body that does not parse (or
  // over 64 kB), or with a path that is not percent-encoded UTF-8 or has a segment over 100 characters.
  codes.push('MALFORMED_REQUEST');
  // A path parameter holding a NUL (StorablePathParams).
  if (route.path.includes('{')) codes.push('VALIDATION_FAILED');
  if (route.doc?.body) codes.push('UNSUPPORTED_MEDIA_TYPE');
  if (!route.isPublic) {
    codes.push('UNAUTHENTICATED', 'INVALID_TOKEN_CLAIMS', 'FORBIDDEN', 'RATE_LIMITED', 'DEPENDENCY_UNAVAILABLE');
  }
  codes.push('INTERNAL');
  return codes;
}

/** Every code a route can answer, in HTTP_STATUS order. */
export function routeErrors(route: DocumentedRoute): ErrorCode[] {
  const all = new Set([...(route.doc?.errors ?? []), ...commonErrors(route)]);
  return (Object.keys(HTTP_STATUS) as ErrorCode[]).filter((c) => all.has(c));
}

type Json = Record<string, unknown>;

const PATH_PARAMS: Record<string, { description: string; schema: Record<string, unknown> }> = {
  id: { description: PARAM_DESCRIPTIONS.id, schema: { type: 'string', format: 'uuid' } },
  cluster: { description: PARAM_DESCRIPTIONS.cluster, schema: { type: 'string' } },
  namespace: { description: PARAM_DESCRIPTIONS.namespace, schema: { type: 'string' } },
  op: {
    description: PARAM_DESCRIPTIONS.op,
    schema: { type: 'string', enum: ['approve', 'reject', 'cancel', 'retry', 'apply'] },
  },
  file: { description: PARAM_DESCRIPTIONS.file, schema: { type: 'string' } },
};

const HEADER_PARAMS: Record<ApiHeader, Record<string, unknown>> = {
  'Idempotency-Key': {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      'the same key with the same body returns the first request (200, `Idempotent-Replayed: true`); with a ' +
      'different body `IDEMPOTENCY_KEY_REUSED`. Keys are per caller.',
    schema: { type: 'string', minLength: 1, maxLength: 255 },
  },
  'Last-Event-ID': {
    name: 'Last-Event-ID',
    in: 'header',
    required: false,
    description: 'resume after this cursor (sent by EventSource clients on reconnect)',
    schema: { type: 'integer', minimum: 0, maximum: 2 ** 31 - 1 },
  },
  'Last-Event-ID:batch': {
    name: 'Last-Event-ID',
    in: 'header',
    required: false,
    description:
      'resume after this batch cursor, the SSE `id` of the last event received (sent by EventSource clients on ' +
      'reconnect); an older global event id is still accepted from admins',
    schema: { type: 'string', pattern: BATCH_CURSOR_PATTERN },
  },
  'X-Slack-Signature': {
    name: 'X-Slack-Signature',
    in: 'header',
    required: true,
    description: "`v0=` and the hex HMAC-SHA256 of `v0:<timestamp>:<raw body>` with the Slack app's signing secret",
    schema: { type: 'string', pattern: '^v0=[0-9a-f]{64}$' },
  },
  'X-Slack-Request-Timestamp': {
    name: 'X-Slack-Request-Timestamp',
    in: 'header',
    required: true,
    description: 'Unix seconds when Slack sent the request; refused more than 5 minutes from now',
    schema: { type: 'string', pattern: '^\\d+$' },
  },
};

function packageVersion(): string {
  for (const up of ['..', '../..', '../../..']) {
    const file = join(import.meta.dirname, up, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'osm-onboarding' && pkg.version) return pkg.version;
  }
  return '0.0.0';
}

function errorTable(): string {
  const rows = (Object.entries(HTTP_STATUS) as [ErrorCode, number][]).map(
    ([code, status]) =>
      `| \`${code}\` | ${status}${code === 'MALFORMED_REQUEST' ? ', 413' : ''} | ${ERROR_DESCRIPTIONS[code] ?? ''} |`,
  );
  return ['| code | HTTP | meaning |', '|---|---|---|', ...rows].join('\n');
}

const DESCRIPTION = `Puts Kubernetes namespaces into an [osm-edge](https://github.com/flomesh-io/osm-edge) mesh and takes them out again.
Requests are recorded in Postgres with an append-only audit trail and executed by workers; follow them over
Server-Sent Events (\`GET /v1/onboardings/{id}/events\`) or the GraphQL subscription at \`/graphql\`.

**Authentication**: every call except the operations and docs routes needs \`Authorization: Bearer <token>\` — an API
token (roles \`viewer\`, \`requester\`, \`approver\`, \`admin\`; namespace scopes \`<cluster>/<namespace>\` globs) or an
OIDC JWT when configured. 401 without valid credentials, 403 outside the caller's roles or scopes, before anything is
stored or any cluster write happens.

**Errors** are \`{"error": {"code", "message", "fields"?: [{"field", "message"}], "hint"?, "details"?}}\`.
Each operation lists the codes it can answer (also as \`x-error-codes\`). A request accepted with 202 can
still fail in the worker; its \`errorCode\` is then one of the codes marked *(worker)*.

`;

export interface OpenApiDocument {
  openapi: string;
  info: Json;
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json>; securitySchemes: Json };
  [key: string]: unknown;
}

function mediaContent(r: ApiResponseDoc, ids: SchemaIds): Json | undefined {
  switch (r.media ?? 'json') {
    case 'json':
      return { 'application/json': { schema: r.schema ? ids.ref(r.schema) : { type: 'object' } } };
    case 'sse':
      return {
        'text/event-stream': {
          schema: {
            type: 'string',
            description: 'SSE frames; each `data:` line is one event as JSON (its `contentSchema`).',
            ...(r.schema ? { contentSchema: ids.ref(r.schema) } : {}),
          },
          example: 'id: 1\nevent: request.created\ndata: {"requestId":"…","cursor":1,"type":"request.created",…}\n\n',
        },
      };
    case 'export':
      return {
        'application/x-ndjson': {
          schema: {
            type: 'string',
            description: 'One JSON object per line (its `contentSchema`).',
            ...(r.schema ? { contentSchema: ids.ref(r.schema) } : {}),
          },
        },
        'text/csv': { schema: { type: 'string', description: 'a header row, then one row per event; `data` as JSON' } },
      };
    case 'html':
      return { 'text/html': { schema: { type: 'string' } } };
    case 'text':
      return { 'text/plain': { schema: { type: 'string' } } };
    case 'asset':
      return {
        'application/javascript': { schema: { type: 'string' } },
        'text/css': { schema: { type: 'string' } },
        'image/png': { schema: { type: 'string', contentMediaType: 'image/png' } },
      };
  }
}

function errorResponses(codes: ErrorCode[]): Record<string, Json> {
  const byStatus = new Map<number, ErrorCode[]>();
  const add = (status: number, code: ErrorCode) => byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  for (const code of codes) {
    add(HTTP_STATUS[code], code);
    if (code === 'MALFORMED_REQUEST') add(413, code);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      {
        description: list.map((c) => `\`${c}\`: ${ERROR_DESCRIPTIONS[c] ?? c}`).join('; '),
        content: {
          'application/json': {
            schema: { $ref: '#/components/schemas/Error' },
            examples: Object.fromEntries(
              list.map((c) => [c, { summary: c, value: { error: { code: c, message: ERROR_DESCRIPTIONS[c] ?? c } } }]),
            ),
          },
        },
        ...(status === 429 || status === 503
          ? { headers: { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer' } } } }
          : {}),
        'x-error-codes': list,
      },
    ]),
  );
}

/** The component names of the zod schemas the operations use, and their JSON Schemas. */
class SchemaIds {
  readonly input = new Set<z.ZodType>();
  readonly output = new Set<z.ZodType>([ErrorBodySchema]);

  ref(schema: z.ZodType): Json {
    return { $ref: `#/components/schemas/${schemaId(schema)}` };
  }

  components(): Record<string, Json> {
    const input = convert(this.input, 'input');
    const output = convert(this.output, 'output');
    for (const [id, schema] of Object.entries(input)) {
      if (output[id] && JSON.stringify(output[id]) !== JSON.stringify(schema)) {
        throw new Error(`schema ${id} is both a request and a response schema, and they differ`);
      }
    }
    return { ...input, ...output };
  }
}

function schemaId(schema: z.ZodType): string {
  const id = z.globalRegistry.get(schema)?.id;
  if (!id) throw new Error(`a documented schema has no .meta({ id }): ${JSON.stringify(z.toJSONSchema(schema))}`);
  return id;
}

function clean(schema: unknown, dropClosed: boolean): unknown {
  if (Array.isArray(schema)) return schema.map((s) => clean(s, dropClosed));
  if (!schema || typeof schema !== 'object') return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === '$schema' || k === '$id') continue;
    if (dropClosed && k === 'additionalProperties' && v === false) continue;
    out[k] = clean(v, dropClosed);
  }
  return out;
}

const SHARED = '__shared';

/** JSON Schemas of the named zod schemas and of every named schema inside them, as components. */
function convert(schemas: Set<z.ZodType>, io: 'input' | 'output'): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const schema of schemas) registry.add(schema, { id: schemaId(schema) });
  const { schemas: out } = z.toJSONSchema(registry, {
    io,
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  const { [SHARED]: shared, ...named } = out as Record<string, Json>;
  const all = { ...named, ...((shared?.$defs as Record<string, Json> | undefined) ?? {}) };
  // Responses stay open to new fields; request bodies are strict (unknown fields are refused).
  const text = JSON.stringify(clean(all, io === 'output')).replaceAll(
    `#/components/schemas/${SHARED}#/$defs/`,
    '#/components/schemas/',
  );
  return JSON.parse(text) as Record<string, Json>;
}

function parameters(route: DocumentedRoute, doc: ApiOperationDoc): Json[] {
  const list: Json[] = [];
  for (const name of route.path.match(/\{(\w+)\}/g)?.map((p) => p.slice(1, -1)) ?? []) {
    list.push({ name, in: 'path', required: true, ...(PATH_PARAMS[name] ?? { schema: { type: 'string' } }) });
  }
  if (doc.query) {
    const q = clean(z.toJSONSchema(doc.query, { io: 'input', unrepresentable: 'any' }), false) as {
      properties?: Record<string, Json>;
      required?: string[];
    };
    for (const [name, schema] of Object.entries(q.properties ?? {})) {
      const { description, ...rest } = schema;
      list.push({
        name,
        in: 'query',
        required: q.required?.includes(name) ?? false,
        ...(description ? { description } : {}),
        schema: rest,
      });
    }
  }
  for (const h of doc.headers ?? []) list.push(HEADER_PARAMS[h]);
  return list;
}

function successResponses(doc: ApiOperationDoc, ids: SchemaIds): Json {
  const responses: Json = {};
  for (const [status, r] of Object.entries(doc.responses)) {
    if (r.schema) ids.output.add(r.schema);
    const content = mediaContent(r, ids);
    if (content && r.example !== undefined) {
      const first = Object.values(content)[0] as Json;
      first.example = r.example;
    }
    responses[status] = {
      description: r.description,
      ...(content ? { content } : {}),
      ...(r.headers
        ? {
            headers: Object.fromEntries(
              Object.entries(r.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }]),
            ),
          }
        : {}),
    };
  }
  return responses;
}

function requestBody(doc: ApiOperationDoc, ids: SchemaIds): Json {
  if (!doc.body) return {};
  ids.input.add(doc.body);
  const media = doc.bodyMedia === 'form' ? 'application/x-www-form-urlencoded' : 'application/json';
  return {
    requestBody: {
      required: doc.bodyRequired ?? false,
      content: { [media]: { schema: ids.ref(doc.body), ...(doc.example ? { example: doc.example } : {}) } },
    },
  };
}

function operation(route: DocumentedRoute, doc: ApiOperationDoc, ids: SchemaIds): Json {
  const codes = routeErrors(route);
  const roles = doc.roles ?? [];
  const who = route.isPublic
    ? 'Public: no credentials needed.'
    : `Needs role ${[...roles, ...(roles.includes('admin') ? [] : ['admin'])].map((r) => `\`${r}\``).join(' or ')}.`;
  const params = parameters(route, doc);
  return {
    operationId: doc.operationId,
    tags: [doc.tag],
    summary: doc.summary,
    description: [doc.description, who, `Error codes: ${codes.map((c) => `\`${c}\``).join(', ')}.`]
      .filter(Boolean)
      .join('\n\n'),
    ...(route.isPublic ? { security: [] } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...requestBody(doc, ids),
    responses: { ...successResponses(doc, ids), ...errorResponses(codes) },
    'x-error-codes': codes,
    ...(route.isPublic ? {} : { 'x-roles': roles }),
  };
}

const TAGS = [
  { name: 'onboarding', description: 'Requests: create, plan, follow, cancel, retry.' },
  { name: 'approvals', description: 'Requests held by the approval policy.' },
  { name: 'batches', description: 'Several namespaces handled as a whole.' },
  { name: 'namespaces', description: 'Live namespace status per cluster; re-applying an onboarding.' },
  { name: 'webhooks', description: 'Signed event deliveries for chatops.' },
  { name: 'integrations', description: 'Callbacks from chat platforms (Slack).' },
  { name: 'audit', description: 'Audit export.' },
  { name: 'tokens', description: 'API tokens (admin).' },
  { name: 'operations', description: 'Health, readiness, metrics.' },
  { name: 'docs', description: 'This documentation.' },
];

/** Served handlers without an @ApiOperation. */
export const undocumented = (routes: DocumentedRoute[]) =>
  routes.filter((r) => !r.doc).map((r) => `${r.method.toUpperCase()} ${r.path} (${r.handler})`);

/** The OpenAPI 3.1 document for the served routes, from their @ApiOperation. Pure; the docs controller caches it. */
export function buildOpenApiDocument(routes: DocumentedRoute[]): OpenApiDocument {
  const ids = new SchemaIds();
  const paths: OpenApiDocument['paths'] = {};
  // A handler without @ApiOperation is left out; test/integration/openapi.spec.ts and scripts/dump-api.ts fail on it.
  for (const route of routes)
    if (route.doc) (paths[route.path] ??= {})[route.method] = operation(route, route.doc, ids);
  return {
    openapi: '3.1.0',
    info: {
      title: 'osm-onboarding',
      version: packageVersion(),
      summary: 'Onboard and offboard Kubernetes namespaces into an osm-edge service mesh',
      description: DESCRIPTION + '### Error codes\n\n' + errorTable(),
    },
    servers: [{ url: '/' }],
    tags: TAGS,
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: ids.components(),
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API token (`osmo_…`, or the bootstrap admin token) or an OIDC JWT.',
        },
      },
    },
    externalDocs: { description: 'GraphQL: /graphql (schema committed as schema.graphql)', url: '/graphql' },
  };
}
