// Request-time reads of the target namespace (and, for `restart.mode: selected`, its Deployments; for
// `appProtocols`, its Services; for SMI objects, each of them; for a request that writes the MeshConfig, the
// MeshConfig; for the Egress method, its Egress), so the API refuses with 422 (409) what the worker would refuse
// anyway, a resource the cluster does not serve included. Bounded: per request one namespace read, plus one
// Deployment list, one Service list, one MeshConfig get or one get per SMI object or Egress only for a request that
// needs it,
// through the cluster's rate-limited client, shared by concurrent requests for the same target and cached briefly;
// a read that misses PRECHECK_TIMEOUT_MS (or fails) lets the request through and the worker decides, with the same
// checks and codes. In the API role, the cached namespace read is a lookup in the cluster's namespace informer once
// it has synced (namespace-informer.ts): no Kubernetes call at all; a refusal still rests on a fresh read (refuseIf).
// The request's mesh lookup (MeshDiscoveryService, its own cache) gets the same deadline (inTime).
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import type { V1Deployment, V1Namespace, V1Service } from '@kubernetes/client-node';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { ClusterGateway } from '../kubernetes/cluster-gateway.js';
import { KubeError } from '../kubernetes/kube-error.js';
import { CRD, MESH_CONFIG_NAME } from '../mesh/osm.js';
import { isOwned, type CrdRef } from '../mesh/ownership.js';
import { NamespaceInformer } from './namespace-informer.js';
import type { Observed } from './observed.js';
import { kubeHint } from './step-failure.js';
import { getOptional } from './steps/kit/custom-objects.js';

interface Entry<T> {
  expires: number;
  value: Promise<Observed<T>>;
}

/** A custom object by kind and name (in the request's namespace). */
type CustomRef = { ref: CrdRef; name: string };

/** Entries kept at most; the oldest go first (a Map iterates in insertion order). */
const MAX_ENTRIES = 10_000;

@Injectable()
export class TargetPrecheck {
  private readonly logger = new Logger(TargetPrecheck.name);
  private readonly namespaces = new Map<string, Entry<V1Namespace>>();
  private readonly deployments = new Map<string, Entry<V1Deployment[]>>();
  private readonly services = new Map<string, Entry<V1Service[]>>();
  private readonly customs = new Map<string, Entry<CustomRef[]>>();
  private readonly meshConfigs = new Map<string, Entry<true>>();
  /** Reads per cluster still running past their deadline: while any is, the cluster is slow; don't queue more. */
  private readonly overdue = new Map<string, number>();

  constructor(
    private readonly gateway: ClusterGateway,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    // API role only (api-edges.ts): the worker never validates requests, so it never watches namespaces.
    @Optional() private readonly informer?: NamespaceInformer,
  ) {}

  get enabled(): boolean {
    return this.config.precheck.timeoutMs > 0;
  }

  /**
   * The namespace as the cluster has it. `fresh` skips a cached answer: a refusal is only ever based on a
   * read made for this request (a cached "fine" may let a request through; the worker checks again). Not
   * fresh: the namespace informer's view when it has synced (it may lag a moment, as the cache does).
   */
  namespace(cluster: string, name: string, fresh = false): Promise<Observed<V1Namespace>> {
    const known = fresh ? undefined : this.informer?.lookup(cluster, name);
    if (known) return Promise.resolve(known);
    return this.read(this.namespaces, { cluster, name, fresh }, () => this.gateway.client(cluster).getNamespace(name));
  }

  deploymentsOf(cluster: string, namespace: string, fresh = false): Promise<Observed<V1Deployment[]>> {
    return this.read(
      this.deployments,
      { cluster, name: namespace, fresh },
      async () => (await this.gateway.client(cluster).listDeployments(namespace)).items,
    );
  }

  /**
   * The namespace's Services, each cut to its name and ports (what the app-protocol rules read; a cached list
   * holds no annotations). One LIST however many Services a request names: as few calls as a GET for one
   * Service, fewer for two or more, and it names the Services there are when one is missing (the step's hint).
   */
  servicesOf(cluster: string, namespace: string, fresh = false): Promise<Observed<V1Service[]>> {
    return this.read(this.services, { cluster, name: namespace, fresh }, async () =>
      (await this.gateway.client(cluster).listServices(namespace)).items.map(portsOnly),
    );
  }

  /**
   * Which of the named custom objects (the request's SMI objects) exist and were not created by osm-onboarding:
   * one GET each, only for a request that names some.
   */
  foreignObjects(
    cluster: string,
    namespace: string,
    objects: CustomRef[],
    fresh = false,
  ): Promise<Observed<CustomRef[]>> {
    const key = `${namespace}\u0000${objects.map((o) => `${o.ref.kind}/${o.name}`).join('\u0000')}`;
    return this.read(this.customs, { cluster, name: key, fresh }, async () => {
      const kube = this.gateway.client(cluster);
      const found = await Promise.all(objects.map((o) => getOptional(kube, o.ref, namespace, o.name)));
      return objects.filter((_, i) => found[i] && !isOwned(found[i]));
    });
  }

  /**
   * Whether the mesh's MeshConfig exists (`osm-mesh-config` in its control plane namespace): one GET, only for a
   * request whose steps read it, shared by every request for that mesh while cached.
   */
  meshConfig(cluster: string, namespace: string, fresh = false): Promise<Observed<true>> {
    return this.read(this.meshConfigs, { cluster, name: namespace, fresh }, async (): Promise<true> => {
      const mc = await getOptional(this.gateway.client(cluster), CRD.meshConfig, namespace, MESH_CONFIG_NAME);
      if (!mc) throw new KubeError('NOT_FOUND', `MeshConfig ${namespace}/${MESH_CONFIG_NAME} does not exist`, 404);
      return true;
    });
  }

  /**
   * Runs `check` on a cached read; if it refuses, runs it again on a fresh read and refuses only if that
   * one does too. An unknown read (timeout, cluster away) accepts. A resource the cluster does not serve is
   * refused as the worker's step would (KUBE_RESOURCE_NOT_SERVED, on `field`).
   */
  async refuseIf<T>(
    observe: (fresh: boolean) => Promise<Observed<T>>,
    check: (o: Observed<T>) => void,
    field = 'cluster',
  ): Promise<void> {
    const judge = (o: Observed<T>) => {
      if (o.kind === 'unserved') {
        throw new DomainError('KUBE_RESOURCE_NOT_SERVED', o.reason, { field, hint: o.hint });
      }
      check(o);
    };
    const cached = await observe(false);
    if (cached.kind === 'unknown') return this.skipped(cached.reason);
    try {
      judge(cached);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      const fresh = await observe(true);
      if (fresh.kind === 'unknown') return this.skipped(fresh.reason);
      judge(fresh);
    }
  }

  private skipped(reason: string): void {
    this.logger.debug(`request-time check skipped (${reason}); the worker decides`);
  }

  private read<T>(
    cache: Map<string, Entry<T>>,
    { cluster, name, fresh }: { cluster: string; name: string; fresh: boolean },
    fetch: () => Promise<T>,
  ): Promise<Observed<T>> {
    const key = `${cluster}\u0000${name}`;
    const now = Date.now();
    const hit = cache.get(key);
    if (!fresh && hit && hit.expires > now) return hit.value;
    if ((this.overdue.get(cluster) ?? 0) > 0) {
      return Promise.resolve({ kind: 'unknown', reason: `cluster ${cluster} is slow` });
    }
    const value = this.bounded(cluster, fetch);
    cache.delete(key);
    cache.set(key, { expires: now + this.config.precheck.cacheMs, value });
    // Entries are in insertion order with the same lifetime, so the expired ones are at the front: drop them
    // (they are never served) rather than hold up to MAX_ENTRIES objects read long ago.
    for (const [k, e] of cache) {
      if (e.expires > now && cache.size <= MAX_ENTRIES) break;
      cache.delete(k);
    }
    // Only answers are cached; a read that did not answer in time is asked again next time.
    void value.then((o) => {
      if (o.kind === 'unknown' && cache.get(key)?.value === value) cache.delete(key);
    });
    return value;
  }

  /**
   * `lookup`'s answer (the mesh's, which MeshDiscoveryService caches), or undefined when the cluster has not given
   * it within PRECHECK_TIMEOUT_MS, or at once while a read of that cluster is past its deadline (a cached answer
   * still comes: it settles before any timer). Its failures (MESH_NOT_FOUND, a 403) come as they are. A late
   * answer is not lost: the lookup goes on and fills the cache for the next request and the worker.
   */
  inTime<T>(cluster: string, lookup: () => Promise<T>): Promise<{ value: T } | undefined> {
    const answer = Promise.resolve()
      .then(lookup)
      .then((value) => ({ value }));
    const slow = (this.overdue.get(cluster) ?? 0) > 0;
    return this.deadline(cluster, answer, () => undefined, slow ? 0 : this.config.precheck.timeoutMs);
  }

  /** The read with the request-time deadline; a late answer still settles (and frees the cluster's slot). */
  private bounded<T>(cluster: string, fetch: () => Promise<T>): Promise<Observed<T>> {
    const read = Promise.resolve()
      .then(fetch)
      .then(
        (value): Observed<T> => ({ kind: 'found', value }),
        (err: unknown): Observed<T> => {
          if (err instanceof KubeError && err.reason === 'NOT_FOUND') return { kind: 'absent' };
          if (err instanceof KubeError && err.reason === 'NOT_SERVED') {
            return { kind: 'unserved', reason: err.message, hint: kubeHint(err) };
          }
          if (err instanceof KubeError || err instanceof DomainError) return { kind: 'unknown', reason: err.message };
          throw err;
        },
      );
    const ms = this.config.precheck.timeoutMs;
    return this.deadline(
      cluster,
      read,
      (): Observed<T> => ({ kind: 'unknown', reason: `no answer from cluster ${cluster} within ${ms} ms` }),
      ms,
    );
  }

  /**
   * `work` or, past `ms`, `late()`; work past its deadline counts as overdue for its cluster until it settles, so
   * that the next requests for that cluster do not wait for it too.
   */
  private deadline<T, L>(cluster: string, work: Promise<T>, late: () => L, ms: number): Promise<T | L> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<L>((resolve) => {
      timer = setTimeout(() => {
        this.overdue.set(cluster, (this.overdue.get(cluster) ?? 0) + 1);
        void work
          .catch(() => undefined)
          .finally(() => {
            const n = (this.overdue.get(cluster) ?? 1) - 1;
            if (n > 0) this.overdue.set(cluster, n);
            else this.overdue.delete(cluster);
          });
        resolve(late());
      }, ms);
    });
    return Promise.race([work, expired]).finally(() => clearTimeout(timer));
  }
}

/** A Service as the app-protocol rules see it: its name and its ports' names, numbers and protocols. */
function portsOnly(svc: V1Service): V1Service {
  const ports = (svc.spec?.ports ?? []).map(({ name, port, protocol }) => ({ name, port, protocol }));
  return { metadata: { name: svc.metadata?.name }, spec: { ports } };
}
