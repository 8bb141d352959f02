// The API's in-memory view of each cluster's namespaces, for the request-time check (TargetPrecheck) and the
// namespace status of a scoped caller (NamespaceStatusService): per cluster one paginated LIST (NAMESPACE_PAGE a
// page, `continue`), then one WATCH from the list's resourceVersion (bookmarks on), as a Kubernetes controller's
// informer does, so a request's cached read of its namespace is a lookup in memory rather than a rate-limited GET,
// and a scoped caller's page of namespaces costs no namespace list whose size would follow the cluster's. Owns:
// starting per cluster on the first lookup (outside that caller's log context and trace), the slim records,
// re-watching (a watch that ends), re-listing (410 Gone), back-off, failure warnings (at most one per
// FAILURE_WARN_MS per cluster), the refused fallback (RBAC without `list`/`watch`: logged once, retried every
// REFUSED_RETRY_MS), stopping on shutdown, and its gauges.
// Until a cluster's view has synced (and whenever it is not in sync) lookups answer nothing and the precheck reads
// as before. A refusal never rests on this view: TargetPrecheck.refuseIf reads the namespace afresh first.
//
// Not client-node's makeInformer: its cache keeps every whole V1Namespace (all labels, annotations,
// managedFields), which for the 120,000 namespaces of the ingest bench would not fit the API's memory target,
// and its list is one unpaginated request outside the cluster's rate limiter and call metrics. Here the list
// and the watch go through ClusterClient (rate limited, counted, traced), and each namespace is kept as its
// resourceVersion plus only the labels the checks read (CHECKED_NAMESPACE_LABELS in mesh/namespace-rules.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, OnModuleDestroy, Optional } from '@nestjs/common';
import type { V1Namespace } from '@kubernetes/client-node';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { ClusterGateway } from '../kubernetes/cluster-gateway.js';
import { SHORT_WATCH_MS, type ClusterClient, type WatchEventType } from '../kubernetes/cluster-client.js';
import { KubeError } from '../kubernetes/kube-error.js';
import { CHECKED_NAMESPACE_LABELS, isTerminating } from '../mesh/namespace-rules.js';
import { SIDECAR_INJECTION_ANNOTATION } from '../mesh/osm.js';
import { runDetached } from '../observability/log-context.js';
import { MetricsService } from '../observability/metrics.service.js';
import type { Observed } from './observed.js';

/** Namespaces per LIST page. */
export const NAMESPACE_PAGE = 500;
/** A watch's `timeoutSeconds`: the server closes it then and it is opened again from its last resourceVersion. */
const WATCH_SECONDS = 300;
/** After a refused list or watch (403, 405), how long the per-request reads stay the only path. */
const REFUSED_RETRY_MS = 60_000;
/** Back-off after a failed list or watch (or a watch that ended at once), doubling per failure up to the max. */
const BACKOFF_MS = { min: 500, max: 30_000 };
/**
 * A failed list or watch is a warning at most once per this long per cluster (the others are debug lines, counted
 * in the next warning); the list that follows a warning logs that the view is in sync again. A cluster that stays
 * unreachable (or an API draining after its cluster went away) writes one warning, not one per back-off.
 */
const FAILURE_WARN_MS = 30_000;

/**
 * What is kept of a namespace: its resourceVersion, and the checked labels it carries (most carry none). A
 * resourceVersion is opaque to clients; one that is a plain decimal integer (etcd's revisions are) is kept as a
 * number, which it gives back as the same string, and saves a string per namespace (~4 MB at 160,000).
 */
type Rv = string | number;
type Slim =
  | Rv
  | {
      rv: Rv;
      labels?: Record<string, string>;
      terminating?: true;
      /** Its phase when neither Active nor Terminating (null: none); absent, Active. */
      phase?: string | null;
      injection?: string;
    };

const PLAIN_INTEGER = /^(?:0|[1-9][0-9]{0,15})$/;

function packRv(rv: string): Rv {
  if (!PLAIN_INTEGER.test(rv)) return rv;
  const n = Number(rv);
  return Number.isSafeInteger(n) ? n : rv;
}

const unpackRv = (rv: Rv): string => (typeof rv === 'number' ? String(rv) : rv);

function slim(ns: V1Namespace): Slim {
  const rv = packRv(ns.metadata?.resourceVersion ?? '');
  const all = ns.metadata?.labels ?? {};
  let labels: Record<string, string> | undefined;
  for (const key of CHECKED_NAMESPACE_LABELS) {
    if (all[key] !== undefined) (labels ??= {})[key] = all[key];
  }
  const terminating = isTerminating(ns) ? (true as const) : undefined;
  const injection = ns.metadata?.annotations?.[SIDECAR_INJECTION_ANNOTATION];
  const phase = terminating || ns.status?.phase === 'Active' ? undefined : (ns.status?.phase ?? null);
  if (!labels && !terminating && injection === undefined && phase === undefined) return rv;
  return {
    rv,
    ...(labels ? { labels } : {}),
    ...(terminating ? { terminating } : {}),
    ...(phase !== undefined ? { phase } : {}),
    ...(injection !== undefined ? { injection } : {}),
  };
}

/** The V1Namespace-shaped object the checks (assertOnboardable, assertOffboardable) read. */
function expand(name: string, s: Slim): V1Namespace {
  if (typeof s !== 'object') return { metadata: { name, resourceVersion: unpackRv(s) }, status: { phase: 'Active' } };
  const phase = s.terminating ? 'Terminating' : s.phase === undefined ? 'Active' : s.phase;
  return {
    metadata: {
      name,
      resourceVersion: unpackRv(s.rv),
      labels: { ...s.labels },
      ...(s.injection !== undefined ? { annotations: { [SIDECAR_INJECTION_ANNOTATION]: s.injection } } : {}),
    },
    status: phase === null ? {} : { phase },
  };
}

/**
 * What a lookup gives for `ns`: its name, resourceVersion, checked labels, phase (Terminating when being deleted)
 * and sidecar-injection annotation (the namespace status shows the last two) (exported for the unit tests).
 */
export function slimmed(ns: V1Namespace): V1Namespace {
  return expand(ns.metadata?.name ?? '', slim(ns));
}

/** A cluster's namespaces as its view holds them while in sync (ClusterNamespaces.names and get). */
export interface NamespaceView {
  names(): Iterable<string>;
  get(name: string): V1Namespace | undefined;
}

/** Why a cluster's view is not usable now (undefined: synced). */
type Unsynced = 'starting' | 'refused' | 'failing' | 'stopped';

/** One cluster's view: a list, then watches, until stopped. */
class ClusterNamespaces {
  private items = new Map<string, Slim>();
  private resourceVersion?: string;
  private state: Unsynced | 'synced' = 'starting';
  /** The verb last refused, logged once until the view syncs again. */
  private refusedVerb?: string;
  private readonly abort = new AbortController();
  readonly done: Promise<void>;
  /** When the last failure warning was written, and the failures since (FAILURE_WARN_MS). */
  private warnedAt = 0;
  private unwarned = 0;
  /** Failures since the last warning while the view stayed out of sync (0: none); the next list reports them. */
  private failedSinceWarning = 0;
  /**
   * A watch broke (a dropped connection, a 5xx, a 429) after the view was complete: the view is kept, unused, and
   * the next watch starts from its resourceVersion, as client-go's reflector does, instead of listing every
   * namespace again (an API server's rolling restart would otherwise have every API process list the cluster).
   */
  private resuming = false;
  /** Callers of whenSynced waiting for the view to be in sync. */
  private waiters = new Set<() => void>();

  constructor(
    readonly cluster: string,
    private readonly client: ClusterClient,
    private readonly logger: Logger,
    private readonly gauges: (synced: boolean, size: number) => void,
  ) {
    this.done = this.run();
  }

  get synced(): boolean {
    return this.state === 'synced';
  }

  get size(): number {
    return this.items.size;
  }

  /** The namespace as last seen, or undefined while the view is not in sync. */
  lookup(name: string): Observed<V1Namespace> | undefined {
    if (this.state !== 'synced') return undefined;
    const s = this.items.get(name);
    return s === undefined ? { kind: 'absent' } : { kind: 'found', value: expand(name, s) };
  }

  get refused(): boolean {
    return this.state === 'refused';
  }

  /**
   * Whether the whole view can be read: in sync, or kept while a broken watch is opened again (a moment behind).
   * While it starts, waits up to `ms` for its first list (a large cluster's takes seconds); a list that failed, a
   * refusal or a stop answer at once.
   */
  async whenSynced(ms: number): Promise<boolean> {
    if (this.state !== 'starting') return this.readable;
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    this.waiters.add(wake);
    const timer = setTimeout(wake, ms);
    await woken;
    clearTimeout(timer);
    this.waiters.delete(wake);
    return this.readable;
  }

  private get readable(): boolean {
    return this.state === 'synced' || this.resuming;
  }

  /** The names of the namespaces in the view (none while it cannot be read), in no particular order. */
  names(): Iterable<string> {
    return this.readable ? this.items.keys() : [];
  }

  /** A namespace as the view has it (its name, checked labels, phase and injection annotation), if readable. */
  get(name: string): V1Namespace | undefined {
    const s = this.readable ? this.items.get(name) : undefined;
    return s === undefined ? undefined : expand(name, s);
  }

  stop(): Promise<void> {
    this.state = 'stopped';
    this.abort.abort();
    return this.done;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      let verb = 'list';
      try {
        if (this.state !== 'synced' && !this.resuming) await this.list();
        if (this.stopped) break;
        verb = 'watch';
        const started = Date.now();
        const end = await this.client.watchNamespaces({
          resourceVersion: this.resourceVersion,
          deadline: Date.now() + WATCH_SECONDS * 1000,
          signal: this.abort.signal,
          onEvent: (type, ns) => this.apply(type, ns),
          // Accepted: the failures before it no longer lengthen the pauses (one cut short still counts, below). And
          // resumed, the server sends what changed since the kept view's resourceVersion (or 410: listed again).
          onOpen: () => {
            failures = 0;
            if (this.resuming) this.inSync();
          },
        });
        this.resourceVersion = end.resourceVersion ?? this.resourceVersion;
        if (end.end === 'expired') {
          // 410 Gone: the history after our resourceVersion is compacted away; only a new list catches up.
          this.logger.log(`namespace informer of cluster ${this.cluster}: watch expired (410), listing again`);
          this.unsync('starting');
          continue;
        }
        failures = Date.now() - started < SHORT_WATCH_MS ? failures + 1 : 0;
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof KubeError && (err.status === 403 || err.status === 405)) {
          this.refusedBy(verb, err);
          await this.pause(REFUSED_RETRY_MS);
          continue;
        }
        failures++;
        if (verb === 'watch' && err instanceof KubeError && err.transient && this.resourceVersion !== undefined) {
          this.suspend();
        } else this.unsync('failing');
        this.failed(verb, err);
      }
      if (failures > 0) await this.pause(backoff(failures));
    }
    this.unsync('stopped');
  }

  private failed(verb: string, err: unknown): void {
    const line = `namespace informer of cluster ${this.cluster}: ${verb} failed (${
      err instanceof Error ? err.message : String(err)
    }); retrying`;
    if (this.failedSinceWarning > 0) this.failedSinceWarning++;
    if (Date.now() - this.warnedAt < FAILURE_WARN_MS) {
      this.unwarned++;
      this.logger.debug(line);
      return;
    }
    const more = this.unwarned ? ` (${this.unwarned} more failure(s) since the last warning)` : '';
    this.logger.warn(line + more);
    this.warnedAt = Date.now();
    this.unwarned = 0;
    this.failedSinceWarning = Math.max(1, this.failedSinceWarning);
  }

  /** Every page, into a new map that replaces the old one only once complete. */
  private async list(): Promise<void> {
    const items = new Map<string, Slim>();
    let resourceVersion: string | undefined;
    let continueToken: string | undefined;
    do {
      const page = await this.client.listNamespaces({ limit: NAMESPACE_PAGE, continueToken });
      if (this.stopped) return;
      // Every page is served from the first page's snapshot (kube-apiserver); the watch starts after it.
      resourceVersion ??= page.metadata?.resourceVersion;
      for (const ns of page.items) if (ns.metadata?.name) items.set(ns.metadata.name, slim(ns));
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    this.items = items;
    this.resourceVersion = resourceVersion;
    this.inSync();
  }

  /** The view serves lookups again: after a complete list, or a watch resumed from the kept view. */
  private inSync(): void {
    this.state = 'synced';
    this.resuming = false;
    this.refusedVerb = undefined;
    this.gauges(true, this.items.size);
    for (const wake of this.waiters) wake();
    if (this.failedSinceWarning > 0) {
      this.logger.log(
        `namespace informer of cluster ${this.cluster}: in sync again (${this.items.size} namespaces) after ` +
          `${this.failedSinceWarning} failed attempt(s)`,
      );
      this.failedSinceWarning = 0;
    }
  }

  /** Lookups fall back to per-request reads while a broken watch is opened again; the view is kept (resuming). */
  private suspend(): void {
    this.state = 'failing';
    this.resuming = true;
    this.gauges(false, this.items.size);
  }

  private apply(type: WatchEventType, ns: V1Namespace): boolean {
    const name = ns.metadata?.name;
    if (type === 'BOOKMARK' || !name) return false;
    if (type === 'DELETED') this.items.delete(name);
    else this.items.set(name, slim(ns));
    this.gauges(true, this.items.size);
    return false;
  }

  private refusedBy(verb: string, err: KubeError): void {
    this.unsync('refused');
    if (this.refusedVerb === verb) return;
    this.refusedVerb = verb;
    this.logger.warn(
      `namespace informer of cluster ${this.cluster}: ${verb} namespaces refused (${err.status}: ${err.message}); ` +
        `the request-time check reads each namespace instead (grant ${verb} on namespaces to the API's ` +
        `ClusterRole, deploy/rbac.yaml); trying again in ${REFUSED_RETRY_MS / 1000} s`,
    );
  }

  /** Lookups fall back to per-request reads; the old view is dropped (a re-list builds a new one). */
  private unsync(why: Unsynced): void {
    this.state = why;
    this.resuming = false;
    this.items = new Map();
    this.gauges(false, 0);
    if (why !== 'starting') for (const wake of this.waiters) wake();
  }

  private async pause(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.abort.signal });
    } catch {
      /* aborted: stopping */
    }
  }
}

function backoff(failures: number): number {
  const ms = Math.min(BACKOFF_MS.max, BACKOFF_MS.min * 2 ** (failures - 1));
  return ms / 2 + Math.random() * (ms / 2);
}

/** The API role's namespace views, one per cluster asked about (PRECHECK_INFORMER). */
@Injectable()
export class NamespaceInformer implements OnModuleDestroy {
  private readonly logger = new Logger(NamespaceInformer.name);
  private readonly clusters = new Map<string, ClusterNamespaces>();
  private closed = false;

  constructor(
    private readonly gateway: ClusterGateway,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  get enabled(): boolean {
    return this.config.precheck.informer && !this.closed;
  }

  /**
   * The namespace as the cluster's view has it, or undefined (not synced yet, refused, off): the caller reads
   * it then. The first lookup for a cluster starts its view.
   */
  lookup(cluster: string, name: string): Observed<V1Namespace> | undefined {
    return this.enabled ? this.start(cluster).lookup(name) : undefined;
  }

  /**
   * The cluster's whole view, for the namespace status of a caller whose scopes show only part of it
   * (namespaces/namespace-status.service.ts): in sync, waiting up to `waitMs` for it (and starting it) if need be;
   * `'loading'` when it is not in sync by then; undefined when there is none to wait for (PRECHECK_INFORMER off, or
   * RBAC refuses the list or the watch).
   */
  async view(cluster: string, waitMs: number): Promise<NamespaceView | 'loading' | undefined> {
    if (!this.enabled) return undefined;
    const view = this.start(cluster);
    if (await view.whenSynced(waitMs)) return view;
    return view.refused ? undefined : 'loading';
  }

  private start(cluster: string): ClusterNamespaces {
    let view = this.clusters.get(cluster);
    if (!view) {
      const gauges = (synced: boolean, size: number) => {
        this.metrics?.informerSynced.set({ cluster }, synced ? 1 : 0);
        this.metrics?.informerNamespaces.set({ cluster }, size);
      };
      const client = this.gateway.client(cluster);
      // Started by one request, serving all: its lines and spans carry no caller's id or trace.
      view = runDetached(() => new ClusterNamespaces(cluster, client, this.logger, gauges));
      this.clusters.set(cluster, view);
    }
    return view;
  }

  /** Per cluster started: whether its view is in sync and how many namespaces it holds. */
  status(): { cluster: string; synced: boolean; namespaces: number }[] {
    return [...this.clusters.values()].map((v) => ({ cluster: v.cluster, synced: v.synced, namespaces: v.size }));
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.clusters.values()].map((v) => v.stop()));
    this.clusters.clear();
  }
}
