import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';
import type * as k8s from '@kubernetes/client-node';
import { z } from 'zod';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { decimalInteger } from '../common/decimal-integer.js';
import { mapBounded } from '../common/map-bounded.js';
import { RedisService } from '../redis/redis.service.js';
import { DomainError } from '../common/domain-error.js';
import { PrismaService } from '../database/prisma.service.js';
import { ClusterGateway } from '../kubernetes/cluster-gateway.js';
import type { ClusterClient, KubeList } from '../kubernetes/cluster-client.js';
import { KubeError } from '../kubernetes/kube-error.js';
import {
  IGNORE_LABEL,
  isInjectedPod,
  MONITORED_BY_LABEL,
  parseInjectionValue,
  SIDECAR_INJECTION_ANNOTATION,
} from '../mesh/osm.js';
import type { Actor } from '../auth/actor.js';
import { assertRole, globMatch, globMatcher, hasRole, inScope, namespaceGlobs } from '../auth/scopes.js';
import { parseInput } from '../common/parse-input.js';
import { NamespaceInformer, type NamespaceView } from '../onboarding/namespace-informer.js';

export const MAX_PAGE = 100;
/** Namespace list calls per page at most (a page filtered by scopes is topped up from the next ones). */
const MAX_NAMESPACE_LISTS = 5;
/**
 * Namespaces per list call for a caller whose scopes show only some of the cluster's, when the API has no namespace
 * informer: full pages in fewer calls (at most 5 × 500 namespaces read for a page). The calls, and whether a page
 * has a next one, then follow the cluster's size (docs/governance.md); with the informer they do not.
 */
const SCOPED_LIST = 500;
/**
 * How long a scoped caller's page waits for the cluster's namespace informer to be in sync (its first list after
 * the API starts: about 5 s for 120,000 namespaces at the default K8S_QPS) before answering CLUSTER_UNAVAILABLE.
 */
const VIEW_SYNC_WAIT_MS = 10_000;
/** Pods listed per call, and namespaces whose pods are listed at once. */
const POD_PAGE = 500;
const POD_CONCURRENCY = 5;

/** How long a page's continue token stays valid (a Kubernetes one lasts until etcd compacts: about 5 minutes). */
export const CONTINUE_TTL_MS = 10 * 60_000;
const CONTINUE_PATTERN = /^[A-Za-z0-9_-]{22}$/;

export const NamespaceStatusQuery = z.strictObject({
  limit: decimalInteger(
    z
      .number({ error: 'must be a number' })
      .int('must be an integer')
      .min(1, 'must be at least 1')
      .max(MAX_PAGE, `must be at most ${MAX_PAGE}`)
      .default(20),
  ).describe(`How many namespaces to return (1 to ${MAX_PAGE}).`),
  continue: z
    .string()
    .min(1, 'must not be empty')
    .max(4096, 'must be no more than 4096 characters')
    .optional()
    .describe(
      "The previous page's `pageInfo.continue`: valid for the caller and cluster it was given to, for 10 minutes.",
    ),
});

/**
 * Where a page starts: after Kubernetes' own `token` (none: from the first namespace), past the first `skip` of the
 * caller's namespaces from there (a page that ended inside a scoped list); and in either case after the namespace
 * named `after` (the last one shown or read), which is all a page from the namespace informer needs.
 */
interface Position {
  token?: string;
  skip: number;
  after?: string;
}

/** What a continue token this API gave stands for: whose page, of which cluster, and where it starts. */
interface Continuation extends Partial<Position> {
  actor: string;
  cluster: string;
}

export interface LastRequest {
  id: string;
  kind: string;
  status: string;
  meshName: string;
  requestedBy: string;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface NamespaceStatus {
  name: string;
  phase: string | null;
  /** `openservicemesh.io/monitored-by`: the mesh watching the namespace, or null. */
  monitoredBy: string | null;
  /** osm-edge's reading of `openservicemesh.io/sidecar-injection`: enabled, disabled, invalid, or null when unset. */
  sidecarInjection: string | null;
  /** `openservicemesh.io/ignore` present (whatever its value): osm-edge skips the namespace. */
  ignored: boolean;
  /** Pods not finished (phase other than Succeeded/Failed), by whether they carry the osm sidecar. */
  pods: { total: number; withSidecar: number; withoutSidecar: number } | null;
  /** Why `pods` is null (e.g. the pods could not be listed). */
  podsError: string | null;
  lastRequest: LastRequest | null;
}

export interface NamespaceStatusPage {
  cluster: string;
  items: NamespaceStatus[];
  /** The token of the next page (ours, standing for Kubernetes' own); null on the last page. */
  continue: string | null;
  /** Kubernetes API calls this page cost. */
  apiCalls: number;
}

/**
 * Where each namespace of a cluster stands, read live and joined with our last request for it. For an admin, or a
 * caller scoped to all the cluster's namespaces: paged with Kubernetes `limit`/`continue`, one namespace list a
 * page. For a caller whose scopes show only some: from the API's namespace informer (no list; it watches the
 * cluster's namespaces), so nothing of a page follows the namespaces it may not see; without an informer
 * (PRECHECK_INFORMER=false, or RBAC refusing it its list or watch), lists of SCOPED_LIST namespaces, up to 5 to
 * fill the page. Plus one pod list per namespace shown (more only for a namespace with over 500 pods), 5
 * namespaces at a time; plus one Postgres query.
 *
 * Kubernetes' continue token is never shown: it holds the key the next list starts from (etcd's
 * `{"start":"<namespace>"}`), the name of a namespace the caller may not see, and a forged one would walk the
 * cluster's names. A page's `continue` is a random id standing for it in Redis (CONTINUE_TTL_MS), valid only for
 * the caller and cluster it was given to.
 */
@Injectable()
export class NamespaceStatusService {
  private readonly continuePrefix: string;

  constructor(
    private readonly gateway: ClusterGateway,
    private readonly prisma: PrismaService,
    private readonly redis: RedisService,
    @Inject(APP_CONFIG) config: AppConfig,
    // API role only: the namespaces of a scoped caller's page come from it (pageFromView).
    @Optional() private readonly informer?: NamespaceInformer,
  ) {
    this.continuePrefix = `${config.queuePrefix}:namespace-continue:`;
  }

  async page(cluster: string, query: unknown, actor: Actor): Promise<NamespaceStatusPage> {
    assertRole(actor, 'viewer', 'requester', 'approver');
    const q = parseInput(NamespaceStatusQuery, query);
    const name = this.gateway.resolve(cluster);
    const admin = hasRole(actor, 'admin');
    if (!admin && !actor.scopes.some((s) => globMatch(s.split('/')[0], name))) {
      throw new DomainError('FORBIDDEN', `${actor.id} has no scope in cluster ${name}`, { field: 'cluster' });
    }
    const client = this.gateway.viewClient(name);
    const resumed = q.continue === undefined ? undefined : await this.resume(q.continue, actor, name);
    const scoped = !admin && !actor.scopes.some((sc) => globMatch(sc.split('/')[0], name) && sc.split('/')[1] === '*');
    const view = scoped ? await this.informer?.view(name, VIEW_SYNC_WAIT_MS) : undefined;
    if (view === 'loading') {
      throw new DomainError(
        'CLUSTER_UNAVAILABLE',
        `the namespaces of cluster ${name} are still being read (or cannot be now); try again shortly`,
        { details: { retryAfterSeconds: 5 } },
      );
    }
    const { value, calls } = await this.gateway.counting(async () => {
      const { namespaces, next } = view
        ? this.pageFromView(view, namespaceGlobs(actor, name), resumed?.after, q.limit)
        : await this.pageFromLists(client, { actor, cluster: name, scoped }, resumed, q.limit);
      const pods = await mapBounded(namespaces, (ns) => this.countPods(client, ns.metadata!.name!), POD_CONCURRENCY);
      return { namespaces, pods, next };
    });
    const last = await this.lastRequests(
      name,
      value.namespaces.map((ns) => ns.metadata!.name!),
    );
    const items = value.namespaces.map((ns, i): NamespaceStatus => {
      const labels = ns.metadata?.labels ?? {};
      const injection = parseInjectionValue(ns.metadata?.annotations?.[SIDECAR_INJECTION_ANNOTATION]);
      const pods = value.pods[i];
      return {
        name: ns.metadata!.name!,
        phase: ns.status?.phase ?? null,
        monitoredBy: labels[MONITORED_BY_LABEL] ?? null,
        sidecarInjection: injection === 'unset' ? null : injection,
        ignored: IGNORE_LABEL in labels,
        pods: 'error' in pods ? null : pods,
        podsError: 'error' in pods ? pods.error : null,
        lastRequest: last.get(ns.metadata!.name!) ?? null,
      };
    });
    const next = value.next === undefined ? null : await this.continuation(value.next, actor, name);
    return { cluster: name, items, continue: next, apiCalls: calls };
  }

  /**
   * A page of the namespaces a scoped caller may see, from the cluster's namespace informer: no list call, so
   * neither the page's `apiCalls` nor whether it has a next one follows the namespaces it may not see. Scopes that
   * name their namespaces are looked up; a glob (`team-*`) is matched against every namespace in memory. In name
   * order, as Kubernetes lists them.
   */
  private pageFromView(
    view: NamespaceView,
    globs: string[],
    after: string | undefined,
    limit: number,
  ): { namespaces: k8s.V1Namespace[]; next: Position | undefined } {
    let names: string[];
    if (globs.every((g) => !g.includes('*'))) names = [...new Set(globs)].filter((n) => view.get(n) !== undefined);
    else {
      const matchers = globs.map(globMatcher);
      names = [];
      for (const n of view.names()) if (matchers.some((m) => m(n))) names.push(n);
    }
    names = names.filter((n) => after === undefined || n > after).sort();
    const shown = names.slice(0, limit);
    const namespaces = shown.map((n) => view.get(n)!);
    return { namespaces, next: names.length > limit ? { skip: 0, after: shown[shown.length - 1] } : undefined };
  }

  /**
   * A page read from namespace lists (an admin's, a caller scoped to all of the cluster's namespaces, or a scoped
   * caller's when the API has no namespace informer): up to MAX_NAMESPACE_LISTS lists, filtered by the scopes.
   */
  private async pageFromLists(
    client: ClusterClient,
    caller: { actor: Actor; cluster: string; scoped: boolean },
    resumed: Position | undefined,
    limit: number,
  ): Promise<{ namespaces: k8s.V1Namespace[]; next: Position | undefined }> {
    const { actor, cluster, scoped } = caller;
    const namespaces: k8s.V1Namespace[] = [];
    // Where the next page starts: after a Kubernetes token (none: the first list), past the caller's namespaces
    // from there that were shown already. Undefined once the cluster's list has ended. A position with `after`
    // only (a page from the informer, which is out of sync now) reads from the first list, past that name.
    // A first list's page (no token) records `after` too: resumed from the first list past that name, not skipped.
    let after = resumed?.token === undefined ? resumed?.after : undefined;
    let next: Position | undefined = resumed && after === undefined ? resumed : { skip: 0 };
    for (let i = 0; i < MAX_NAMESPACE_LISTS && next && namespaces.length < limit; i++) {
      const room = limit - namespaces.length;
      const read = await this.listFrom(client, next, scoped || after ? SCOPED_LIST : room);
      const { list, from } = read;
      after = read.after ?? after;
      const floor = after;
      const items = list.items ?? [];
      // The caller's namespaces in this list (in name order, as Kubernetes lists them); those up to `after` were
      // shown or passed already, and count as skipped: a next page reading this list again counts them too.
      const visible = items.filter((ns) => inScope(actor, cluster, ns.metadata?.name ?? ''));
      const passed = floor === undefined ? 0 : visible.filter((ns) => (ns.metadata?.name ?? '') <= floor).length;
      const skip = Math.max(from.skip, passed);
      const shown = visible.slice(skip, skip + room);
      namespaces.push(...shown);
      const token = list.metadata?.continue || undefined;
      // A page full within this list: the next page reads the same list again, past what this one showed.
      if (visible.length - skip > room) next = { token: from.token, skip: skip + room, after: lastName(shown) };
      else next = token ? { token, skip: 0, after: lastName(items) } : undefined;
    }
    return { namespaces, next };
  }

  /**
   * One namespace list from `from`. A continue token etcd has compacted past (every 5 minutes by default; ours last
   * 10) is answered 410 Expired with a fresh token in its Status: the rest of the list from the same name, at the
   * latest revision. The list goes on from it, no longer a consistent snapshot (as kubectl's `--chunk-size` does),
   * past the names shown already (`after`, when `from` is inside a list: its `skip` counted an older revision). A
   * 410 without one: the list starts over from the first namespace, past `after`. Never a 422: the token was
   * Kubernetes' own, not the caller's.
   */
  private async listFrom(
    client: ClusterClient,
    from: Position,
    limit: number,
  ): Promise<{ list: KubeList<k8s.V1Namespace>; from: Position; after?: string }> {
    try {
      return { list: await client.listNamespaces({ limit, continueToken: from.token }), from };
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 410 && from.token)) throw refusal(err, 'continue');
      const fresh: Position = { token: err.continueToken, skip: 0 };
      const after = from.skip > 0 || !fresh.token ? from.after : undefined;
      // Starting over: a list of SCOPED_LIST, so that the names up to `after` do not use up the page's lists.
      const size = fresh.token ? limit : SCOPED_LIST;
      const list = await this.kube(
        () => client.listNamespaces({ limit: size, continueToken: fresh.token }),
        'continue',
      );
      return { list, from: fresh, after };
    }
  }

  /** A token for the next page, standing for where it starts (Kubernetes' token, and namespaces to skip). */
  private async continuation(at: Position, actor: Actor, cluster: string): Promise<string> {
    const id = randomBytes(16).toString('base64url');
    const entry: Continuation = { actor: actor.id, cluster, ...at };
    await this.redis.client.set(this.continuePrefix + id, JSON.stringify(entry), 'PX', CONTINUE_TTL_MS);
    return id;
  }

  /** Where `id` says the page starts, if this caller was given it for this cluster and it has not expired. */
  private async resume(id: string, actor: Actor, cluster: string): Promise<Position> {
    const stored = CONTINUE_PATTERN.test(id) ? await this.redis.client.get(this.continuePrefix + id) : null;
    const entry = stored ? (JSON.parse(stored) as Continuation) : null;
    if (!entry || entry.actor !== actor.id || entry.cluster !== cluster) {
      throw new DomainError(
        'VALIDATION_FAILED',
        'continue is not a token this API gave this caller for this cluster, or it expired (after 10 minutes); ' +
          'start again without it',
        { field: 'continue' },
      );
    }
    return { token: entry.token, skip: entry.skip ?? 0, after: entry.after };
  }

  private async countPods(
    client: ClusterClient,
    namespace: string,
  ): Promise<{ total: number; withSidecar: number; withoutSidecar: number } | { error: string }> {
    let withSidecar = 0;
    let withoutSidecar = 0;
    let token: string | undefined;
    try {
      do {
        const list = await client.listPodsPage(namespace, { limit: POD_PAGE, continueToken: token });
        for (const pod of list.items ?? []) {
          if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
          if (isInjectedPod(pod)) withSidecar += 1;
          else withoutSidecar += 1;
        }
        token = list.metadata?.continue || undefined;
      } while (token);
    } catch (err) {
      if (err instanceof KubeError) return { error: err.message };
      throw err;
    }
    return { total: withSidecar + withoutSidecar, withSidecar, withoutSidecar };
  }

  /** The newest request per namespace, in one query (index on cluster, namespace, created_at). */
  private async lastRequests(cluster: string, namespaces: string[]): Promise<Map<string, LastRequest>> {
    if (namespaces.length === 0) return new Map();
    const rows = await this.prisma.$queryRaw<
      {
        id: string;
        namespace: string;
        kind: string;
        status: string;
        mesh_name: string;
        requested_by: string;
        error_code: string | null;
        error_message: string | null;
        created_at: Date;
        finished_at: Date | null;
      }[]
    >`
      SELECT DISTINCT ON (namespace) id::text AS id, namespace, kind::text AS kind, status::text AS status, mesh_name,
        requested_by,
             error_code, error_message, created_at, finished_at
        FROM onboarding_request
       WHERE cluster = ${cluster} AND namespace = ANY(${namespaces}::text[])
       ORDER BY namespace, created_at DESC, id DESC`;
    return new Map(
      rows.map((r) => [
        r.namespace,
        {
          id: r.id,
          kind: r.kind,
          status: r.status,
          meshName: r.mesh_name,
          requestedBy: r.requested_by,
          errorCode: r.error_code,
          errorMessage: r.error_message,
          createdAt: r.created_at.toISOString(),
          finishedAt: r.finished_at?.toISOString() ?? null,
        },
      ]),
    );
  }

  private async kube<T>(fn: () => Promise<T>, field: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw refusal(err, field);
    }
  }
}

/**
 * A failed Kubernetes call as our error. A 410 here is a continue token the cluster gave refused at once (listFrom
 * goes on from an expired one): the cluster's trouble, not the caller's.
 */
function refusal(err: unknown, field: string): unknown {
  if (!(err instanceof KubeError)) return err;
  if (err.reason === 'BAD_REQUEST') {
    return new DomainError(
      'VALIDATION_FAILED',
      `${field} is not a valid Kubernetes continue token; start again without it`,
      { field },
    );
  }
  if (err.reason === 'FORBIDDEN' || err.reason === 'UNAUTHORIZED')
    return new DomainError('KUBE_FORBIDDEN', err.message);
  return new DomainError('CLUSTER_UNAVAILABLE', err.message, {
    ...(err.retryAfterSeconds ? { details: { retryAfterSeconds: err.retryAfterSeconds } } : {}),
  });
}

const lastName = (items: k8s.V1Namespace[]): string | undefined => items[items.length - 1]?.metadata?.name;
