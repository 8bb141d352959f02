// Owns the HTTP server under Nest (HTTP_PLATFORM=express|fastify) and the edge every call crosses on it, in this
// order: the shutdown drain's count, helmet's headers, the request id + SERVER span (X-Request-Id), the 400/414 for a
// path no router should read (request-path.ts: Fastify's router finds these first, and its frameworkErrors answer
// through this same edge), the 422 for an Idempotency-Key or Last-Event-ID sent twice (single-headers.ts), the 415
// for a /v1 or /graphql body that is not JSON or a JSON body in a charset other than UTF-8, the JSON body
// (application/json or */*+json, plain, gzip, deflate or br; 64 kB once decoded), the 422 for a /v1 query string or
// body holding text Postgres cannot store (NUL, a lone surrogate), then the span, log and caller contexts the
// handlers run in. Express runs these as middleware; Fastify as hooks (onRequest before its body
// parsing, preHandler after it, so the contexts reach the handler). Slack's form-encoded callback is read as raw bytes
// on both (its signature is over them). Errors of both (body too large, malformed JSON, unknown route) reach the same
// exception filter. The edge's refusals and the filter's answer on /graphql in GraphQL's error shape
// (common/error-body.ts). What Node's HTTP parser refuses before either (no valid HTTP/1.1 request) is answered coded
// by the server's 'clientError' listener on both (answerClientError), in REST's shape (no path is read yet).
import { Logger, type DynamicModule, type INestApplication, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Request as ExpressRequest } from 'express';
import type { FastifyReply, FastifyRequest } from 'fastify';
import helmet from 'helmet';
import { maxHeaderSize, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex, Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { withCallerSlot } from '../auth/caller-context.js';
import { errorBodyFor, pathOfUrl } from '../common/error-body.js';
import { nonJsonBody } from '../common/json-content-type.js';
import { repeatedHeader } from '../common/single-headers.js';
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
  // Node answers an HTTP/1.1 request without a Host header with a bare 400 before any hook: the edge answers it
  // instead, coded (missingHost below).
  (app.getHttpServer() as Server & { requireHostHeader?: boolean }).requireHostHeader = false;
  return app;
}

async function expressApp(module: Type | DynamicModule, drain: HttpDrain): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(module, { bufferLogs: true, bodyParser: false });
  app.getHttpServer().on('clientError', answerClientError);
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
    const refusal = missingHost(req) ?? pathRefusal(pathOf(req)) ?? repeatedHeader(req.rawHeaders);
    if (!refusal) return next();
    if (refusal === MISSING_HOST) res.setHeader('Connection', 'close');
    const body = errorBodyFor(pathOf(req), refusal.body);
    enterHttpCall(calls.get(req)!, undefined, () => res.status(refusal.status).json(body));
  });
  // Before the body parser: body-parser would decode a body in another charset (utf-16) itself.
  app.use((req: ExpressRequest, res: Replying, next: () => void) => {
    const refusal = nonJsonBody(req);
    if (!refusal) return next();
    const body = errorBodyFor(pathOf(req), refusal);
    enterHttpCall(calls.get(req)!, undefined, () => res.status(HTTP_STATUS.UNSUPPORTED_MEDIA_TYPE).json(body));
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
    // What Node's HTTP parser refuses is answered coded, as on Express (instead of Fastify's own body).
    clientErrorHandler: answerClientError,
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
        void reply.code(refusal.status).send(errorBodyFor(pathOf(request.raw), refusal.body));
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
      const badPath = missingHost(request.raw) ?? pathRefusal(path) ?? repeatedHeader(request.raw.rawHeaders);
      if (badPath) {
        if (badPath === MISSING_HOST) void reply.header('connection', 'close');
        const body = errorBodyFor(path, badPath.body);
        enterHttpCall(call, undefined, () => void reply.code(badPath.status).send(body));
        return;
      }
      const refusal = nonJsonBody({ method: request.method, path, headers: request.headers });
      if (refusal) {
        const body = errorBodyFor(path, refusal);
        enterHttpCall(call, undefined, () => void reply.code(HTTP_STATUS.UNSUPPORTED_MEDIA_TYPE).send(body));
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
  // An empty body sent as JSON is no body, as Express's parser reads it (Fastify's answers 400): many clients send the
  // header on a POST without one (`apply`, `retry`; an outside audit).
  const json = fastify.getDefaultJsonParser('ignore', 'ignore');
  const jsonOrNone: typeof json = (request, body, done) =>
    body === '' || (Buffer.isBuffer(body) && body.length === 0) ? done(null, undefined) : json(request, body, done);
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, jsonOrNone);
  fastify.addContentTypeParser(JSON_SUBTYPE, { parseAs: 'string' }, jsonOrNone);
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

/** An HTTP/1.1 request without a Host header (RFC 9112 §3.2: a 400), which Node no longer refuses itself. */
const MISSING_HOST = {
  status: HTTP_STATUS.MALFORMED_REQUEST,
  body: { error: { code: 'MALFORMED_REQUEST', message: 'malformed request: an HTTP/1.1 request needs a Host header' } },
};
const missingHost = (req: IncomingMessage) =>
  req.httpVersion === '1.1' && req.headers.host === undefined ? MISSING_HOST : undefined;

const clientErrorLogger = new Logger('HttpClientError');

/** Node's limit on the request line and headers together (16 kB unless --max-http-header-size says otherwise). */
const HEADER_LIMIT_KB = Math.round(maxHeaderSize / 1024);

/** What Node's HTTP parser adds to the error of a request it refused. */
type ParserError = Error & { code?: string; rawPacket?: unknown; bytesParsed?: number };

/**
 * What Node's HTTP parser refused (its 'clientError': a request no router sees, so the edge above never runs), as
 * the status and message of a coded MALFORMED_REQUEST. Nothing of the request is repeated.
 */
function clientErrorAnswer(err: ParserError): { status: number; message: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return requestLineOverflow(err)
        ? { status: 414, message: 'malformed request: the URL is too long' }
        : { status: 431, message: `malformed request: the request headers are over ${HEADER_LIMIT_KB} kB` };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, message: 'malformed request: the chunk extensions of the body are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, message: 'malformed request: the request did not arrive in time' };
    case 'HPE_INVALID_EOF_STATE':
      return { status: 400, message: 'malformed request: the connection ended before the request was complete' };
    case 'HPE_INVALID_METHOD':
      return { status: 400, message: 'malformed request: the method is not one HTTP defines' };
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_INVALID_CHUNK_SIZE':
      return {
        status: 400,
        message: 'malformed request: the body is framed by Content-Length and Transfer-Encoding, or by an invalid one',
      };
    case 'HPE_INVALID_HEADER_TOKEN':
      return { status: 400, message: 'malformed request: a header holds a character HTTP does not allow' };
    default:
      return { status: 400, message: 'malformed request: not a valid HTTP/1.1 request' };
  }
}

/**
 * Whether a header overflow happened on the request line (a URL over the limit: 414, not 431): the packet being
 * parsed starts with a method and holds no line end before the point of the error. The limit is almost always
 * crossed in the first packet read (64 kB); a request line sent in many small writes may be reported as a 431.
 */
function requestLineOverflow(err: ParserError): boolean {
  const packet = err.rawPacket;
  if (!Buffer.isBuffer(packet) || !/^[A-Z]+ /.test(packet.subarray(0, 24).toString('latin1'))) return false;
  return !packet.subarray(0, err.bytesParsed ?? packet.length).includes(0x0a);
}

/**
 * The server's 'clientError' listener on both platforms (Fastify's clientErrorHandler): a minimal coded answer, then
 * the connection closed. Nothing is written to a socket that cannot take it (a reset) or under a response already
 * started (the bytes would corrupt it).
 */
function answerClientError(err: ParserError, socket: Duplex): void {
  const started = (socket as { _httpMessage?: ServerResponse })._httpMessage?.headersSent === true;
  if (err.code === 'ECONNRESET' || !socket.writable || started) {
    socket.destroy();
    return;
  }
  const { status, message } = clientErrorAnswer(err);
  clientErrorLogger.debug(`${status} ${err.code ?? 'client error'}`);
  const body = JSON.stringify({ error: { code: 'MALFORMED_REQUEST', message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n` +
      body,
    () => socket.destroy(),
  );
}

/** The marks of an `http-errors` error (body-parser's), which Nest's adapters turn into an HttpException. */
const httpError = (status: number) => ({ status, statusCode: status, expose: true });

const pathOf = (req: IncomingMessage) => pathOfUrl(req.url);
