// Owns the HTTP server under Nest (HTTP_PLATFORM=express|fastify) and the edge every call crosses on it, in this
// order: the shutdown drain's count, helmet's headers, the request id + SERVER span (X-Request-Id), the 400/414 for a
// path no router should read (request-path.ts: Fastify's router finds these first, and its frameworkErrors answer
// through this same edge), the 415 for a /v1 body that is not JSON or a JSON body in a charset other than UTF-8, the
// JSON body (application/json or */*+json, plain, gzip, deflate or br; 64 kB once decoded), the 422 for a /v1 query
// string or body holding text Postgres cannot store (NUL, a lone surrogate), then the span, log and caller contexts
// the handlers run in. Express runs these as middleware; Fastify as hooks (onRequest before its body parsing,
// preHandler after it, so the contexts reach the handler). Slack's form-encoded callback is read as raw bytes on both
// (its signature is over them). Errors of both (body too large, malformed JSON, unknown route) reach the same
// exception filter.
import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Request as ExpressRequest } from 'express';
import type { FastifyReply, FastifyRequest } from 'fastify';
import helmet from 'helmet';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { withCallerSlot } from '../auth/caller-context.js';
import { nonJsonBody } from '../common/json-content-type.js';
import { HTTP_STATUS } from '../common/http-status.js';
import { BAD_PATH, LONG_PATH_SEGMENT, pathRefusal } from '../common/request-path.js';
import { unstorableInput } from '../common/storable-text.js';
import type { AppConfig } from '../config/config.js';
import { enterHttpCall, requestIdFor, startHttpCall, type HttpCall } from '../observability/http-context.js';
import type { HttpDrain } from '../reliability/shutdown.js';

export const BODY_LIMIT_BYTES = 64 * 1024;

/** A JSON body's Content-Type: application/json or any `application/…+json` (as nonJsonBody admits). */
const JSON_TYPES = ['application/json', '+json'];
const JSON_SUBTYPE = /^application\/[^;\s]+\+json\s*(;|$)/i;

/** The body encodings read on both platforms: body-parser's set (identity needs nothing). */
const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

// GraphiQL needs its inline script, so CSP stays off; the other helmet headers apply.
const securityHeaders = () => helmet({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false });

const routesOf = new WeakMap<INestApplication, { method: string; path: string }[]>();

/** The routes the platform's router serves (method in lower case, path as registered). */
export function platformRoutes(app: INestApplication): { method: string; path: string }[] {
  const fastify = routesOf.get(app);
  if (fastify) return fastify;
  type Layer = { route?: { path: string | string[]; methods: Record<string, boolean> } };
  const express = app.getHttpAdapter().getInstance() as { router?: { stack: Layer[] } };
  return (express.router?.stack ?? []).flatMap((layer) =>
    layer.route
      ? [layer.route.path].flat().flatMap((path) =>
          Object.entries(layer.route!.methods)
            .filter(([, on]) => on)
            .map(([method]) => ({ method, path })),
        )
      : [],
  );
}

/** Creates the Nest app on the configured platform with the edge above installed. */
export async function createHttpApp(
  module: Type | DynamicModule,
  opts: { config: AppConfig; drain: HttpDrain },
): Promise<INestApplication> {
  const app = await (opts.config.httpPlatform === 'fastify'
    ? fastifyApp(module, opts.drain)
    : expressApp(module, opts.drain));
  // An idle client connection is kept HTTP_KEEP_ALIVE_MS on both platforms. Node's server closes one after 5 s
  // (Express's), Fastify after 72 s: a load balancer that keeps its idle connections to the service longer than the
  // service does (AWS ALB: 60 s) can send a request down one the service is closing, and answers its client 502.
  (app.getHttpServer() as Server).keepAliveTimeout = opts.config.httpKeepAliveMs;
  return app;
}

async function expressApp(module: Type | DynamicModule, drain: HttpDrain): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(module, { bufferLogs: true, bodyParser: false });
  app.use((req: ExpressRequest, res: ServerResponse, next: () => void) => {
    drain.track(req, res);
    next();
  });
  app.use(securityHeaders());
  const calls = new WeakMap<object, HttpCall>();
  app.use((req: ExpressRequest, res: ServerResponse, next: () => void) => {
    // Before the body parser, so its refusals (400, 413) carry the request id too.
    const call = startHttpCall(
      {
        method: req.method,
        path: req.path,
        headers: req.headers,
        // Express 5 patterns such as Apollo's `/graphql{/*splat}` are named by their fixed part.
        route: () => {
          const route = (req.route as { path?: string } | undefined)?.path;
          return route ? `${req.baseUrl ?? ''}${route}`.replace(/\{\/\*\w+\}$/, '') : undefined;
        },
      },
      res,
    );
    (req as { id?: string }).id = call.id;
    calls.set(req, call);
    next();
  });
  type Replying = ServerResponse & { status(c: number): { json(b: object): void } };
  // Before routing: Express's router decodes a parameter itself (its 400 repeats it) and takes any length.
  app.use((req: ExpressRequest, res: Replying, next: () => void) => {
    const refusal = pathRefusal(pathOf(req));
    if (!refusal) return next();
    enterHttpCall(calls.get(req)!, undefined, () => res.status(refusal.status).json(refusal.body));
  });
  // Before the body parser: body-parser would decode a body in another charset (utf-16) itself.
  app.use((req: ExpressRequest, res: Replying, next: () => void) => {
    const refusal = nonJsonBody(req);
    if (!refusal) return next();
    enterHttpCall(calls.get(req)!, undefined, () => res.status(HTTP_STATUS.UNSUPPORTED_MEDIA_TYPE).json(refusal));
  });
  app.useBodyParser('json', { limit: BODY_LIMIT_BYTES, type: JSON_TYPES });
  app.use((req: ExpressRequest, res: Replying, next: () => void) => {
    const call = calls.get(req)!;
    const refusal = unstorableInput(req);
    if (refusal) {
      enterHttpCall(call, undefined, () => res.status(HTTP_STATUS.VALIDATION_FAILED).json(refusal));
      return;
    }
    enterHttpCall(call, req.body, () => withCallerSlot(next));
  });
  return app;
}

const CALL = Symbol('osm-onboarding:http-call');
type WithCall = FastifyRequest & { [CALL]?: HttpCall };

async function fastifyApp(module: Type | DynamicModule, drain: HttpDrain): Promise<INestApplication> {
  // Loaded only when chosen: the Express platform's process does not carry Fastify, and the reverse.
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  // Routing as Express does it: case-insensitive, a trailing slash ignored.
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: false,
    // The call's id is chosen as the request is created, so middie's copy onto the Node request (read by the
    // access log) is ours too.
    genReqId: (req: IncomingMessage) => requestIdFor(req.headers),
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true },
    // JSON as JSON.parse reads it (Express's parser): a `__proto__` key is an own property, which the input
    // schemas refuse as an unknown field (422 naming it) instead of a 400 that names nothing.
    onProtoPoisoning: 'ignore',
    // The router's own refusals (a path that is not percent-encoded UTF-8: FST_ERR_BAD_URL; a path parameter over
    // 100 characters: FST_ERR_MAX_PARAM_LENGTH) come before any hook: answered through the edge below (helmet, the
    // request id, the span), as the edge answers the same path on Express, instead of Fastify's body, which
    // repeats the URL.
    frameworkErrors: (error: Error & { statusCode?: number }, request: FastifyRequest, reply: FastifyReply) =>
      edge(request, reply, false, () => {
        // Not reached when the edge read the path as the router did (it refuses it first).
        const refusal = error.statusCode === 414 ? LONG_PATH_SEGMENT : BAD_PATH;
        void reply.code(refusal.status).send(refusal.body);
      }),
  });
  const fastify = adapter.getInstance();
  const routes: { method: string; path: string }[] = [];
  fastify.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') routes.push({ method: method.toLowerCase(), path: route.url });
    }
  });
  const helmetStep = securityHeaders();
  /** The edge's first steps; `routed`: false for a call the router refused (no route, so no route options). */
  const edge = (request: WithCall, reply: FastifyReply, routed: boolean, done: (err?: Error) => void) => {
    const raw = reply.raw;
    const path = pathOf(request.raw);
    drain.track({ path, headers: request.headers }, raw);
    helmetStep(request.raw, raw, (err?: unknown) => {
      if (err) return done(err as Error);
      const call = startHttpCall(
        {
          id: request.id,
          method: request.method,
          path,
          headers: request.headers,
          route: () => (routed ? request.routeOptions.url : undefined),
        },
        raw,
      );
      (request.raw as { id?: string }).id = call.id;
      request[CALL] = call;
      const badPath = pathRefusal(path);
      if (badPath) {
        enterHttpCall(call, undefined, () => void reply.code(badPath.status).send(badPath.body));
        return;
      }
      const refusal = nonJsonBody({ path, headers: request.headers });
      if (refusal) {
        enterHttpCall(call, undefined, () => void reply.code(HTTP_STATUS.UNSUPPORTED_MEDIA_TYPE).send(refusal));
        return;
      }
      done();
    });
  };
  fastify.addHook('onRequest', (request: WithCall, reply: FastifyReply, done: (err?: Error) => void) =>
    edge(request, reply, true, done),
  );
  // Express's JSON parser reads gzip, deflate and br bodies; Fastify's only plain ones: decoded here, before
  // Fastify reads the body, so its bodyLimit counts the decoded bytes (a small body that inflates past 64 kB is a
  // 413, as on Express). An encoding neither reads is a 415.
  fastify.addHook('preParsing', (request: FastifyRequest, _reply: FastifyReply, payload, done) => {
    const encoding = String(request.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding === 'identity') return done(null, payload);
    const decoder = DECODERS[encoding];
    if (!decoder) {
      const message = `unsupported content encoding "${encoding}"`;
      return done(Object.assign(new Error(message), httpError(415), { type: 'encoding.unsupported' }));
    }
    const decoded = decoder() as Transform & { receivedEncodedLength: number };
    decoded.receivedEncodedLength = 0; // Fastify compares the bytes received with Content-Length
    // First listener: zlib's error (its code kept) becomes a 400 before Fastify's reader sees it.
    decoded.once('error', (err) => Object.assign(err, httpError(400)));
    payload.on('data', (chunk: Buffer) => (decoded.receivedEncodedLength += chunk.length));
    payload.on('error', (err) => decoded.destroy(err));
    done(null, payload.pipe(decoded));
  });
  fastify.addContentTypeParser(JSON_SUBTYPE, { parseAs: 'string' }, fastify.getDefaultJsonParser('ignore', 'ignore'));
  // Slack signs the exact bytes of its form-encoded body: kept as a Buffer (the controller verifies, then parses).
  fastify.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'buffer', bodyLimit: BODY_LIMIT_BYTES },
    (_req, body, done) => done(null, body),
  );
  // Express's res.send names the charset of a text body whose type does not (GraphiQL's page): so does this.
  fastify.addHook('onSend', (_request: FastifyRequest, reply: FastifyReply, payload: unknown, done: () => void) => {
    const type = reply.getHeader('content-type');
    if (typeof payload === 'string' && typeof type === 'string' && !/charset=/i.test(type)) {
      reply.header('content-type', `${type}; charset=utf-8`);
    }
    done();
  });
  fastify.addHook('preHandler', (request: WithCall, reply: FastifyReply, done: () => void) => {
    const call = request[CALL];
    if (!call) return done();
    const refusal = unstorableInput({ path: pathOf(request.raw), query: request.query, body: request.body });
    if (refusal) {
      enterHttpCall(call, undefined, () => void reply.code(HTTP_STATUS.VALIDATION_FAILED).send(refusal));
      return;
    }
    enterHttpCall(call, request.body, () => withCallerSlot(done));
  });
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, {
    bufferLogs: true,
    bodyParser: false,
  });
  routesOf.set(app, routes);
  return app;
}

/** The marks of an `http-errors` error (body-parser's), which Nest's adapters turn into an HttpException. */
const httpError = (status: number) => ({ status, statusCode: status, expose: true });

const pathOf = (req: IncomingMessage) => {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
};
