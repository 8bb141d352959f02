// One cluster's Kubernetes API (one kubeconfig context): each call's URL, authentication (client-node's KubeConfig),
// connection reuse, rate limit, deadline, retries, tracing and counting; the HTTP goes through undici's `request`.
import { createHash } from 'node:crypto';
import type https from 'node:https';
import { setTimeout as pause } from 'node:timers/promises';
import tls from 'node:tls';
import * as k8s from '@kubernetes/client-node';
import { Agent, getGlobalDispatcher, request } from 'undici';
import type { KubeObject, PatchType } from '../common/kube-object.js';
import { CallAbandoned, KubeError, toKubeError } from './kube-error.js';
import type { CallLimiter } from './rate-limiter.js';
import { APPS, CORE, readKey, resourcePath, type NamespacedKind } from './resource-path.js';
import type { Span } from '@opentelemetry/api';
import { inSpan, SpanKind, traceHeaders } from '../observability/tracing.js';

export type { KubeObject, PatchType } from '../common/kube-object.js';

// client-node 2 builds a new undici Agent (so a new TCP + TLS connection) for every request to a cluster
// with TLS settings (CA, client certificate, skip-verify). Reuse one keep-alive dispatcher per distinct
// dispatcher configuration (TLS identity, proxy), so a rotated credential still gets its own. This replaces
// KubeConfig's createDispatcher, which its type marks private; the connection-reuse test in
// test/integration/kube-connections.spec.ts fails if a client-node release renames or bypasses it.
// For a direct connection the dispatcher is client-node's (an undici Agent with its connect options), except that
// the TLS credentials (CA, client certificate and key) are parsed once into a SecureContext: undici hands the
// options to tls.connect, which otherwise builds a new context (parsing every PEM) for each connection, and a
// watch that ends closes its connection on HTTP/1.1.
// HTTP/2: the Agent offers h2 (after http/1.1) in ALPN; kube-apiserver picks h2, so calls and watches are streams
// of one connection, and a watch we end resets its stream only. Against a server (or proxy) that offers only
// HTTP/1.1 the same Agent speaks HTTP/1.1 (docs/operations.md#connections-to-the-api-server). An idle connection is
// kept K8S_CONNECTION_IDLE_MS (directAgent).
type Dispatcher = NonNullable<ReturnType<k8s.RequestContext['getDispatcher']>>;
type CreateDispatcher = (cluster: k8s.Cluster | null, agentOptions: https.AgentOptions) => Dispatcher | undefined;
const dispatchers = new Map<string, Dispatcher>();

/**
 * A digest of a dispatcher's options: its TLS material (Buffers) hashed as bytes, everything else as JSON. It runs
 * on every call, so no `JSON.stringify` of the Buffers (their toJSON is an array of numbers, one per byte).
 */
function dispatcherKey(options: unknown): string {
  const hash = createHash('sha256');
  const visit = (v: unknown): void => {
    if (v instanceof Uint8Array) hash.update(`b${v.byteLength}:`).update(v);
    else if (Array.isArray(v)) {
      hash.update(`a${v.length}:`);
      for (const item of v) visit(item);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        hash.update(`${JSON.stringify(k)}=`);
        visit(item);
      }
      hash.update('}');
    } else hash.update(`${v === undefined ? 'u' : JSON.stringify(v)};`);
  };
  visit(options);
  return hash.digest('hex');
}

function reuseDispatchers(kc: k8s.KubeConfig, idleMs: number): void {
  const target = kc as unknown as { createDispatcher: CreateDispatcher };
  const create = target.createDispatcher.bind(kc);
  target.createDispatcher = (cluster, agentOptions) => {
    const options = kc.createDispatcherOptions(cluster, agentOptions);
    // No TLS options at all (a publicly trusted server, token auth): undici's global dispatcher, as client-node
    // leaves it (HTTP/1.1, idle connections closed after 4 s).
    if (options.type === 'none') return undefined;
    const key = dispatcherKey({ options, idleMs });
    let dispatcher = dispatchers.get(key);
    if (!dispatcher) {
      dispatcher = options.type === 'agent' ? directAgent(options.connect, idleMs) : create(cluster, agentOptions);
      if (dispatcher) dispatchers.set(key, dispatcher);
    }
    return dispatcher;
  };
}

/**
 * client-node's direct-connection Agent, with its TLS credentials in one SecureContext for every connection, HTTP/2
 * offered, and an idle connection kept `idleMs` (K8S_CONNECTION_IDLE_MS). undici closes one after 4 s by default,
 * so a worker between two onboardings opened a new TCP + TLS connection for each. Against the emulator, the call
 * after 5 s of quiet took 8.8 ms and 10.6 ms of CPU (client and server) on a new connection, 4.0 ms and 4.0 ms on a
 * kept one (medians of 8; docs/performance.md, fourteenth round). client-go keeps idle connections 90 s, and
 * kube-apiserver closes an idle HTTP/2 connection after 90 s; the default (60 s) closes ours first. undici pings an
 * HTTP/2 connection every 60 s, and client-node's connect options turn TCP keep-alive on (30 s).
 */
function directAgent(
  connect: Extract<k8s.DispatcherOptions, { type: 'agent' }>['connect'],
  idleMs: number,
): Dispatcher {
  const { ca, cert, key, pfx, passphrase, ...rest } = connect as tls.ConnectionOptions;
  const secureContext = tls.createSecureContext({ ca, cert, key, pfx, passphrase });
  return new Agent({
    allowH2: true,
    keepAliveTimeout: idleMs,
    connect: { ...rest, secureContext } as Agent.Options['connect'],
  });
}

/** Extra attempts of a read that failed transiently, or of a call the server asked to retry; see ClusterClient.call. */
const CALL_RETRIES = 3;

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: k8s.PatchStrategy.MergePatch,
  strategic: k8s.PatchStrategy.StrategicMergePatch,
  json: k8s.PatchStrategy.JsonPatch,
};

export type KubeVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

/** One event of a watch, as kube-apiserver streams it (BOOKMARKs only carry a resourceVersion). */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

/** What a watch (ClusterClient.watchDeployments, watchNamespaces) is asked for. */
export interface WatchOptions<T> {
  /** Events after this resourceVersion (e.g. a patch response's, a list's); unset = the current state first. */
  resourceVersion?: string;
  /** Ends the watch; the server is asked to close it then too (`timeoutSeconds`). */
  deadline: number;
  /** Ends the watch early (shutdown): it resolves as `closed`. */
  signal?: AbortSignal;
  /** Sees every event; returning true ends the watch. */
  onEvent: (type: WatchEventType, object: T) => boolean;
  /** Called once the server has accepted the watch (200), before its first event. */
  onOpen?: () => void;
}

export type WatchDeploymentOptions = WatchOptions<k8s.V1Deployment>;

/** How a watch ended: `done` (onEvent said so), `closed` (server or deadline), `expired` (410 Gone). */
export interface WatchEnd {
  end: 'done' | 'closed' | 'expired';
  /** The last resourceVersion seen (objects and bookmarks), to resume from. */
  resourceVersion?: string;
}

/** One API call as it is limited, traced, counted and logged: `what` reads like "patch namespace x". */
interface KubeOp {
  verb: KubeVerb;
  resource: string;
  what: string;
  patchType?: PatchType;
}

export interface KubeCallRecord {
  cluster: string;
  verb: KubeVerb;
  resource: string;
  /** e.g. "patch namespace bookstore" */
  what: string;
  status: number | 'error';
  ms: number;
}

export interface CustomResourceRef {
  group: string;
  version: string;
  plural: string;
}

/** What `ClusterClient.patchCustom` patches, and how. */
export interface PatchCustomOptions {
  ref: CustomResourceRef;
  namespace: string;
  name: string;
  body: object;
  /** Custom resources take no strategic merge patch (kube-apiserver answers 415). */
  type: Exclude<PatchType, 'strategic'>;
}

export interface ClusterClientOptions {
  requestTimeoutMs: number;
  /** How long an idle connection to the API server is kept (K8S_CONNECTION_IDLE_MS). */
  connectionIdleMs: number;
  limiter: CallLimiter;
  /** The `fieldManager` query parameter of every create, update and patch (K8S_FIELD_MANAGER). */
  fieldManager: string;
  onCall?: (record: KubeCallRecord) => void;
}

/** One call as it goes over the wire: a path under the cluster's server, its query and its JSON body. */
interface WireRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
}

/**
 * A list as kube-apiserver sends it. Objects are the wire JSON, not client-node's model classes: where its types
 * say `Date` (creationTimestamp, conditions' times) the value is an RFC 3339 string, and the list's continue token
 * is `metadata.continue` (client-node's model renames it `_continue`).
 */
export interface KubeList<T> {
  metadata?: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: T[];
}

/**
 * How often kube-apiserver's watch cache sends a bookmark to a watch that asked for them (cacher.go,
 * `defaultBookmarkFrequency = time.Minute`); a quiet watch hears nothing else.
 */
export const KUBE_BOOKMARK_INTERVAL_MS = 60_000;
/**
 * A watch that sends nothing (no event, no bookmark) for this long ends as `closed`, and the caller watches again
 * from its last resourceVersion: a connection that died silently would otherwise hang the watch. Half again the
 * bookmark interval, so that a quiet but healthy watch is never cut (a shorter limit re-opened every quiet watch
 * before its first bookmark, and its resourceVersion never advanced).
 */
export const WATCH_IDLE_MS = KUBE_BOOKMARK_INTERVAL_MS * 1.5;
/**
 * A watch that ended without an error sooner than this after it opened counts as cut short (a proxy that ends
 * streams at once): its caller pauses before the next, or it would open watches as fast as the call budget allows.
 */
export const SHORT_WATCH_MS = 1_000;

/**
 * What answers a read-only view's GETs from answers it already holds (read-share.ts's ReadShare): `answer` gives
 * the one kept under `key` (resource-path.ts's readKey), else calls `read` and keeps what it gives.
 */
export interface SharedReads {
  answer<T>(key: string, read: () => Promise<T>): Promise<T>;
}

/** Response headers as one string each (what ApiException carries; toKubeError reads Retry-After). */
function flat(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** The namespaced kinds a plan lists in its namespace, which a batch's plans can read cluster-wide (ReadShare). */
export const PLAN_LISTED_KINDS: readonly NamespacedKind[] = [
  { api: APPS, plural: 'deployments', resource: 'deployments.apps' },
  { api: APPS, plural: 'statefulsets', resource: 'statefulsets.apps' },
  { api: APPS, plural: 'daemonsets', resource: 'daemonsets.apps' },
  { api: CORE, plural: 'pods', resource: 'pods' },
  { api: CORE, plural: 'services', resource: 'services' },
  { api: CORE, plural: 'serviceaccounts', resource: 'serviceaccounts' },
];

/** A custom resource's API group and version: `/apis/<group>/<version>`. */
const customApi = (ref: CustomResourceRef) => `/apis/${ref.group}/${ref.version}`;

const WRITES: ReadonlySet<KubeVerb> = new Set(['create', 'update', 'patch']);

/**
 * How long one cluster's authentication (its headers and connection pool, from client-node's KubeConfig) serves
 * the calls that follow. Computing it reads the kubeconfig's certificate files or decodes their data, and digests the
 * TLS material to find the pool: 4.8 % of a worker's CPU profile when done for every call (docs/performance.md,
 * twelfth round). Credentials that change (a rotated token or certificate, an exec plugin's new token) are picked up
 * within this time; a 401 answered to reused credentials drops them at once, and the call is sent again with fresh
 * ones.
 */
const AUTH_REUSE_MS = 1000;

/**
 * 401s answered to credentials that may be stale: reused from an earlier call, or an exec plugin's credential that
 * client-node kept (ClusterClient.call tries once more with fresh ones).
 */
const staleAuthRefused = new WeakSet<KubeError>();

/**
 * Makes client-node run the current user's exec credential plugin again at the next authentication; answers whether
 * it held one. client-node's ExecAuth keeps a plugin's credential until its `expirationTimestamp`, and for good when
 * the plugin gives none, and never drops it on a 401; client-go runs the plugin again when the API server answers
 * 401 (client-go transport: exec plugin, maybeRefreshCreds), and so does this. The cache is ExecAuth's `tokenCache`
 * (keyed by user name), which its type marks private: test/integration/kube-auth-reuse.spec.ts fails if a
 * client-node release renames it.
 */
function forgetExecCredential(kc: k8s.KubeConfig): boolean {
  const user = kc.getCurrentUser();
  const provider = user?.authProvider as { config?: { exec?: unknown } } | undefined;
  const config = provider?.config;
  if (!user || (!user.exec && !config?.exec)) return false;
  const authenticators = (kc as unknown as { authenticators?: unknown[] }).authenticators ?? [];
  for (const authenticator of authenticators) {
    const cache = (authenticator as { tokenCache?: Record<string, unknown> }).tokenCache;
    if (cache && typeof cache === 'object' && cache[user.name]) {
      cache[user.name] = null;
      return true;
    }
  }
  return false;
}

interface Authentication {
  headers: Record<string, string>;
  dispatcher: Dispatcher;
  /** When it was computed (Date.now()). */
  at: number;
}

/** Items per list call where a caller reads a whole list (kubectl's `--chunk-size` default). */
export const LIST_PAGE = 500;

/**
 * Reads a whole list LIST_PAGE items at a time (`limit` + `continue`, as kubectl does), handing each item to
 * `visit`: the caller keeps what it needs, not every page's objects at once.
 */
export async function forEachListed<T>(
  read: (page: { limit: number; continueToken?: string }) => Promise<KubeList<T>>,
  visit: (item: T) => void,
): Promise<void> {
  let continueToken: string | undefined;
  do {
    const page = await read({ limit: LIST_PAGE, continueToken });
    for (const item of page.items) visit(item);
    continueToken = page.metadata?.continue || undefined;
  } while (continueToken);
}

/**
 * Typed access to one cluster (one kubeconfig context). Every call is rate limited, bounded by a deadline, counted,
 * and fails only with KubeError. client-node authenticates the calls (KubeConfig.applySecurityAuthentication, once
 * per AUTH_REUSE_MS) and supplies the types; its generated API classes, its fetch and its model deserializer are not
 * used: the answers are the API server's JSON as sent (see KubeList).
 */
export class ClusterClient {
  private auth?: Authentication;
  /** Where this view's GETs are answered first (sharingReads). */
  private reads?: SharedReads;
  /** Aborted when this view's caller has given up on its calls (until). */
  private signal?: AbortSignal;

  constructor(
    readonly name: string,
    private readonly kc: k8s.KubeConfig,
    private readonly options: ClusterClientOptions,
  ) {
    reuseDispatchers(kc, options.connectionIdleMs);
  }

  /**
   * A view of this client whose GETs are answered by `reads` when it holds the same path and query (a copy), and
   * kept there otherwise; every other call, and the connection, authentication and budget, as this client's. For
   * read-only work only (a plan): see ReadShare.
   */
  sharingReads(reads: SharedReads): ClusterClient {
    const view = Object.create(this) as ClusterClient;
    view.reads = reads;
    return view;
  }

  /**
   * A view of this client whose calls stop when `signal` aborts: the one in flight is cut, and none is retried or
   * sent after it; each fails with CallAbandoned. For work its caller has given up on (a plan past its deadline),
   * so that it neither holds a connection nor spends the cluster's call budget on answers no one reads.
   */
  until(signal: AbortSignal): ClusterClient {
    const view = Object.create(this) as ClusterClient;
    // A view of a view stops at either caller's signal.
    view.signal = this.signal ? AbortSignal.any([this.signal, signal]) : signal;
    return view;
  }

  // --- namespaces
  getNamespace(name: string): Promise<k8s.V1Namespace> {
    return this.call(
      { verb: 'get', resource: 'namespaces', what: `get namespace ${name}` },
      { method: 'GET', path: resourcePath(CORE, 'namespaces', undefined, name) },
    );
  }
  listNamespaces(
    params: { labelSelector?: string; limit?: number; continueToken?: string } = {},
  ): Promise<KubeList<k8s.V1Namespace>> {
    return this.call(
      { verb: 'list', resource: 'namespaces', what: 'list namespaces' },
      {
        method: 'GET',
        path: resourcePath(CORE, 'namespaces'),
        query: { labelSelector: params.labelSelector, limit: params.limit, continue: params.continueToken },
      },
    );
  }
  /** Every namespace's changes (bookmarks on), for the API's namespace informer. See `watch` for how it ends. */
  watchNamespaces(options: WatchOptions<k8s.V1Namespace>): Promise<WatchEnd> {
    return this.watch(
      { path: resourcePath(CORE, 'namespaces'), resource: 'namespaces', what: 'watch namespaces' },
      options,
    );
  }
  patchNamespace(name: string, body: object, type: PatchType): Promise<k8s.V1Namespace> {
    return this.call(
      { verb: 'patch', resource: 'namespaces', what: `patch namespace ${name}`, patchType: type },
      { method: 'PATCH', path: resourcePath(CORE, 'namespaces', undefined, name), body },
    );
  }

  // --- apps
  listDeployments(namespace: string | undefined, labelSelector?: string): Promise<KubeList<k8s.V1Deployment>> {
    return this.call(
      { verb: 'list', resource: 'deployments.apps', what: `list deployments${namespace ? ` in ${namespace}` : ''}` },
      {
        method: 'GET',
        path: resourcePath(APPS, 'deployments', namespace),
        query: { labelSelector },
      },
    );
  }
  getDeployment(namespace: string, name: string): Promise<k8s.V1Deployment> {
    return this.call(
      { verb: 'get', resource: 'deployments.apps', what: `get deployment ${namespace}/${name}` },
      { method: 'GET', path: resourcePath(APPS, 'deployments', namespace, name) },
    );
  }
  patchDeployment(namespace: string, name: string, body: object, type: PatchType): Promise<k8s.V1Deployment> {
    return this.call(
      { verb: 'patch', resource: 'deployments.apps', what: `patch deployment ${namespace}/${name}`, patchType: type },
      { method: 'PATCH', path: resourcePath(APPS, 'deployments', namespace, name), body },
    );
  }
  /**
   * One watch of a namespace's Deployments (bookmarks on); with `name`, of that one only
   * (`fieldSelector=metadata.name=<name>`), what `kubectl rollout status` opens. See `watch` for how it ends.
   */
  watchDeployments(namespace: string, options: WatchDeploymentOptions & { name?: string }): Promise<WatchEnd> {
    const path = resourcePath(APPS, 'deployments', namespace);
    const { name } = options;
    const what = name ? `watch deployment ${namespace}/${name}` : `watch deployments in ${namespace}`;
    const fieldSelector = name ? `metadata.name=${name}` : undefined;
    return this.watch({ path, resource: 'deployments.apps', what, fieldSelector }, options);
  }
  listStatefulSets(namespace: string): Promise<KubeList<k8s.V1StatefulSet>> {
    return this.call(
      { verb: 'list', resource: 'statefulsets.apps', what: `list statefulsets in ${namespace}` },
      { method: 'GET', path: resourcePath(APPS, 'statefulsets', namespace) },
    );
  }
  listDaemonSets(namespace: string): Promise<KubeList<k8s.V1DaemonSet>> {
    return this.call(
      { verb: 'list', resource: 'daemonsets.apps', what: `list daemonsets in ${namespace}` },
      { method: 'GET', path: resourcePath(APPS, 'daemonsets', namespace) },
    );
  }

  // --- core
  listPods(namespace: string, labelSelector?: string): Promise<KubeList<k8s.V1Pod>> {
    return this.call(
      { verb: 'list', resource: 'pods', what: `list pods in ${namespace}` },
      { method: 'GET', path: resourcePath(CORE, 'pods', namespace), query: { labelSelector } },
    );
  }
  listServices(namespace: string): Promise<KubeList<k8s.V1Service>> {
    return this.call(
      { verb: 'list', resource: 'services', what: `list services in ${namespace}` },
      { method: 'GET', path: resourcePath(CORE, 'services', namespace) },
    );
  }
  getService(namespace: string, name: string): Promise<k8s.V1Service> {
    return this.call(
      { verb: 'get', resource: 'services', what: `get service ${namespace}/${name}` },
      { method: 'GET', path: resourcePath(CORE, 'services', namespace, name) },
    );
  }
  patchService(namespace: string, name: string, body: object, type: PatchType): Promise<k8s.V1Service> {
    return this.call(
      { verb: 'patch', resource: 'services', what: `patch service ${namespace}/${name}`, patchType: type },
      { method: 'PATCH', path: resourcePath(CORE, 'services', namespace, name), body },
    );
  }
  listServiceAccounts(namespace: string): Promise<KubeList<k8s.V1ServiceAccount>> {
    return this.call(
      { verb: 'list', resource: 'serviceaccounts', what: `list serviceaccounts in ${namespace}` },
      { method: 'GET', path: resourcePath(CORE, 'serviceaccounts', namespace) },
    );
  }
  patchPod(namespace: string, name: string, body: object, type: PatchType): Promise<k8s.V1Pod> {
    return this.call(
      { verb: 'patch', resource: 'pods', what: `patch pod ${namespace}/${name}`, patchType: type },
      { method: 'PATCH', path: resourcePath(CORE, 'pods', namespace, name), body },
    );
  }
  /** One page of a namespace's pods (`limit` + `continue`), for callers that must stay bounded. */
  listPodsPage(namespace: string, params: { limit: number; continueToken?: string }): Promise<KubeList<k8s.V1Pod>> {
    return this.call(
      { verb: 'list', resource: 'pods', what: `list pods in ${namespace}` },
      {
        method: 'GET',
        path: resourcePath(CORE, 'pods', namespace),
        query: { limit: params.limit, continue: params.continueToken },
      },
    );
  }

  /** One page of a namespaced kind across every namespace (`limit` + `continue`): a batch's prefetch (ReadShare). */
  listAllNamespaces<T>(kind: NamespacedKind, params: { limit: number; continueToken?: string }): Promise<KubeList<T>> {
    return this.call(
      { verb: 'list', resource: kind.resource, what: `list ${kind.plural} in all namespaces` },
      {
        method: 'GET',
        path: resourcePath(kind.api, kind.plural),
        query: { limit: params.limit, continue: params.continueToken },
      },
    );
  }

  // --- custom resources (osm-edge and SMI CRDs)
  getCustom<T extends KubeObject = KubeObject>(ref: CustomResourceRef, namespace: string, name: string): Promise<T> {
    return this.call(
      {
        verb: 'get',
        resource: `${ref.plural}.${ref.group}`,
        what: `get ${ref.plural}.${ref.group} ${namespace}/${name}`,
      },
      { method: 'GET', path: resourcePath(customApi(ref), ref.plural, namespace, name) },
    );
  }
  listCustom<T extends KubeObject = KubeObject>(
    ref: CustomResourceRef,
    namespace: string,
    labelSelector?: string,
  ): Promise<KubeList<T>> {
    return this.call(
      { verb: 'list', resource: `${ref.plural}.${ref.group}`, what: `list ${ref.plural}.${ref.group} in ${namespace}` },
      { method: 'GET', path: resourcePath(customApi(ref), ref.plural, namespace), query: { labelSelector } },
    );
  }
  /** One list across every namespace (`/apis/<group>/<version>/<plural>`), e.g. every TrafficTarget of a cluster. */
  listCustomAllNamespaces<T extends KubeObject = KubeObject>(
    ref: CustomResourceRef,
    params: { limit?: number; continueToken?: string } = {},
  ): Promise<KubeList<T>> {
    return this.call(
      {
        verb: 'list',
        resource: `${ref.plural}.${ref.group}`,
        what: `list ${ref.plural}.${ref.group} in all namespaces`,
      },
      {
        method: 'GET',
        path: resourcePath(customApi(ref), ref.plural),
        query: { limit: params.limit, continue: params.continueToken },
      },
    );
  }
  createCustom<T extends KubeObject = KubeObject>(
    ref: CustomResourceRef,
    namespace: string,
    body: KubeObject,
  ): Promise<T> {
    return this.call(
      {
        verb: 'create',
        resource: `${ref.plural}.${ref.group}`,
        what: `create ${ref.plural}.${ref.group} ${namespace}/${body.metadata?.name}`,
      },
      { method: 'POST', path: resourcePath(customApi(ref), ref.plural, namespace), body },
    );
  }
  replaceCustom<T extends KubeObject = KubeObject>(
    ref: CustomResourceRef,
    namespace: string,
    name: string,
    body: KubeObject,
  ): Promise<T> {
    return this.call(
      {
        verb: 'update',
        resource: `${ref.plural}.${ref.group}`,
        what: `update ${ref.plural}.${ref.group} ${namespace}/${name}`,
      },
      { method: 'PUT', path: resourcePath(customApi(ref), ref.plural, namespace, name), body },
    );
  }
  /** A JSON or merge patch of one custom object. */
  patchCustom<T extends KubeObject = KubeObject>({ ref, namespace, name, body, type }: PatchCustomOptions): Promise<T> {
    return this.call(
      {
        verb: 'patch',
        resource: `${ref.plural}.${ref.group}`,
        what: `patch ${ref.plural}.${ref.group} ${namespace}/${name}`,
        patchType: type,
      },
      { method: 'PATCH', path: resourcePath(customApi(ref), ref.plural, namespace, name), body },
    );
  }
  /**
   * Deletes a custom object; with `resourceVersion`, only that version of it (DeleteOptions.preconditions:
   * kube-apiserver answers 409 Conflict when the object changed, or is another one of that name, since it was read).
   */
  deleteCustom(ref: CustomResourceRef, namespace: string, name: string, resourceVersion?: string): Promise<unknown> {
    const body = resourceVersion
      ? { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion } }
      : undefined;
    return this.call(
      {
        verb: 'delete',
        resource: `${ref.plural}.${ref.group}`,
        what: `delete ${ref.plural}.${ref.group} ${namespace}/${name}`,
      },
      { method: 'DELETE', path: resourcePath(customApi(ref), ref.plural, namespace, name), body },
    );
  }

  // --- authorization (pre-flight)
  async canI(verb: string, resource: string, group: string, namespace?: string): Promise<boolean> {
    const review = await this.call<k8s.V1SelfSubjectAccessReview>(
      { verb: 'create', resource: 'selfsubjectaccessreviews.authorization.k8s.io', what: `can-i ${verb} ${resource}` },
      {
        method: 'POST',
        path: resourcePath('/apis/authorization.k8s.io/v1', 'selfsubjectaccessreviews'),
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes: { verb, resource, group, namespace } },
        },
      },
    );
    return review.status?.allowed === true;
  }

  /**
   * One watch (`?watch=true`, bookmarks on), rate limited and counted like any call; its events are read line by
   * line as plain JSON. Resolves when onEvent returns true, the stream closes, the deadline passes or `signal`
   * aborts; a 410 Gone (as an ERROR event or as the answer) resolves as `expired`; any other failure (e.g. 403:
   * RBAC lacks `watch`; 405: the server cannot watch) rejects with a KubeError.
   */
  private async watch<T extends { metadata?: k8s.V1ObjectMeta }>(
    target: { path: string; resource: string; what: string; fieldSelector?: string },
    options: WatchOptions<T>,
  ): Promise<WatchEnd> {
    const { path, resource, what, fieldSelector } = target;
    await this.options.limiter.take();
    const started = performance.now();
    let status: number | 'error' = 200;
    let resourceVersion = options.resourceVersion;
    const remainingMs = Math.max(1, options.deadline - Date.now());
    const controller = new AbortController();
    let stopped: 'deadline' | 'cancelled' | 'no answer' | undefined;
    const stop = (why: NonNullable<typeof stopped>) => {
      stopped ??= why;
      controller.abort();
    };
    const timer = setTimeout(() => stop('deadline'), remainingMs);
    const cancel = () => stop('cancelled');
    // The caller's signal, and this view's (until): a watch of work given up is cut too.
    const signal =
      options.signal && this.signal ? AbortSignal.any([options.signal, this.signal]) : (options.signal ?? this.signal);
    if (signal?.aborted) cancel();
    else signal?.addEventListener('abort', cancel, { once: true });
    // No answer, not even the response headers, within the call deadline (K8S_REQUEST_TIMEOUT_MS): this watch fails
    // as a timed-out read does, and the caller watches again; past the watch's own deadline it ends as it would have.
    const connecting = setTimeout(() => stop('no answer'), Math.min(this.options.requestTimeoutMs, remainingMs));
    try {
      const query = {
        watch: 'true',
        allowWatchBookmarks: 'true',
        fieldSelector,
        resourceVersion,
        timeoutSeconds: Math.max(1, Math.ceil(remainingMs / 1000)),
      };
      const { url, headers, dispatcher, auth, reusedAuth } = await this.prepare('watch', 'GET', path, query);
      const res = await request(url, {
        method: 'GET',
        headers,
        dispatcher,
        signal: controller.signal,
        bodyTimeout: WATCH_IDLE_MS,
      });
      clearTimeout(connecting);
      status = res.statusCode;
      if (res.statusCode === 410) {
        await res.body.dump();
        return { end: 'expired', resourceVersion };
      }
      if (res.statusCode !== 200) {
        // The caller watches again; with fresh credentials if these may have been stale.
        if (res.statusCode === 401) this.refused(auth, reusedAuth);
        throw new k8s.ApiException(res.statusCode, `HTTP ${res.statusCode}`, await res.body.text(), flat(res.headers));
      }
      options.onOpen?.();
      res.body.setEncoding('utf8');
      let pending = '';
      // Returning from the loop ends the response: its stream on HTTP/2; on HTTP/1.1 its connection, which cannot
      // end a response early and stay open.
      for await (const chunk of res.body as AsyncIterable<string>) {
        pending += chunk;
        for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (!line.trim()) continue;
          const event = JSON.parse(line) as { type: string; object: unknown };
          if (event.type === 'ERROR') {
            const s = event.object as { code?: number };
            if (s.code === 410) return { end: 'expired', resourceVersion };
            throw new k8s.ApiException(s.code ?? 500, what, event.object, {});
          }
          const o = event.object as T;
          resourceVersion = o.metadata?.resourceVersion ?? resourceVersion;
          if (options.onEvent(event.type as WatchEventType, o)) return { end: 'done', resourceVersion };
        }
      }
      return { end: 'closed', resourceVersion };
    } catch (err) {
      if (stopped === 'deadline' || stopped === 'cancelled' || (stopped && Date.now() >= options.deadline)) {
        return { end: 'closed', resourceVersion };
      }
      if ((err as { code?: string }).code === 'UND_ERR_BODY_TIMEOUT') return { end: 'closed', resourceVersion };
      const kerr = toKubeError(
        stopped === 'no answer' ? Object.assign(new Error('no answer'), { name: 'TimeoutError' }) : err,
        what,
      );
      status = kerr.status ?? 'error';
      throw kerr;
    } finally {
      clearTimeout(timer);
      clearTimeout(connecting);
      signal?.removeEventListener('abort', cancel);
      const ms = performance.now() - started;
      this.options.onCall?.({ cluster: this.name, verb: 'watch', resource, what, status, ms });
    }
  }
  /**
   * Reads are idempotent: a transient failure (5xx, 429, timeout, reset) is retried here, up to
   * CALL_RETRIES times with jittered backoff, so a step with many reads does not burn a whole step
   * attempt on one flaky call. A write is retried here only when the API server answered with a
   * Retry-After (429 from its flow control, or a 5xx that asks for it), as client-go does for every verb
   * (rest/with_retry.go, checkWait); any other failed write goes back to the runner, which retries the
   * step: it re-observes first and writes only what is still missing.
   */
  private call<T>(op: KubeOp, req: WireRequest): Promise<T> {
    const { reads } = this;
    if (reads && req.method === 'GET')
      return reads.answer(readKey(this.name, req.path, req.query), () => this.unshared(op, req));
    return this.unshared(op, req);
  }

  private async unshared<T>(op: KubeOp, req: WireRequest): Promise<T> {
    const { verb } = op;
    let reauthenticated = false;
    for (let retry = 0; ; retry++) {
      try {
        return await this.callOnce<T>(op, req);
      } catch (err) {
        if (this.signal?.aborted) throw new CallAbandoned(op.what);
        // Refused with credentials that may be stale (reused from an earlier call, or an exec plugin's kept one;
        // they may have just rotated): once more, with fresh ones, whatever the verb (the server refused it, so
        // nothing was written); not a retry of the budget below.
        if (!reauthenticated && err instanceof KubeError && staleAuthRefused.has(err)) {
          reauthenticated = true;
          retry--;
          continue;
        }
        if (
          !(err instanceof KubeError) ||
          !err.transient ||
          // 410 Gone: an expired continue token or resourceVersion is refused again as it is; its caller starts over.
          err.status === 410 ||
          (verb !== 'get' && verb !== 'list' && err.retryAfterMs === undefined) ||
          retry >= CALL_RETRIES
        )
          throw err;
        const backoff = 50 * 2 ** retry;
        const ms = Math.max(err.retryAfterMs ?? 0, backoff / 2 + Math.random() * (backoff / 2));
        await pause(ms, undefined, { signal: this.signal }).catch(() => {
          throw new CallAbandoned(op.what);
        });
      }
    }
  }

  private async callOnce<T>(op: KubeOp, req: WireRequest): Promise<T> {
    const { verb, resource, what } = op;
    if (this.signal?.aborted) throw new CallAbandoned(what);
    await this.options.limiter.take();
    if (this.signal?.aborted) throw new CallAbandoned(what);
    // One CLIENT span per attempt; its trace context goes to the API server (kube-apiserver joins
    // the trace when its APIServerTracing is on).
    return inSpan(
      `k8s ${verb} ${resource}`,
      {
        kind: SpanKind.CLIENT,
        attributes: { 'k8s.cluster.name': this.name, 'k8s.verb': verb, 'k8s.resource': resource, 'k8s.call': what },
      },
      async (span) => {
        const started = performance.now();
        let status: number | 'error' = 200;
        let stale = false;
        try {
          const res = await this.send(op, req, span.isRecording() ? span : undefined);
          status = res.status;
          stale = res.staleAuth;
          if (res.status >= 200 && res.status < 300) return (res.text ? JSON.parse(res.text) : undefined) as T;
          // The Status body (kind: Status, reason, message) as kube-apiserver sent it; toKubeError reads it.
          throw new k8s.ApiException(res.status, `HTTP ${res.status}`, res.text, res.headers);
        } catch (err) {
          const kerr: KubeError = toKubeError(err, what);
          status = kerr.status ?? 'error';
          if (status === 401 && stale) staleAuthRefused.add(kerr);
          throw kerr;
        } finally {
          if (typeof status === 'number') span.setAttribute('http.response.status_code', status);
          this.options.onCall?.({ cluster: this.name, verb, resource, what, status, ms: performance.now() - started });
        }
      },
    );
  }

  /**
   * One HTTP exchange, authenticated as client-node authenticates its own calls (KubeConfig's
   * applySecurityAuthentication: bearer token, exec or OIDC credentials, client certificate, the
   * connection's dispatcher), sent with undici's `request`. Answers the status and the body as text: the
   * caller parses JSON itself (client-node's fetch and its model deserializer cost ~2.5 ms of worker CPU per
   * namespace; docs/performance.md).
   */
  private async send(
    { verb, patchType }: KubeOp,
    req: WireRequest,
    span: Span | undefined,
  ): Promise<{ status: number; text: string; headers: Record<string, string>; staleAuth: boolean }> {
    const { url, headers, dispatcher, auth, reusedAuth } = await this.prepare(verb, req.method, req.path, req.query);
    if (req.body !== undefined)
      headers['content-type'] = patchType ? PATCH_CONTENT_TYPE[patchType] : 'application/json';
    // Tracing off (the no-op tracer): no context to send and no attributes to compute.
    if (span) {
      Object.assign(headers, traceHeaders());
      span.setAttribute('http.request.method', req.method);
      span.setAttribute('url.path', req.path);
    }
    const res = await request(url, {
      method: req.method,
      headers,
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      dispatcher,
      signal: this.deadline(),
    });
    const text = await res.body.text();
    const staleAuth = res.statusCode === 401 && this.refused(auth, reusedAuth);
    return { status: res.statusCode, text, headers: res.statusCode >= 300 ? flat(res.headers) : {}, staleAuth };
  }

  /** A call's deadline (K8S_REQUEST_TIMEOUT_MS), cut short when this view's caller gives up (until). */
  private deadline(): AbortSignal {
    const timeout = AbortSignal.timeout(this.options.requestTimeoutMs);
    return this.signal ? AbortSignal.any([timeout, this.signal]) : timeout;
  }

  /**
   * The URL, headers and dispatcher of one call, authenticated as client-node authenticates its own (reused for
   * AUTH_REUSE_MS; `reusedAuth` says whether this call's were).
   */
  private async prepare(
    verb: KubeVerb,
    method: WireRequest['method'],
    path: string,
    query: WireRequest['query'] = {},
  ): Promise<{
    url: string;
    headers: Record<string, string>;
    dispatcher: Dispatcher;
    auth: Authentication;
    reusedAuth: boolean;
  }> {
    const server = this.kc.getCurrentCluster()?.server;
    if (!server) throw new KubeError('BAD_REQUEST', `cluster ${this.name}: the kubeconfig context names no server`);
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.append(k, String(v));
    if (WRITES.has(verb)) {
      // Every write names its writer, so the object's managedFields say what this service set.
      params.append('fieldManager', this.options.fieldManager);
      // A field the API server would drop (unknown to the CRD schema) fails the write instead:
      // silently pruned, the stored object would never match the plan, and every run would rewrite it.
      params.append('fieldValidation', 'Strict');
    }
    const url = `${server.replace(/\/+$/, '')}${path}${params.size ? `?${params.toString()}` : ''}`;
    const now = Date.now();
    let auth = this.auth && now - this.auth.at < AUTH_REUSE_MS ? this.auth : undefined;
    const reusedAuth = auth !== undefined;
    if (!auth) {
      // Authentication does not depend on the call (client-node reads only the context's cluster and user).
      const ctx = new k8s.RequestContext(url, method);
      await this.kc.applySecurityAuthentication(ctx);
      auth = { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() ?? getGlobalDispatcher(), at: now };
      this.auth = auth;
    }
    // A copy per call: send() adds its own headers.
    return {
      url,
      headers: { ...auth.headers, accept: 'application/json' },
      dispatcher: auth.dispatcher,
      auth,
      reusedAuth,
    };
  }

  /**
   * A 401 answered to `refused`. Answers whether fresh credentials may differ (the refused ones were reused, came
   * from an exec plugin's cache, or another call has computed newer ones meanwhile) and, when they may, forgets the
   * refused ones (with an exec plugin's kept credential) so that the next call computes them afresh.
   */
  private refused(refused: Authentication, reused: boolean): boolean {
    if (this.auth && this.auth !== refused) return true;
    const stale = forgetExecCredential(this.kc) || reused;
    if (stale) this.auth = undefined;
    return stale;
  }
}
