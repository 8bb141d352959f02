// Public API of the Kubernetes API emulator: a real HTTP server with kube-apiserver semantics,
// simulated controllers and an osm-edge v1.3.9 install, for tests that talk to it through a kubeconfig.

import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { namespaceLifecyclePlugin, podDefaultsPlugin, serviceAccountPlugin } from './admission.js';
import { KubeApi } from './api.js';
import { ControllerManager, type PodReadiness } from './controllers.js';
import { StoreFacade, type EmulatorStore } from './facade.js';
import { Faults, RequestRecorder, type FaultController, type RequestLog } from './faults.js';
import { Authenticator } from './identity.js';
import { renderKubeconfig, type KubeconfigOptions } from './kubeconfig.js';
import { InjectorNamespaceCache, OSM, osmInjectorBackend, osmValidatorBackend } from './osm.js';
import { RbacAuthorizer } from './rbac.js';
import { ResourceRegistry } from './resources.js';
import { NODE_NAME, seedBaseCluster, seedBookstore, seedOsmControlPlane } from './seed.js';
import { EmulatorServer } from './server.js';
import { ObjectStore } from './store.js';
import { webhookAdmissionPlugin, type WebhookBackend } from './webhooks.js';
import { WorkTracker } from './work.js';

export interface EmulatorOptions {
  /** Default 0 (ephemeral); the host is always 127.0.0.1. */
  port?: number;
  /** Default 'osm': base cluster + osm-edge v1.3.9 + bookstore demo. 'empty': base cluster only. */
  seed?: 'osm' | 'empty';
  /** Bearer token required on every API request; default a random token. */
  token?: string;
  /** Simulated osm-injector informer lag (docs/osm-edge.md#injector-race); default 0. */
  injectorLagMs?: number;
  /** Delay before a new pod becomes Running+Ready (and before a deleted pod disappears); default 0. */
  podStartMs?: number;
  /** Deep-freeze stored objects, so a change in place throws (ObjectStore.freezeStored); default true. */
  freezeStored?: boolean;
  /** Offer HTTP/2 on the TLS listener, as kube-apiserver does (false: HTTP/1.1 only, as behind an h1 proxy). */
  http2?: boolean;
}

export interface Emulator {
  /** http://127.0.0.1:<port> (plain HTTP; the same port also speaks TLS). */
  url: string;
  /** https://127.0.0.1:<port>: what kubeconfig() uses, because kubectl sends bearer tokens only over TLS. */
  tlsUrl: string;
  port: number;
  /** The admin token (user kubernetes-admin, group system:masters: RBAC allows it everything). */
  token: string;
  /** kubeconfig text; `token` (e.g. from tokenFor) authenticates as someone else than the admin. */
  kubeconfig(opts?: KubeconfigOptions): string;
  writeKubeconfig(path: string, opts?: KubeconfigOptions): Promise<void>;
  /**
   * A bound token of an existing ServiceAccount, as its TokenRequest subresource issues it: requests with it are
   * user `system:serviceaccount:<namespace>:<serviceAccount>`, groups `system:serviceaccounts`,
   * `system:serviceaccounts:<namespace>` and `system:authenticated`, authorized by RBAC.
   */
  tokenFor(sa: { namespace: string; serviceAccount: string; expirationSeconds?: number }): string;
  store: EmulatorStore;
  faults: FaultController;
  requests: RequestLog;
  /**
   * The kubelet's readiness: `pods.holdUnready({ namespace, labelSelector })` keeps pods that start from then on
   * Running but unready (a failing readiness probe), e.g. to let a rollout pass its progress deadline;
   * `pods.release(id)` lets them turn Ready.
   */
  pods: PodReadiness;
  /** Resolves when the simulated controllers have settled (same as store.idle()). */
  idle(): Promise<void>;
  /** TCP connections accepted since start (plain and TLS). */
  connectionsAccepted(): number;
  /** Watches open now (e.g. to check that a client closed its own). */
  openWatches(): number;
  /** Ends every open watch, as kube-apiserver does when a watch's timeout passes; returns how many were open. */
  closeWatches(): number;
  /** etcd compaction at the current revision: watches from an older resourceVersion get 410 Expired. */
  compact(): void;
  /** Changes the simulated timings of a running emulator. */
  configure(settings: { injectorLagMs?: number; podStartMs?: number }): void;
  close(): Promise<void>;
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const settings = { injectorLagMs: opts.injectorLagMs ?? 0, podStartMs: opts.podStartMs ?? 0 };
  const token = opts.token ?? randomBytes(24).toString('hex');
  const registry = new ResourceRegistry();
  const objects = new ObjectStore();
  objects.freezeStored = opts.freezeStored ?? true;
  const api = new KubeApi(registry, objects);
  const work = new WorkTracker();

  const injectorCache = new InjectorNamespaceCache(objects, work, () => settings.injectorLagMs);
  const backends = new Map<string, WebhookBackend>([
    [OSM.injectorWebhook, osmInjectorBackend(api, injectorCache)],
    [OSM.validatorWebhook, osmValidatorBackend()],
  ]);
  api.admission.add(namespaceLifecyclePlugin(objects));
  api.admission.add(serviceAccountPlugin(objects));
  api.admission.add(podDefaultsPlugin());
  api.admission.add(webhookAdmissionPlugin(objects, backends));

  const controllers = new ControllerManager(api, work, { podStartMs: () => settings.podStartMs, nodeName: NODE_NAME });
  controllers.start();

  const store = new StoreFacade(api, work);
  seedBaseCluster(store);
  if ((opts.seed ?? 'osm') === 'osm') {
    seedOsmControlPlane(store);
    await work.idle(); // the injector must be Ready before application pods are admitted
    seedBookstore(store);
  }
  await work.idle();

  const faults = new Faults();
  const requests = new RequestRecorder();
  const authn = new Authenticator(objects, token);
  const authz = new RbacAuthorizer(objects);
  const server = new EmulatorServer({
    api,
    faults,
    requests,
    work,
    authn,
    authz,
    http2: opts.http2,
    pods: controllers.pods,
  });
  const port = await server.listen(opts.port ?? 0);
  const url = `http://127.0.0.1:${port}`;
  const tlsUrl = `https://127.0.0.1:${port}`;
  let closed = false;

  return {
    url,
    port,
    token,
    store,
    faults,
    requests,
    pods: controllers.pods,
    tlsUrl,
    kubeconfig: (k) => renderKubeconfig(tlsUrl, token, k),
    async writeKubeconfig(path, k) {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, renderKubeconfig(tlsUrl, token, k), { mode: 0o600 });
    },
    tokenFor: ({ namespace, serviceAccount, expirationSeconds }) =>
      String(
        (authn.request(namespace, serviceAccount, { spec: { expirationSeconds } }).status as { token: string }).token,
      ),
    idle: () => work.idle(),
    connectionsAccepted: () => server.connectionsAccepted,
    openWatches: () => server.openWatches(),
    closeWatches: () => server.closeWatches(),
    compact: () => objects.compact(),
    configure(next) {
      if (next.injectorLagMs !== undefined) settings.injectorLagMs = next.injectorLagMs;
      if (next.podStartMs !== undefined) settings.podStartMs = next.podStartMs;
    },
    async close() {
      if (closed) return;
      closed = true;
      controllers.stop();
      work.close();
      await server.close();
    },
  };
}

export {
  SEEDED_APP_NAMESPACES,
  OSM_NAMESPACE,
  MESH_NAME,
  seedAppNamespace,
  seedBaseCluster,
  seedOsmControlPlane,
  seedBookstore,
  osmCrds,
  defaultMeshConfigSpec,
  type AppNamespaceOptions,
} from './seed.js';
export { OSM, isInjected } from './osm.js';
export type { EmulatorStore, ListFilter } from './facade.js';
export type { FaultController, FaultRule, RequestLog, RequestLogEntry, RequestFilter } from './faults.js';
export type { PodHold, PodReadiness } from './controllers.js';
export type { KubeObject, ObjectRef, ObjectMeta } from './types.js';
export type { PatchType, DeleteOptions } from './api.js';
export { StatusError } from './errors.js';
export type { KubeconfigOptions } from './kubeconfig.js';
