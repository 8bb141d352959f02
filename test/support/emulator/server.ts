// HTTP front end of the emulator (node:http, and node:http2 over TLS): authentication and authorization (identity.ts,
// rbac.ts), routing of /api and /apis paths, content negotiation, watch streaming, discovery, fault injection and the
// /_emulator admin API.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { constants as h2, createSecureServer, type Http2SecureServer } from 'node:http2';
import { createServer as createTlsServer } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { CORE_SCHEMA, load } from 'js-yaml';
import { acceptedPatchTypes, dryRunNotSupported, PATCH_CONTENT_TYPES, type KubeApi, type ListOptions } from './api.js';
import {
  aggregatedContentType,
  aggregatedDiscovery,
  aggregatedVersion,
  apiGroupDocument,
  apiGroupList,
  apiResourceList,
  apiVersions,
  VERSION_INFO,
} from './discovery.js';
import {
  badRequest,
  fieldErr,
  genericServerResponse,
  goJsonError,
  goQuote,
  internalError,
  invalid,
  isStatusError,
  notAcceptable,
  notFound,
  resourceExpired,
  statusForCode,
  StatusError,
  unauthorized,
  unknownError,
  unsupportedMediaType,
  type FieldError,
  type StatusBody,
} from './errors.js';
import type { PodHold, PodReadiness } from './controllers.js';
import { Faults, RequestRecorder, validateRule, type RequestLogEntry } from './faults.js';
import { Authenticator } from './identity.js';
import { forbiddenStatus, RbacAuthorizer, requestAttributes, type UserInfo } from './rbac.js';
import { apiVersionOf, groupResource, typeKey, type ResourceType } from './resources.js';
import type { StoreEvent } from './store.js';
import { openApiV3Document, openApiV3Index } from './openapi.js';
import { decodeAccessReview } from './protobuf.js';
import { toTable, wantsTable, type IncludeObject } from './tables.js';
import { EMULATOR_TLS_CERT, EMULATOR_TLS_KEY } from './tls.js';
import { isObject, type KubeObject } from './types.js';
import type { WorkTracker } from './work.js';

export interface ServerDeps {
  api: KubeApi;
  faults: Faults;
  requests: RequestRecorder;
  work: WorkTracker;
  /** Who a bearer token is: the emulator's admin token, or a ServiceAccount token from a TokenRequest. */
  authn: Authenticator;
  /** system:masters, then RBAC over the stored roles and bindings. */
  authz: RbacAuthorizer;
  /** How often a watch that asked for bookmarks gets one; default kube-apiserver's minute (cacher.go). */
  bookmarkIntervalMs?: number;
  /** Offer HTTP/2 over TLS (ALPN h2, then http/1.1), as kube-apiserver does; default true. */
  http2?: boolean;
  /** The kubelet's readiness holds (`/_emulator/pod-holds`). */
  pods?: PodReadiness;
}

interface ResourceRoute {
  kind: 'resource';
  group: string;
  version: string;
  rt: ResourceType;
  namespace: string;
  name: string;
  subresource: string;
  watchPath: boolean;
}

interface OtherRoute {
  kind: 'other';
  group: string;
  version: string;
  handler: (req: IncomingMessage) => Reply;
}

type Route = ResourceRoute | OtherRoute;

interface Reply {
  status: number;
  body: unknown;
  contentType?: string;
  headers?: Record<string, string | string[]>;
}

/** A `Warning` header value as kube-apiserver writes it (RFC 7234 warn-code 299, no agent). */
function warningHeader(text: string): string {
  return `299 - "${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

const JSON_TYPE = 'application/json';
const PUBLIC_PATHS = new Set(['/version', '/healthz', '/livez', '/readyz']);

function statusReply(err: StatusError): Reply {
  const headers: Record<string, string> = {};
  const retry = err.status.details?.retryAfterSeconds;
  if (retry) headers['Retry-After'] = String(retry);
  return { status: err.code, body: err.status, headers };
}

function parseBool(value: string | null): boolean | undefined {
  if (value === null) return undefined;
  return value === 'true' || value === '1';
}

function queryOptions(params: URLSearchParams): ListOptions {
  const limit = params.get('limit');
  return {
    labelSelector: params.get('labelSelector') ?? undefined,
    fieldSelector: params.get('fieldSelector') ?? undefined,
    limit: limit ? Number(limit) : undefined,
    continue: params.get('continue') ?? undefined,
    resourceVersion: params.get('resourceVersion') ?? undefined,
  };
}

/**
 * ValidateListOptions (apimachinery/pkg/apis/meta/internalversion/validation), with the WatchList feature on as in
 * 1.32: 422 on ListOptions for resourceVersionMatch and sendInitialEvents combinations kube-apiserver refuses.
 */
export function validateListOptions(params: URLSearchParams, watch: boolean): void {
  const errs: FieldError[] = [];
  const match = params.get('resourceVersionMatch') ?? '';
  const sendInitialEvents = params.get('sendInitialEvents');
  const rv = params.get('resourceVersion') ?? '';
  const cont = params.get('continue') ?? '';
  const forbid = (field: string, detail: string) => errs.push(fieldErr.forbidden(field, detail));
  if (watch) {
    if (sendInitialEvents !== null && match !== 'NotOlderThan')
      forbid('resourceVersionMatch', 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan');
    if (match) {
      if (sendInitialEvents === null)
        forbid(
          'resourceVersionMatch',
          'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
        );
      if (match !== 'NotOlderThan') errs.push(fieldErr.notSupported('resourceVersionMatch', match, ['NotOlderThan']));
      if (cont) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
    }
  } else {
    if (match) {
      if (!rv) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided');
      if (cont) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
      if (match !== 'Exact' && match !== 'NotOlderThan')
        errs.push(fieldErr.notSupported('resourceVersionMatch', match, ['Exact', 'NotOlderThan', '']));
      if (match === 'Exact' && rv === '0')
        forbid('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
    }
    if (sendInitialEvents !== null) forbid('sendInitialEvents', 'sendInitialEvents is forbidden for list');
  }
  if (errs.length > 0) throw invalid('ListOptions', 'meta.k8s.io', '', errs);
  // Then the storage parses resourceVersion (APIObjectVersioner.ParseResourceVersion, strconv.ParseUint): a value
  // that is no uint64 is a 500 with an empty reason, as kube-apiserver 1.32 still answers it (kubernetes#139485).
  const bad = rv ? parseUintError(rv) : undefined;
  if (bad)
    throw unknownError(
      `resourceVersion: Invalid value: ${goQuote(rv)}: strconv.ParseUint: parsing ${goQuote(rv)}: ${bad}`,
    );
}

/** Why Go's strconv.ParseUint(text, 10, 64) refuses `text`, or undefined when it parses. */
function parseUintError(text: string): string | undefined {
  if (!/^\d+$/.test(text)) return 'invalid syntax';
  return BigInt(text) > 2n ** 64n - 1n ? 'value out of range' : undefined;
}

function baseContentType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

function acceptsJson(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(',').some((part) => {
    const type = part.split(';')[0].trim().toLowerCase();
    return type === '*/*' || type === 'application/*' || type === 'application/json' || type === 'application/yaml';
  });
}

/**
 * One TCP port serving both plain HTTP and TLS: the first byte of a connection tells them apart
 * (0x16 starts a TLS handshake). client-node accepts http:// kubeconfigs, but kubectl only sends a
 * bearer token over TLS, so the kubeconfig points at https:// on the same port.
 */
export class EmulatorServer {
  private readonly tcp: TcpServer;
  private readonly http: Server;
  private readonly https: Server | Http2SecureServer;
  private readonly sockets = new Set<Socket>();
  /** TCP connections accepted since start (tests check that clients reuse keep-alive connections). */
  connectionsAccepted = 0;
  private readonly watchClosers = new Set<() => void>();

  constructor(private readonly deps: ServerDeps) {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          const status = internalError((err as Error).message ?? String(err));
          res.writeHead(500, { 'Content-Type': JSON_TYPE });
          res.end(JSON.stringify(status.status));
        } else {
          res.destroy();
        }
      });
    };
    this.http = createServer(handler);
    // kube-apiserver (Go's net/http) offers h2 first over TLS, and Go's TLS picks the server's preference, so a
    // client that offers h2 (client-go, kubectl, undici as this service uses it) talks HTTP/2: many calls, watches
    // included, as streams of one connection. HTTP/1.1 stays for clients that offer only it. Plain HTTP stays
    // HTTP/1.1 (h2c needs prior knowledge, which no Kubernetes client has).
    const tls = { cert: EMULATOR_TLS_CERT, key: EMULATOR_TLS_KEY };
    this.https =
      deps.http2 === false
        ? createTlsServer(tls, handler)
        : // The compatibility API's request and response stand in for node:http's.
          // maxSessionMemory (MB): Node's default of 10 refuses new streams (ENHANCE_YOUR_CALM) while large answers
          // are in flight, a 2,000-pod list's 20 MB among them; Go's HTTP/2 server (kube-apiserver's) has no such cap.
          createSecureServer(
            { ...tls, allowHTTP1: true, maxSessionMemory: 1000 },
            handler as unknown as Parameters<typeof createSecureServer>[1],
          );
    this.tcp = createTcpServer((socket) => {
      this.connectionsAccepted++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.once('data', (first: Buffer) => {
        socket.pause();
        socket.unshift(first);
        (first[0] === 0x16 ? this.https : this.http).emit('connection', socket);
        process.nextTick(() => socket.resume());
      });
    });
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen(port, '127.0.0.1', () => {
        const address = this.tcp.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  private port(): number {
    const address = this.tcp.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  /** Watches open now. */
  openWatches(): number {
    return this.watchClosers.size;
  }

  /** Ends every open watch cleanly (as kube-apiserver does when a watch's timeout passes); returns how many. */
  closeWatches(): number {
    const open = [...this.watchClosers];
    for (const close of open) close();
    return open.length;
  }

  async close(): Promise<void> {
    for (const close of [...this.watchClosers]) close();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
  }

  // ------------------------------------------------------------------ dispatch

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (url.pathname.startsWith('/_emulator/') || url.pathname === '/_emulator') {
      await this.handleAdmin(req, res, url);
      return;
    }
    const started = Date.now();
    const body = await readBody(req);
    const entry: RequestLogEntry = {
      method: req.method ?? 'GET',
      verb: 'get',
      apiGroup: '',
      apiVersion: '',
      status: 0,
      contentType: req.headers['content-type'],
      userAgent: req.headers['user-agent'],
      traceparent: typeof req.headers.traceparent === 'string' ? req.headers.traceparent : undefined,
      at: started,
      protocol: req.httpVersionMajor === 2 ? 'h2' : 'http/1.1',
      path: url.pathname,
      query: url.search,
      durationMs: 0,
    };

    let route: Route | undefined;
    /** A custom resource's own 404 (an unknown subresource: crdHandler's NewNotFound naming the object). */
    let routeError: StatusError | undefined;
    try {
      route = this.route(url.pathname);
    } catch (err) {
      if (!isStatusError(err)) throw err;
      routeError = err;
    }
    if (route?.kind === 'resource') {
      Object.assign(entry, {
        apiGroup: route.group,
        apiVersion: route.version,
        resource: route.rt.plural,
        subresource: route.subresource || undefined,
        namespace: route.namespace || undefined,
        name: route.name || undefined,
        verb: rbacVerb(req.method ?? 'GET', route, url.searchParams),
      });
    } else if (route) {
      Object.assign(entry, { apiGroup: route.group, apiVersion: route.version });
    }

    const user = this.authenticate(req, url.pathname);
    if (user instanceof StatusError) {
      this.finish(res, entry, statusReply(user));
      return;
    }
    if (user) {
      entry.user = user.name;
      // WithAuthorization: before the request reaches any handler (even for paths nothing serves).
      const attrs = requestAttributes(req.method ?? 'GET', url.pathname, url.searchParams);
      const decision = this.deps.authz.authorize(user, attrs);
      if (!decision.allowed) {
        this.finish(res, entry, statusReply(forbiddenStatus(user, attrs, decision.reason)));
        return;
      }
    }

    const decision = this.deps.faults.decide(entry);
    if (decision.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, decision.latencyMs));
    const rule = decision.rule;
    if (rule?.applied && route && route.kind !== 'other' && entry.verb !== 'watch') {
      try {
        this.resourceRequest(req, route, url.searchParams, body, user);
      } catch {
        // Refused: nothing was applied, and the fault below is the answer either way.
      }
    }
    if (rule?.drop) {
      this.log({ ...entry, fault: 'drop', durationMs: Date.now() - started });
      // The request's transport ends without an answer: its connection on HTTP/1.1, its stream on HTTP/2 (the
      // connection's other streams go on, as when a server resets one stream).
      if (req.httpVersionMajor === 2)
        (res as unknown as { stream: { close(code: number): void } }).stream.close(h2.NGHTTP2_INTERNAL_ERROR);
      else req.socket.destroy();
      return;
    }
    if (rule?.end) {
      this.log({ ...entry, status: 200, fault: 'end', durationMs: Date.now() - started });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end();
      return;
    }
    if (rule?.timeout) {
      this.log({ ...entry, fault: 'timeout', durationMs: Date.now() - started });
      return; // the socket stays open until the client gives up or the emulator closes
    }
    if (rule && rule.status !== undefined) {
      this.finish(res, { ...entry, fault: 'error' }, statusReply(faultStatus(rule, entry)));
      return;
    }

    if (!route) {
      // go-restful's 404 (a JSON Status) under a built-in group's own paths; elsewhere (a custom resource's group,
      // a CRD not installed or not served in that version, any other path) the notfoundhandler's plain text.
      const reply = this.servedByGoRestful(url.pathname)
        ? statusReply(pageNotFound())
        : routeError
          ? statusReply(routeError)
          : plainNotFound();
      this.finish(res, entry, reply);
      return;
    }
    if (!acceptsJson(req.headers.accept)) {
      this.finish(res, entry, statusReply(notAcceptable(['application/json', 'application/yaml'])));
      return;
    }
    try {
      if (route.kind === 'other') {
        this.finish(res, entry, route.handler(req));
        return;
      }
      if (entry.verb === 'watch') {
        this.startWatch(req, res, route, url.searchParams, entry);
        return;
      }
      this.finish(res, entry, this.resourceRequest(req, route, url.searchParams, body, user));
    } catch (err) {
      if (isStatusError(err)) this.finish(res, entry, statusReply(err));
      else this.finish(res, entry, statusReply(internalError((err as Error).message ?? String(err))));
    }
  }

  /** The request's user; undefined for an anonymous request to a public path (not authorized further). */
  private authenticate(req: IncomingMessage, path: string): UserInfo | StatusError | undefined {
    const header = req.headers.authorization;
    if (!header) return PUBLIC_PATHS.has(path) ? undefined : unauthorized();
    const match = /^Bearer\s+(.+)$/i.exec(header);
    return (match && this.deps.authn.authenticate(match[1].trim())) || unauthorized();
  }

  private log(entry: RequestLogEntry): void {
    this.deps.requests.push(entry);
  }

  private finish(res: ServerResponse, entry: RequestLogEntry, reply: Reply): void {
    const contentType = reply.contentType ?? JSON_TYPE;
    const payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    res.writeHead(reply.status, { 'Content-Type': contentType, 'Audit-Id': cryptoId(), ...(reply.headers ?? {}) });
    res.end(payload);
    this.log({ ...entry, status: reply.status, durationMs: Date.now() - entry.at });
  }

  // ------------------------------------------------------------------ routing

  /**
   * Whether kube-apiserver's director hands `pathname` to go-restful (genericapiserver's APIServerHandler): under
   * the root path of a web service it registered (below). CRDs are served outside go-restful (apiextensions'
   * crdHandler), and what neither serves reaches the notfoundhandler (k8s.io/apiserver/pkg/util/notfoundhandler).
   */
  private servedByGoRestful(pathname: string): boolean {
    const parts = pathname.split('/').filter((p) => p !== '');
    // Web service roots: `/api` (InstallLegacyAPIGroup), `/version`, and `/apis/<group>` for each built-in group
    // (APIGroupHandler.WebService), whatever follows them (`/api/v2/…`, `/apis/apps/v9/…`: go-restful's 404).
    if (parts[0] === 'api' || parts[0] === 'version') return true;
    if (parts[0] !== 'apis') return false;
    if (parts.length === 1) return true;
    return this.deps.api.registry.all().some((rt) => !rt.custom && rt.group === parts[1]);
  }

  private route(pathname: string): Route | undefined {
    const { api } = this.deps;
    const registry = api.registry;
    const parts = pathname
      .split('/')
      .filter((p) => p !== '')
      .map(decodeURIComponent);
    const address = `127.0.0.1:${this.port()}`;
    if (parts.length === 1 && ['version', 'healthz', 'livez', 'readyz'].includes(parts[0])) {
      const name = parts[0];
      return {
        kind: 'other',
        group: '',
        version: '',
        handler: () =>
          name === 'version'
            ? { status: 200, body: VERSION_INFO }
            : { status: 200, body: 'ok', contentType: 'text/plain; charset=utf-8' },
      };
    }
    if (parts[0] === 'openapi' && parts[1] === 'v3') {
      if (parts.length === 2)
        return {
          kind: 'other',
          group: '',
          version: '',
          handler: () => ({ status: 200, body: openApiV3Index(registry) }),
        };
      const isCore = parts[2] === 'api' && parts.length === 4;
      const isGroup = parts[2] === 'apis' && parts.length === 5;
      const doc = isCore
        ? openApiV3Document(registry, '', parts[3])
        : isGroup
          ? openApiV3Document(registry, parts[3], parts[4])
          : undefined;
      return doc ? { kind: 'other', group: '', version: '', handler: () => ({ status: 200, body: doc }) } : undefined;
    }
    // `/api` and `/apis`: aggregated discovery when the client asks for it, the legacy list otherwise.
    const discoveryRoot = (core: boolean, legacy: () => unknown): Route => ({
      kind: 'other',
      group: '',
      version: '',
      handler: (req) => {
        const agg = aggregatedVersion(req.headers.accept);
        if (agg)
          return {
            status: 200,
            body: aggregatedDiscovery(registry, core, agg),
            contentType: aggregatedContentType(agg),
          };
        return { status: 200, body: legacy() };
      },
    });
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api') {
      if (parts.length === 1) return discoveryRoot(true, () => apiVersions(address));
      group = '';
      version = parts[1];
      rest = parts.slice(2);
    } else if (parts[0] === 'apis') {
      if (parts.length === 1) return discoveryRoot(false, () => apiGroupList(registry));
      group = parts[1];
      if (parts.length === 2) {
        const doc = apiGroupDocument(registry, group);
        return doc ? { kind: 'other', group, version: '', handler: () => ({ status: 200, body: doc }) } : undefined;
      }
      version = parts[2];
      rest = parts.slice(3);
    } else {
      return undefined;
    }
    if (rest.length === 0) {
      const list = apiResourceList(registry, group, version);
      return list ? { kind: 'other', group, version, handler: () => ({ status: 200, body: list }) } : undefined;
    }
    let watchPath = false;
    if (rest[0] === 'watch') {
      watchPath = true;
      rest = rest.slice(1);
    }
    let namespace = '';
    let resource: string;
    let name: string;
    let subresource: string;
    if (rest[0] === 'namespaces' && rest.length >= 3 && registry.served(group, version, rest[2])?.namespaced) {
      namespace = rest[1];
      [resource, name = '', subresource = ''] = rest.slice(2);
      if (rest.length > 5) return undefined;
    } else {
      [resource, name = '', subresource = ''] = rest;
      if (rest.length > 3) return undefined;
    }
    const rt = registry.served(group, version, resource);
    if (!rt) return undefined;
    if (namespace && !rt.namespaced) return undefined;
    if (subresource && !rt.subresources.includes(subresource)) throw notFound(groupResource(rt), name);
    return { kind: 'resource', group, version, rt, namespace, name, subresource, watchPath };
  }

  // ------------------------------------------------------------------ resource requests

  private resourceRequest(
    req: IncomingMessage,
    route: ResourceRoute,
    params: URLSearchParams,
    raw: Buffer,
    user: UserInfo | undefined,
  ): Reply {
    const { api, authn, authz } = this.deps;
    const { rt, version, namespace, name, subresource } = route;
    const method = req.method ?? 'GET';
    const dryRun = params.getAll('dryRun').includes('All');
    const warnings: string[] = [];
    const write = {
      dryRun,
      dryRunValues: params.getAll('dryRun'),
      fieldManager: params.get('fieldManager') ?? undefined,
      fieldValidation: params.get('fieldValidation') ?? undefined,
      userAgent: req.headers['user-agent'] ?? '',
      warnings,
      // The reply is only serialized: it may share the stored object's fields (KubeApi.present).
      view: true,
      // SelfSubjectAccessReview: the caller's own access, as the authorizer decides it.
      review: user ? (spec: unknown) => accessReviewStatus(authz, user, spec) : undefined,
    };
    const withWarnings = (reply: Reply): Reply =>
      warnings.length ? { ...reply, headers: { ...reply.headers, Warning: warnings.map(warningHeader) } } : reply;
    const table = wantsTable(req.headers.accept);
    const include = (params.get('includeObject') as IncludeObject | null) ?? 'Metadata';
    const methodNotAllowed = (): Reply => ({
      status: 405,
      body: genericServerResponse(405).status,
    });

    // TokenRequest: POST only (the registry has no get/update for it).
    if (subresource === 'token') {
      if (method !== 'POST') return methodNotAllowed();
      return { status: 201, body: authn.request(namespace, name, decodeBody(req, raw, rt)) };
    }
    switch (method) {
      case 'GET': {
        if (name) {
          const obj = api.get(rt, version, namespace, name, subresource, true);
          return {
            status: 200,
            body:
              table && !subresource
                ? toTable(rt, version, [obj], { resourceVersion: obj.metadata.resourceVersion }, include)
                : obj,
          };
        }
        validateListOptions(params, false);
        const list = api.list(rt, version, namespace, queryOptions(params), true);
        return { status: 200, body: table ? toTable(rt, version, list.items, list.metadata, include) : list };
      }
      case 'POST': {
        if (name || (rt.namespaced && !namespace && !rt.virtual)) return methodNotAllowed();
        const created = api.create(rt, version, namespace, decodeBody(req, raw, rt), write);
        return withWarnings({ status: 201, body: created });
      }
      case 'PUT': {
        if (!name) return methodNotAllowed();
        const updated = api.update(rt, version, namespace, name, decodeBody(req, raw, rt), { ...write, subresource });
        return withWarnings({ status: 200, body: updated });
      }
      case 'PATCH': {
        if (!name) return methodNotAllowed();
        const contentType = baseContentType(req.headers['content-type']);
        const patchType = PATCH_CONTENT_TYPES[contentType];
        if (!patchType) throw unsupportedMediaType(acceptedPatchTypes(rt));
        const text = raw.toString('utf8');
        let patchBody: unknown;
        try {
          patchBody = patchType === 'apply' ? load(text, { schema: CORE_SCHEMA }) : JSON.parse(text);
        } catch (err) {
          throw badRequest(
            `error decoding patch: ${patchType === 'apply' ? (err as Error).message : goJsonError(err, text)}`,
          );
        }
        const force = parseBool(params.get('force'));
        const result = api.patch(rt, version, namespace, name, patchType, patchBody, { ...write, force, subresource });
        return withWarnings({ status: result.created ? 201 : 200, body: result.object });
      }
      case 'DELETE': {
        const options = deleteOptions(raw, params, dryRun);
        if (!name)
          return { status: 200, body: api.deleteCollection(rt, version, namespace, queryOptions(params), options) };
        return { status: 200, body: api.delete(rt, version, namespace, name, options).body };
      }
      default:
        return methodNotAllowed();
    }
  }

  // ------------------------------------------------------------------ watch

  private startWatch(
    req: IncomingMessage,
    res: ServerResponse,
    route: ResourceRoute,
    params: URLSearchParams,
    entry: RequestLogEntry,
  ): void {
    const { api } = this.deps;
    const { rt, version, namespace } = route;
    validateListOptions(params, true);
    const opts = queryOptions(params);
    const { labels, fields } = api.selectors(rt, opts);
    const table = wantsTable(req.headers.accept);
    const include = (params.get('includeObject') as IncludeObject | null) ?? 'Metadata';
    const bookmarks = parseBool(params.get('allowWatchBookmarks')) === true;
    const sendInitialEvents = parseBool(params.get('sendInitialEvents'));
    const initialEvents = sendInitialEvents === true;
    const key = typeKey(rt);
    const fieldName = route.name ? `metadata.name=${route.name}` : '';
    const nameFilter = fieldName ? api.selectors(rt, { fieldSelector: fieldName }).fields : undefined;

    res.writeHead(200, {
      'Content-Type': JSON_TYPE,
      // HTTP/2 frames the stream itself and forbids this header.
      ...(req.httpVersionMajor === 2 ? {} : { 'Transfer-Encoding': 'chunked' }),
      'Cache-Control': 'no-cache, private',
    });
    res.flushHeaders();
    this.log({ ...entry, status: 200, durationMs: Date.now() - entry.at });

    const render = (obj: KubeObject): unknown => {
      const shown = api.present(rt, version, obj, true); // serialized at once: a view is enough
      return table
        ? toTable(rt, version, [shown], { resourceVersion: shown.metadata.resourceVersion }, include)
        : shown;
    };
    const write = (type: string, object: unknown): void => {
      if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const visible = (obj: KubeObject | undefined): boolean =>
      !!obj &&
      (!namespace || obj.metadata.namespace === namespace) &&
      (!nameFilter || nameFilter.matches({ 'metadata.name': obj.metadata.name ?? '' })) &&
      api.matches(rt, obj, labels, fields);
    const deliver = (event: StoreEvent): void => {
      if (event.typeKey !== key) return;
      const now = visible(event.object);
      const before = event.type === 'MODIFIED' ? visible(event.previous) : event.type === 'DELETED';
      if (event.type === 'ADDED' && now) write('ADDED', render(event.object));
      else if (event.type === 'DELETED' && visible(event.previous ?? event.object))
        write('DELETED', render(event.object));
      else if (event.type === 'MODIFIED') {
        if (now && before) write('MODIFIED', render(event.object));
        else if (now) write('ADDED', render(event.object));
        else if (before) write('DELETED', render(event.object));
      }
    };
    const bookmark = (annotations?: Record<string, string>): void =>
      write('BOOKMARK', {
        kind: rt.kind,
        apiVersion: apiVersionOf(rt, version),
        metadata: { resourceVersion: String(api.store.currentRevision()), ...(annotations ? { annotations } : {}) },
      });

    const rv = opts.resourceVersion;
    // watchCache.getAllEventsSinceLocked: sendInitialEvents=false from "" or 0 starts at the current revision, with
    // no ADDED event for what exists.
    if (sendInitialEvents === false && (!rv || rv === '0')) {
      // nothing to replay
    } else if (initialEvents || !rv || rv === '0') {
      for (const obj of api.store.scan(key, namespace || undefined)) if (visible(obj)) write('ADDED', render(obj));
      if (initialEvents && bookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
    } else {
      const since = Number(rv);
      const replay = Number.isFinite(since) ? api.store.eventsSince(key, since) : 'expired';
      if (replay === 'expired') {
        const expired = resourceExpired(`too old resource version: ${rv} (${api.store.oldestResumableRevision()})`);
        write('ERROR', expired.status);
        res.end();
        return;
      }
      for (const event of replay) deliver(event);
    }
    const unsubscribe = api.store.subscribe(deliver);
    const timers: NodeJS.Timeout[] = [];
    const close = (): void => {
      unsubscribe();
      for (const t of timers) clearTimeout(t);
      this.watchClosers.delete(close);
      if (!res.writableEnded) res.end();
    };
    this.watchClosers.add(close);
    if (bookmarks) {
      const interval = setInterval(() => bookmark(), this.deps.bookmarkIntervalMs ?? 60_000);
      timers.push(interval);
    }
    const timeoutSeconds = Number(params.get('timeoutSeconds') ?? '1800');
    timers.push(setTimeout(close, Math.max(0, timeoutSeconds) * 1000));
    // cacheWatcher.nextBookmarkTime: a bookmark 2 s before the watch's deadline, so the client resumes from it.
    if (bookmarks && timeoutSeconds > 2) timers.push(setTimeout(() => bookmark(), (timeoutSeconds - 2) * 1000));
    req.on('close', close);
    res.on('close', close);
  }

  // ------------------------------------------------------------------ admin API

  private async handleAdmin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const { faults, requests, work } = this.deps;
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': JSON_TYPE });
      res.end(JSON.stringify(body));
    };
    const path = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    const json = (): unknown => (raw.length ? JSON.parse(raw.toString('utf8')) : {});
    try {
      if (path === '/_emulator/healthz' && method === 'GET') return send(200, { ok: true });
      if (path === '/_emulator/faults' && method === 'POST') {
        const rule = json();
        validateRule(rule);
        return send(201, { id: faults.add(rule) });
      }
      if (path === '/_emulator/faults' && method === 'GET') return send(200, faults.list());
      if (path === '/_emulator/faults' && method === 'DELETE') {
        faults.clear();
        return send(200, { ok: true });
      }
      const faultId = /^\/_emulator\/faults\/([^/]+)$/.exec(path)?.[1];
      if (faultId && method === 'DELETE') return send(faults.remove(faultId) ? 200 : 404, { ok: true });
      if (path === '/_emulator/latency' && method === 'PUT') {
        const body = json();
        const ms = isObject(body) ? Number(body.ms) : NaN;
        faults.setLatency(ms);
        return send(200, { ms });
      }
      if (path === '/_emulator/requests' && method === 'GET') return send(200, requests.all());
      if (path === '/_emulator/requests' && method === 'DELETE') {
        requests.clear();
        return send(200, { ok: true });
      }
      const { pods } = this.deps;
      if (pods && path === '/_emulator/pod-holds' && method === 'POST')
        return send(201, { id: pods.holdUnready(json() as PodHold) });
      if (pods && path === '/_emulator/pod-holds' && method === 'GET') return send(200, pods.holds());
      if (pods && path === '/_emulator/pod-holds' && method === 'DELETE') {
        pods.release();
        return send(200, { ok: true });
      }
      const holdId = /^\/_emulator\/pod-holds\/([^/]+)$/.exec(path)?.[1];
      if (pods && holdId && method === 'DELETE') return send(pods.release(holdId) ? 200 : 404, { ok: true });
      if (path === '/_emulator/idle' && method === 'GET') {
        await work.idle();
        return send(200, { ok: true });
      }
      return send(404, { error: `no admin endpoint ${method} ${path}` });
    } catch (err) {
      return send(400, { error: (err as Error).message });
    }
  }
}

// ------------------------------------------------------------------ helpers

function rbacVerb(method: string, route: ResourceRoute, params: URLSearchParams): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (route.watchPath || parseBool(params.get('watch')) === true) return 'watch';
      return route.name ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return route.name ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

/** A SelfSubjectAccessReview's status for `user`: its resourceAttributes or nonResourceAttributes, authorized. */
function accessReviewStatus(authz: RbacAuthorizer, user: UserInfo, spec: unknown): Record<string, unknown> {
  const s = isObject(spec) ? spec : {};
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const r = isObject(s.resourceAttributes) ? s.resourceAttributes : undefined;
  const n = isObject(s.nonResourceAttributes) ? s.nonResourceAttributes : {};
  const decision = authz.authorize(user, {
    resourceRequest: !!r,
    verb: str(r ? r.verb : n.verb),
    path: str(n.path),
    apiGroup: str(r?.group),
    apiVersion: str(r?.version),
    namespace: str(r?.namespace),
    resource: str(r?.resource),
    subresource: str(r?.subresource),
    name: str(r?.name),
  });
  return { allowed: decision.allowed, ...(decision.reason ? { reason: decision.reason } : {}) };
}

function pageNotFound(): StatusError {
  return genericServerResponse(404);
}

/** Go's http.NotFound, as kube-apiserver 1.32's notfoundhandler answers (no Status body). */
function plainNotFound(): Reply {
  return {
    status: 404,
    body: '404 page not found\n',
    contentType: 'text/plain; charset=utf-8',
    headers: { 'X-Content-Type-Options': 'nosniff' },
  };
}

function faultStatus(
  rule: { status?: number; reason?: string; message?: string; retryAfterSeconds?: number; bare?: boolean },
  entry: RequestLogEntry,
): StatusError {
  const code = rule.status ?? 500;
  const retryAfter = rule.retryAfterSeconds ?? (code === 429 ? 1 : undefined);
  let message = rule.message;
  if (!message) {
    const what = entry.resource ? `${entry.resource}${entry.apiGroup ? `.${entry.apiGroup}` : ''}` : 'the server';
    switch (code) {
      case 429:
        message = 'Too many requests, please try again later.';
        break;
      case 403: {
        const scope = entry.namespace ? `in the namespace "${entry.namespace}"` : 'at the cluster scope';
        message =
          `${what}${entry.name ? ` "${entry.name}"` : ''} is forbidden: User ` +
          `"system:serviceaccount:emulator:client" cannot ${entry.verb} resource "${entry.resource ?? ''}" in API ` +
          `group "${entry.apiGroup}" ${scope}`;
        break;
      }
      case 409:
        message =
          `Operation cannot be fulfilled on ${what} "${entry.name ?? ''}": the object has been modified; ` +
          `please apply your changes to the latest version and try again`;
        break;
      case 500:
        message = 'Internal error occurred: injected fault';
        break;
      case 503:
        message = 'the server is currently unable to handle the request';
        break;
      case 504:
        message = 'Timeout: request did not complete within the allotted timeout';
        break;
      default:
        message = `injected fault (HTTP ${code})`;
    }
  }
  const err = statusForCode(code, message, retryAfter);
  const status: StatusBody = { ...err.status };
  if (rule.reason) status.reason = rule.reason as StatusBody['reason'];
  if (!rule.bare && (entry.name || entry.resource)) {
    status.details = {
      ...(status.details ?? {}),
      ...(entry.name ? { name: entry.name } : {}),
      ...(entry.resource ? { kind: entry.resource } : {}),
      ...(entry.apiGroup ? { group: entry.apiGroup } : {}),
    };
  }
  return new StatusError(status);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** What kube-apiserver decodes a body from: built-in kinds also take protobuf (which the emulator does not). */
function acceptedBodyTypes(rt: ResourceType): string[] {
  return ['application/json', 'application/yaml', ...(rt.custom ? [] : ['application/vnd.kubernetes.protobuf'])];
}

/** NegotiateInputSerializer: no Content-Type means JSON; anything but a serializer's media type is 415. */
function decodeBody(req: IncomingMessage, raw: Buffer, rt: ResourceType): unknown {
  const type = baseContentType(req.headers['content-type']) || JSON_TYPE;
  const text = raw.toString('utf8');
  if (type === 'application/yaml' || type === 'application/x-yaml') {
    try {
      return load(text, { schema: CORE_SCHEMA });
    } catch (err) {
      throw badRequest(`error converting YAML to JSON: ${(err as Error).message}`);
    }
  }
  if (type === 'application/vnd.kubernetes.protobuf' && rt.plural === 'selfsubjectaccessreviews') {
    const review = decodeAccessReview(raw); // kubectl auth can-i
    if (review) return review;
  }
  if (type !== JSON_TYPE) throw unsupportedMediaType(acceptedBodyTypes(rt));
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`couldn't get version/kind; json parse error: ${goJsonError(err, text)}`);
  }
}

function deleteOptions(
  raw: Buffer,
  params: URLSearchParams,
  dryRun: boolean,
): {
  dryRun: boolean;
  propagationPolicy?: string;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
} {
  let body: Record<string, unknown> = {};
  if (raw.length > 0) {
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (isObject(parsed)) body = parsed;
    } catch {
      throw badRequest('the body of the delete request is not valid DeleteOptions');
    }
  }
  const grace =
    params.get('gracePeriodSeconds') ??
    (typeof body.gracePeriodSeconds === 'number' ? String(body.gracePeriodSeconds) : null);
  let propagation =
    params.get('propagationPolicy') ??
    (typeof body.propagationPolicy === 'string' ? body.propagationPolicy : undefined);
  const orphan =
    params.get('orphanDependents') ??
    (typeof body.orphanDependents === 'boolean' ? String(body.orphanDependents) : null);
  if (!propagation && orphan === 'true') propagation = 'Orphan';
  const pre = isObject(body.preconditions) ? body.preconditions : {};
  const bodyDryRun = Array.isArray(body.dryRun) && body.dryRun.includes('All');
  // ValidateDeleteOptions (apimachinery/pkg/apis/meta/v1/validation): 422 on DeleteOptions before anything else.
  const errs: FieldError[] = [];
  if (propagation !== undefined && !['Foreground', 'Background', 'Orphan'].includes(propagation))
    errs.push(fieldErr.notSupported('propagationPolicy', propagation, ['Foreground', 'Background', 'Orphan', 'nil']));
  const dryRunValues = [...params.getAll('dryRun'), ...(Array.isArray(body.dryRun) ? body.dryRun.map(String) : [])];
  if (dryRunValues.some((v) => v !== 'All')) errs.push(dryRunNotSupported(dryRunValues));
  if (errs.length > 0) throw invalid('DeleteOptions', 'meta.k8s.io', '', errs);
  return {
    dryRun: dryRun || bodyDryRun,
    propagationPolicy: propagation,
    gracePeriodSeconds: grace !== null ? Number(grace) : undefined,
    preconditions: {
      uid: typeof pre.uid === 'string' ? pre.uid : undefined,
      resourceVersion: typeof pre.resourceVersion === 'string' ? pre.resourceVersion : undefined,
    },
  };
}

function cryptoId(): string {
  return globalThis.crypto.randomUUID();
}
