import { createHash } from 'node:crypto';
import type https from 'node:https';
import tls from 'node:tls';
import * as k8s from '@kubernetes/client-node';
import { Agent } from 'undici';
import type { KubeObject, PatchType } from '../common/kube-object.js';
import { KubeError, toKubeError } from './kube-error.js';
import type { CallLimiter } from './rate-limiter.js';
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
// watch that ends closes its connection.
type Dispatcher = NonNullable<ReturnType<k8s.RequestContext['getDispatcher']>>;
type CreateDispatcher = (cluster: k8s.Cluster | null, agentOptions: https.AgentOptions) => Dispatcher | undefined;
const dispatchers = new Map<string, Dispatcher>();

function bufferAsText(_key: string, value: unknown): unknown {
  const v = value as { type?: string; data?: number[] } | null;
  return v && v.type === 'Buffer' && Array.isArray(v.data) ? Buffer.from(v.data).toString('base64') : value;
}

function reuseDispatchers(kc: k8s.KubeConfig): void {
  const target = kc as unknown as { createDispatcher: CreateDispatcher };
  const create = target.createDispatcher.bind(kc);
  target.createDispatcher = (cluster, agentOptions) => {
    const options = kc.createDispatcherOptions(cluster, agentOptions);
    if (options.type === 'none') return undefined; // fetch's global dispatcher, already keep-alive
    const key = createHash('sha256').update(JSON.stringify(options, bufferAsText)).digest('hex');
    let dispatcher = dispatchers.get(key);
    if (!dispatcher) {
      dispatcher = options.type === 'agent' ? agentSharingTls(options.connect) : create(cluster, agentOptions);
      if (dispatcher) dispatchers.set(key, dispatcher);
    }
    return dispatcher;
  };
}

/** client-node's direct-connection Agent, with its TLS credentials in one SecureContext for every connection. */
function agentSharingTls(connect: Extract<k8s.DispatcherOptions, { type: 'agent' }>['connect']): Dispatcher {
  const { ca, cert, key, pfx, passphrase, ...rest } = connect as tls.ConnectionOptions;
  const secureContext = tls.createSecureContext({ ca, cert, key, pfx, passphrase });
  return new Agent({ connect: { ...rest, secureContext } as Agent.Options['connect'] });
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
  limiter: CallLimiter;
  /** The `fieldManager` query parameter of every create, update and patch (K8S_FIELD_MANAGER). */
  fieldManager: string;
  onCall?: (record: KubeCallRecord) => void;
}

const WRITES: ReadonlySet<KubeVerb> = new Set(['create', 'update', 'patch']);

/**
 * Typed access to one cluster (one kubeconfig context). Every call is rate limited,
 * bounded by a deadline, counted, and fails only with KubeError.
 */
export class ClusterClient {
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly authz: k8s.AuthorizationV1Api;

  constructor(
    readonly name: string,
    private readonly kc: k8s.KubeConfig,
    private readonly options: ClusterClientOptions,
  ) {
    reuseDispatchers(kc);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.authz = kc.makeApiClient(k8s.AuthorizationV1Api);
  }

  // --- namespaces
  getNamespace(name: string): Promise<k8s.V1Namespace> {
    return this.call({ verb: 'get', resource: 'namespaces', what: `get namespace ${name}` }, (o) =>
      this.core.readNamespace({ name }, o),
    );
  }
  listNamespaces(
    params: { labelSelector?: string; limit?: number; continueToken?: string } = {},
  ): Promise<k8s.V1NamespaceList> {
    return this.call({ verb: 'list', resource: 'namespaces', what: 'list namespaces' }, (o) =>
      this.core.listNamespace(
        { labelSelector: params.labelSelector, limit: params.limit, _continue: params.continueToken },
        o,
      ),
    );
  }
  /** Every namespace's changes (bookmarks on), for the API's namespace informer. See `watch` for how it ends. */
  watchNamespaces(options: WatchOptions<k8s.V1Namespace>): Promise<WatchEnd> {
    return this.watch({ path: '/api/v1/namespaces', resource: 'namespaces', what: 'watch namespaces' }, options);
  }
  patchNamespace(name: string, body: object, type: PatchType): Promise<k8s.V1Namespace> {
    return this.call({ verb: 'patch', resource: 'namespaces', what: `patch namespace ${name}`, patchType: type }, (o) =>
      this.core.patchNamespace({ name, body }, o),
    );
  }

  // --- apps
  listDeployments(namespace: string | undefined, labelSelector?: string): Promise<k8s.V1DeploymentList> {
    return this.call(
      { verb: 'list', resource: 'deployments.apps', what: `list deployments${namespace ? ` in ${namespace}` : ''}` },
      (o) =>
        namespace
          ? this.apps.listNamespacedDeployment({ namespace, labelSelector }, o)
          : this.apps.listDeploymentForAllNamespaces({ labelSelector }, o),
    );
  }
  getDeployment(namespace: string, name: string): Promise<k8s.V1Deployment> {
    return this.call({ verb: 'get', resource: 'deployments.apps', what: `get deployment ${namespace}/${name}` }, (o) =>
      this.apps.readNamespacedDeployment({ namespace, name }, o),
    );
  }
  patchDeployment(namespace: string, name: string, body: object, type: PatchType): Promise<k8s.V1Deployment> {
    return this.call(
      { verb: 'patch', resource: 'deployments.apps', what: `patch deployment ${namespace}/${name}`, patchType: type },
      (o) => this.apps.patchNamespacedDeployment({ namespace, name, body }, o),
    );
  }
  /**
   * One watch of a namespace's Deployments (bookmarks on); with `name`, of that one only
   * (`fieldSelector=metadata.name=<name>`), what `kubectl rollout status` opens. See `watch` for how it ends.
   */
  watchDeployments(namespace: string, options: WatchDeploymentOptions & { name?: string }): Promise<WatchEnd> {
    const path = `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments`;
    const { name } = options;
    const what = name ? `watch deployment ${namespace}/${name}` : `watch deployments in ${namespace}`;
    const fieldSelector = name ? `metadata.name=${name}` : undefined;
    return this.watch({ path, resource: 'deployments.apps', what, fieldSelector }, options);
  }
  listStatefulSets(namespace: string): Promise<k8s.V1StatefulSetList> {
    return this.call({ verb: 'list', resource: 'statefulsets.apps', what: `list statefulsets in ${namespace}` }, (o) =>
      this.apps.listNamespacedStatefulSet({ namespace }, o),
    );
  }
  listDaemonSets(namespace: string): Promise<k8s.V1DaemonSetList> {
    return this.call({ verb: 'list', resource: 'daemonsets.apps', what: `list daemonsets in ${namespace}` }, (o) =>
      this.apps.listNamespacedDaemonSet({ namespace }, o),
    );
  }

  // --- core
  listPods(namespace: string, labelSelector?: string): Promise<k8s.V1PodList> {
    return this.call({ verb: 'list', resource: 'pods', what: `list pods in ${namespace}` }, (o) =>
      this.core.listNamespacedPod({ namespace, labelSelector }, o),
    );
  }
  listServices(namespace: string): Promise<k8s.V1ServiceList> {
    return this.call({ verb: 'list', resource: 'services', what: `list services in ${namespace}` }, (o) =>
      this.core.listNamespacedService({ namespace }, o),
    );
  }
  getService(namespace: string, name: string): Promise<k8s.V1Service> {
    return this.call({ verb: 'get', resource: 'services', what: `get service ${namespace}/${name}` }, (o) =>
      this.core.readNamespacedService({ namespace, name }, o),
    );
  }
  patchService(namespace: string, name: string, body: object, type: PatchType): Promise<k8s.V1Service> {
    return this.call(
      { verb: 'patch', resource: 'services', what: `patch service ${namespace}/${name}`, patchType: type },
      (o) => this.core.patchNamespacedService({ namespace, name, body }, o),
    );
  }
  listServiceAccounts(namespace: string): Promise<k8s.V1ServiceAccountList> {
    return this.call({ verb: 'list', resource: 'serviceaccounts', what: `list serviceaccounts in ${namespace}` }, (o) =>
      this.core.listNamespacedServiceAccount({ namespace }, o),
    );
  }
  patchPod(namespace: string, name: string, body: object, type: PatchType): Promise<k8s.V1Pod> {
    return this.call(
      { verb: 'patch', resource: 'pods', what: `patch pod ${namespace}/${name}`, patchType: type },
      (o) => this.core.patchNamespacedPod({ namespace, name, body }, o),
    );
  }
  /** One page of a namespace's pods (`limit` + `continue`), for callers that must stay bounded. */
  listPodsPage(namespace: string, params: { limit: number; continueToken?: string }): Promise<k8s.V1PodList> {
    return this.call({ verb: 'list', resource: 'pods', what: `list pods in ${namespace}` }, (o) =>
      this.core.listNamespacedPod({ namespace, limit: params.limit, _continue: params.continueToken }, o),
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
      (o) => this.custom.getNamespacedCustomObject({ ...ref, namespace, name }, o),
    ) as Promise<T>;
  }
  listCustom<T extends KubeObject = KubeObject>(
    ref: CustomResourceRef,
    namespace: string,
    labelSelector?: string,
  ): Promise<{ items: T[] }> {
    return this.call(
      { verb: 'list', resource: `${ref.plural}.${ref.group}`, what: `list ${ref.plural}.${ref.group} in ${namespace}` },
      (o) => this.custom.listNamespacedCustomObject({ ...ref, namespace, labelSelector }, o),
    ) as Promise<{ items: T[] }>;
  }
  /** One list across every namespace (`/apis/<group>/<version>/<plural>`), e.g. every TrafficTarget of a cluster. */
  listCustomAllNamespaces<T extends KubeObject = KubeObject>(ref: CustomResourceRef): Promise<{ items: T[] }> {
    return this.call(
      {
        verb: 'list',
        resource: `${ref.plural}.${ref.group}`,
        what: `list ${ref.plural}.${ref.group} in all namespaces`,
      },
      (o) => this.custom.listClusterCustomObject({ group: ref.group, version: ref.version, plural: ref.plural }, o),
    ) as Promise<{ items: T[] }>;
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
      (o) => this.custom.createNamespacedCustomObject({ ...ref, namespace, body }, o),
    ) as Promise<T>;
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
      (o) => this.custom.replaceNamespacedCustomObject({ ...ref, namespace, name, body }, o),
    ) as Promise<T>;
  }
  /** A JSON or merge patch of one custom object (client-node's `patchNamespacedCustomObject`). */
  patchCustom<T extends KubeObject = KubeObject>({ ref, namespace, name, body, type }: PatchCustomOptions): Promise<T> {
    return this.call(
      {
        verb: 'patch',
        resource: `${ref.plural}.${ref.group}`,
        what: `patch ${ref.plural}.${ref.group} ${namespace}/${name}`,
        patchType: type,
      },
      (o) => this.custom.patchNamespacedCustomObject({ ...ref, namespace, name, body }, o),
    ) as Promise<T>;
  }
  deleteCustom(ref: CustomResourceRef, namespace: string, name: string): Promise<unknown> {
    return this.call(
      {
        verb: 'delete',
        resource: `${ref.plural}.${ref.group}`,
        what: `delete ${ref.plural}.${ref.group} ${namespace}/${name}`,
      },
      (o) => this.custom.deleteNamespacedCustomObject({ ...ref, namespace, name }, o),
    );
  }

  // --- authorization (pre-flight)
  async canI(verb: string, resource: string, group: string, namespace?: string): Promise<boolean> {
    const review = await this.call(
      { verb: 'create', resource: 'selfsubjectaccessreviews.authorization.k8s.io', what: `can-i ${verb} ${resource}` },
      (o) =>
        this.authz.createSelfSubjectAccessReview(
          {
            body: {
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'SelfSubjectAccessReview',
              spec: { resourceAttributes: { verb, resource, group, namespace } },
            },
          },
          o,
        ),
    );
    return review.status?.allowed === true;
  }

  /**
   * One watch through client-node's Watch (the events arrive as plain JSON, not deserialized), rate limited
   * and counted like any call. Resolves when onEvent returns true, the stream closes, the deadline passes or
   * `signal` aborts; a 410 Gone (as an ERROR event or as the answer) resolves as `expired`; any other failure
   * (e.g. 403: RBAC lacks `watch`; 405: the server cannot watch) rejects with a KubeError.
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
    try {
      return await new Promise<WatchEnd>((resolve, reject) => {
        let end: WatchEnd['end'] = 'closed';
        let failure: KubeError | undefined;
        let controller: AbortController | undefined;
        const timer = setTimeout(() => controller?.abort(), remainingMs);
        const cancel = () => controller?.abort();
        options.signal?.addEventListener('abort', cancel, { once: true });
        // No answer, not even the response headers, within the call deadline (K8S_REQUEST_TIMEOUT_MS): this watch
        // fails as a timed-out read does, and the caller watches again (client-node alone would wait 30 s); past the
        // watch's own deadline, or cancelled, it ends as it would have. The abandoned request is aborted if it ever
        // answers, or ends by client-node's own timer.
        let abandoned = false;
        const connecting = setTimeout(
          () => {
            abandoned = true;
            clearTimeout(timer);
            options.signal?.removeEventListener('abort', cancel);
            if (options.signal?.aborted || Date.now() >= options.deadline) return resolve({ end, resourceVersion });
            reject(toKubeError(Object.assign(new Error('no answer'), { name: 'TimeoutError' }), what));
          },
          Math.min(this.options.requestTimeoutMs, remainingMs),
        );
        const stop = (how: WatchEnd['end']) => {
          end = how;
          controller?.abort();
        };
        const onLine = (type: string, obj: unknown) => {
          if (abandoned || end !== 'closed' || failure) return;
          if (type === 'ERROR') {
            const s = obj as { code?: number; message?: string; reason?: string };
            if (s.code === 410) return stop('expired');
            failure = toKubeError(new k8s.ApiException(s.code ?? 500, what, s, {}), what);
            return stop('closed');
          }
          const o = obj as T;
          resourceVersion = o.metadata?.resourceVersion ?? resourceVersion;
          if (options.onEvent(type as WatchEventType, o)) stop('done');
        };
        const onDone = (err: unknown) => {
          clearTimeout(timer);
          clearTimeout(connecting);
          options.signal?.removeEventListener('abort', cancel);
          const code = (err as { statusCode?: number } | null)?.statusCode;
          if (failure) return reject(failure);
          if (end !== 'closed' || !err) return resolve({ end, resourceVersion });
          if (code === 410) return resolve({ end: 'expired', resourceVersion });
          const name = (err as { name?: string }).name;
          if (name === 'AbortError' || name === 'TimeoutError') return resolve({ end, resourceVersion });
          reject(
            code ? toKubeError(new k8s.ApiException(code, what, `HTTP ${code}`, {}), what) : toKubeError(err, what),
          );
        };
        // client-node ends a watch after 30 s without a byte (its inactivity timeout, not settable through its
        // public API): that resolves as `closed`, and the caller watches again from the last resourceVersion.
        new k8s.Watch(this.kc)
          .watch(
            path,
            {
              fieldSelector,
              resourceVersion,
              allowWatchBookmarks: true,
              timeoutSeconds: Math.max(1, Math.ceil(remainingMs / 1000)),
            },
            onLine,
            onDone,
          )
          .then((c) => {
            controller = c;
            clearTimeout(connecting);
            if (abandoned || end !== 'closed' || Date.now() >= options.deadline || options.signal?.aborted) c.abort();
          }, onDone);
      });
    } catch (err) {
      status = err instanceof KubeError ? (err.status ?? 'error') : 'error';
      throw err;
    } finally {
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
  private async call<T>(op: KubeOp, fn: (options: k8s.ConfigurationOptions) => Promise<T>): Promise<T> {
    const { verb } = op;
    for (let retry = 0; ; retry++) {
      try {
        return await this.callOnce(op, fn);
      } catch (err) {
        if (
          !(err instanceof KubeError) ||
          !err.transient ||
          (verb !== 'get' && verb !== 'list' && err.retryAfterMs === undefined) ||
          retry >= CALL_RETRIES
        )
          throw err;
        const backoff = 50 * 2 ** retry;
        await new Promise((r) =>
          setTimeout(r, Math.max(err.retryAfterMs ?? 0, backoff / 2 + Math.random() * (backoff / 2))),
        );
      }
    }
  }

  private async callOnce<T>(
    { verb, resource, what, patchType }: KubeOp,
    fn: (options: k8s.ConfigurationOptions) => Promise<T>,
  ): Promise<T> {
    await this.options.limiter.take();
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
        const signal = AbortSignal.timeout(this.options.requestTimeoutMs);
        const middleware: k8s.ObservableMiddleware = {
          pre: (ctx) => {
            ctx.setSignal(signal);
            if (patchType) ctx.setHeaderParam('Content-Type', PATCH_CONTENT_TYPE[patchType]);
            if (WRITES.has(verb)) {
              // Every write names its writer, so the object's managedFields say what this service set.
              ctx.setQueryParam('fieldManager', this.options.fieldManager);
              // A field the API server would drop (unknown to the CRD schema) fails the write instead:
              // silently pruned, the stored object would never match the plan, and every run would rewrite it.
              ctx.setQueryParam('fieldValidation', 'Strict');
            }
            // Tracing off (the no-op tracer): no context to send and no attributes to compute.
            if (span.isRecording()) {
              for (const [k, v] of Object.entries(traceHeaders())) ctx.setHeaderParam(k, v);
              span.setAttribute('http.request.method', ctx.getHttpMethod());
              span.setAttribute('url.path', new URL(ctx.getUrl()).pathname);
            }
            return new k8s.Observable(Promise.resolve(ctx));
          },
          post: (res) => new k8s.Observable(Promise.resolve(res)),
        };
        let status: number | 'error' = 200;
        try {
          return await fn({ middleware: [middleware], middlewareMergeStrategy: 'append' });
        } catch (err) {
          const kerr: KubeError = toKubeError(err, what);
          status = kerr.status ?? 'error';
          throw kerr;
        } finally {
          if (typeof status === 'number') span.setAttribute('http.response.status_code', status);
          this.options.onCall?.({ cluster: this.name, verb, resource, what, status, ms: performance.now() - started });
        }
      },
    );
  }
}
