import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync } from 'node:fs';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import * as k8s from '@kubernetes/client-node';
import { APP_CONFIG } from '../config/config.module.js';
import { ConfigError, type AppConfig } from '../config/config.js';
import { CALLER_IS_ADMIN, type CallerIsAdmin } from '../common/caller-disclosure.js';
import { DomainError } from '../common/domain-error.js';
import { parseInput } from '../common/parse-input.js';
import { clusterName } from './cluster-name.js';
import { ClusterClient, KubeCallRecord } from './cluster-client.js';
import { RedisService } from '../redis/redis.service.js';
import { CallLimiter, EveryLimiter, LocalRateLimiter, SharedRateLimiter } from './rate-limiter.js';

export const IN_CLUSTER = 'in-cluster';

/** pino's levels, most verbose first (LOG_LEVEL); `silent` logs nothing. */
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** Counts the Kubernetes calls made inside one scope (e.g. one step run), and the writes the server took. */
export interface CallTally {
  calls: number;
  /**
   * create, update, patch or delete that the cluster took or may have taken: answered 2xx, or not answered (the
   * connection lost, a timeout), or answered a 5xx a server may send after the write was committed (500, 502, 504:
   * kube's Timeout says it "may still be processing the request"). Not a 4xx, a 429 or a 503 (ServiceUnavailable:
   * the server, shutting down or overloaded, took nothing): those are refusals before anything is stored.
   */
  writes: number;
}

/** Whether a write with this answer may have changed the cluster (see CallTally.writes). */
function mayHaveWritten(status: number | 'error'): boolean {
  return status === 'error' || status < 300 || (status >= 500 && status !== 503);
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete']);

/**
 * The kubeconfig the service acts with: KUBECONFIG (one file, or a list that client-node merges), the default
 * locations, or the pod's service account (KUBE_IN_CLUSTER). One it cannot act with (unreadable, not YAML, no
 * context) is refused as a configuration error naming the setting, which both processes check before they start.
 * The reason never quotes the file: a kubeconfig holds credentials, and YAML's errors show the lines around a fault.
 */
export function loadKubeconfig(kube: AppConfig['kube']): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const key = kube.inCluster ? 'KUBE_IN_CLUSTER' : 'KUBECONFIG';
  const where = kube.inCluster
    ? "the pod's service account"
    : (kube.kubeconfigPath ?? 'the default kubeconfig (~/.kube/config)');
  try {
    if (kube.inCluster) kc.loadFromCluster();
    else if (kube.kubeconfigPath && !kube.kubeconfigPath.includes(':')) kc.loadFromFile(kube.kubeconfigPath);
    else if (kube.kubeconfigPath) loadKubeconfigList(kc, kube.kubeconfigPath.split(':').filter(Boolean));
    else kc.loadFromDefault();
  } catch (err) {
    throw new ConfigError([{ key, message: `${where}: ${unreadable(err)}` }]);
  }
  if (kube.inCluster) inPod(kc);
  if (kc.getContexts().length === 0)
    throw new ConfigError([{ key, message: `${where} has no contexts: each cluster the service acts on is one` }]);
  return kc;
}

/**
 * A KUBECONFIG list merged as kubectl merges it (client-go's ClientConfigLoadingRules.Load), not as client-node does:
 * a file that does not exist is skipped; the first file to define a cluster, user or context name wins (client-node
 * throws "Duplicate cluster"); the first file to set current-context wins (client-node keeps the last). A file that
 * exists and cannot be read or parsed is refused, as kubectl refuses it.
 */
export function loadKubeconfigList(kc: k8s.KubeConfig, files: string[]): void {
  let current: string | undefined;
  const clusters: k8s.Cluster[] = [];
  const users: k8s.User[] = [];
  const contexts: k8s.Context[] = [];
  const firstOf = <T extends { name: string }>(into: T[], items: T[]) => {
    for (const item of items) if (!into.some((x) => x.name === item.name)) into.push(item);
  };
  for (const file of files) {
    if (!existsSync(file)) continue;
    const one = new k8s.KubeConfig();
    one.loadFromFile(file);
    current ||= one.getCurrentContext() || undefined;
    firstOf(clusters, one.getClusters());
    firstOf(users, one.getUsers());
    firstOf(contexts, one.getContexts());
  }
  kc.loadFromOptions({ clusters, users, contexts, currentContext: current ?? '' });
}

/**
 * What kubectl refuses only when it uses the context concerned: a current-context that names no context, a context
 * naming a cluster the file does not define. Like kubectl, the service still starts (the other contexts work); the
 * gateway logs each at start, so that the requests that fail on it are explained.
 */
function kubeconfigProblems(kc: k8s.KubeConfig): string[] {
  const problems: string[] = [];
  const current = kc.getCurrentContext();
  if (current && !kc.getContextObject(current))
    problems.push(`kubeconfig: current-context "${current}" names no context; requests that name no cluster will fail`);
  for (const c of kc.getContexts())
    if (!kc.getCluster(c.cluster))
      problems.push(
        `kubeconfig: context "${c.name}" names cluster "${c.cluster}", which is not defined; its requests will fail`,
      );
  return problems;
}

/** KUBE_IN_CLUSTER outside a pod, or in one that mounts no service account token, is refused. */
function inPod(kc: k8s.KubeConfig): void {
  const fail = (message: string) => new ConfigError([{ key: 'KUBE_IN_CLUSTER', message }]);
  if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT)
    throw fail('not in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset (set KUBECONFIG instead)');
  const provider = kc.getCurrentUser()?.authProvider as { config?: { tokenFile?: string } } | undefined;
  const tokenFile = provider?.config?.tokenFile;
  if (tokenFile && !existsSync(tokenFile))
    throw fail(`no service account token at ${tokenFile} (is automountServiceAccountToken false?)`);
}

/** Why a kubeconfig could not be loaded, without its contents. */
function unreadable(err: unknown): string {
  const e = err as { code?: string; name?: string; reason?: string; mark?: { line?: number }; message?: string };
  if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return `cannot read it (${e.code})`;
  if (e.name === 'YAMLException') {
    const line = typeof e.mark?.line === 'number' ? ` at line ${e.mark.line + 1}` : '';
    return `not a YAML document (${e.reason ?? 'invalid YAML'}${line})`;
  }
  // client-node's own checks ("clusters[0].name is missing"): their first line names a field, not a value.
  return `not a usable kubeconfig (${(e.message ?? String(err)).split('\n')[0].slice(0, 200)})`;
}

/**
 * The one place that owns @kubernetes/client-node. A cluster is a kubeconfig context
 * (omitted = current context) or, in a pod, the in-cluster config.
 */
@Injectable()
export class ClusterGateway {
  private readonly logger = new Logger('Kubernetes');
  private readonly kubeconfig: k8s.KubeConfig;
  private readonly clients = new Map<string, ClusterClient>();
  private readonly viewClients = new Map<string, ClusterClient>();
  /** Each cluster's K8S_QPS/K8S_BURST budget, shared by its clients of this process. */
  private readonly limiters = new Map<string, CallLimiter>();
  private readonly tally = new AsyncLocalStorage<CallTally>();
  private readonly listeners: ((r: KubeCallRecord) => void)[] = [];
  /** Whether LOG_LEVEL lets the per-call lines through: reads log at debug, writes at info. */
  private readonly logReads: boolean;
  private readonly logWrites: boolean;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    // Absent (tools and tests that build a gateway by hand): the limit is per process.
    @Optional() private readonly redis?: RedisService,
    // Provided by auth/ (API role); absent in the worker and hand-built gateways, where no caller is an admin.
    @Optional() @Inject(CALLER_IS_ADMIN) private readonly callerIsAdmin: CallerIsAdmin = () => false,
  ) {
    const level = LOG_LEVELS.indexOf(config.logLevel);
    this.logReads = level >= 0 && level <= LOG_LEVELS.indexOf('debug');
    this.logWrites = level >= 0 && level <= LOG_LEVELS.indexOf('info');
    this.kubeconfig = loadKubeconfig(config.kube);
    for (const problem of kubeconfigProblems(this.kubeconfig)) this.logger.warn(problem);
  }

  clusterNames(): string[] {
    return this.kubeconfig.getContexts().map((c) => this.publicName(c.name));
  }

  defaultCluster(): string {
    return this.publicName(this.kubeconfig.getCurrentContext());
  }

  /** Resolves the request's `cluster` field to a context name, or refuses it. */
  resolve(cluster: string | undefined | null): string {
    const name = cluster ?? this.defaultCluster();
    if (!name || !this.clusterNames().includes(name)) {
      // A value that cannot be a cluster name (NUL, 20 kB, whitespace) is refused as input and never repeated, as the
      // request schemas refuse it in a body (cluster-name.ts): only a well-formed unknown name is quoted below.
      if (cluster !== undefined && cluster !== null) parseInput(clusterName, cluster, { field: 'cluster' });
      // The kubeconfig's context names say where the clusters are: only admins are told them.
      const hint = this.callerIsAdmin()
        ? `known clusters: ${this.clusterNames().join(', ') || '(none)'}`
        : 'ask an admin for the cluster names this service knows';
      throw new DomainError('CLUSTER_NOT_FOUND', `unknown cluster "${cluster ?? ''}": no such kubeconfig context`, {
        field: 'cluster',
        hint,
      });
    }
    return name;
  }

  client(cluster: string): ClusterClient {
    const name = this.resolve(cluster);
    return this.cached(this.clients, name, () => this.limiter(name));
  }

  /**
   * The client of the namespace view's reads: each call takes from a budget of K8S_VIEW_SHARE × K8S_QPS/K8S_BURST
   * and then, as every call does, from the cluster's. Callers paging the namespaces of a large cluster (one pod list
   * per namespace) then leave the rest of the budget to requests, whose steps would otherwise wait behind them.
   */
  viewClient(cluster: string): ClusterClient {
    const name = this.resolve(cluster);
    return this.cached(this.viewClients, name, () => {
      const { qps, burst, viewShare } = this.config.kube;
      const view = this.newLimiter(
        `k8s-view-rate:${name}`,
        qps * viewShare,
        Math.max(1, Math.floor(burst * viewShare)),
      );
      return new EveryLimiter([view, this.limiter(name)]);
    });
  }

  private cached(clients: Map<string, ClusterClient>, name: string, limiter: () => CallLimiter): ClusterClient {
    let client = clients.get(name);
    if (!client) {
      const kc = new k8s.KubeConfig();
      kc.loadFromString(this.kubeconfig.exportConfig());
      kc.setCurrentContext(this.contextName(name));
      client = new ClusterClient(name, kc, {
        requestTimeoutMs: this.config.kube.requestTimeoutMs,
        connectionIdleMs: this.config.kube.connectionIdleMs,
        limiter: limiter(),
        fieldManager: this.config.kube.fieldManager,
        onCall: (record) => {
          const t = this.tally.getStore();
          if (t) {
            t.calls += 1;
            if (WRITE_VERBS.has(record.verb) && mayHaveWritten(record.status)) t.writes += 1;
          }
          this.log(record);
          for (const l of this.listeners) l(record);
        },
      });
      clients.set(name, client);
    }
    return client;
  }

  /**
   * One line per call, carrying the log context (the HTTP request id that created the request,
   * the request, the step): writes at info, reads at debug, failures at warn. No bodies, no credentials.
   */
  private log(r: KubeCallRecord): void {
    // A GET answered 404 is how a step learns that an object is absent (an SMI object not created yet, say): a read
    // like any other, not a failure to warn about.
    const absent = r.verb === 'get' && r.status === 404;
    const failed = !absent && (r.status === 'error' || r.status >= 400);
    const read = r.verb === 'get' || r.verb === 'list' || r.verb === 'watch';
    // Build the line only when its level is on (reads are debug: off at the default level and in the benches).
    if (!failed && !(read ? this.logReads : this.logWrites)) return;
    const line = {
      msg: `kubernetes: ${r.what} → ${r.status} in ${Math.round(r.ms)} ms`,
      cluster: r.cluster,
      verb: r.verb,
      resource: r.resource,
      status: r.status,
      ms: Math.round(r.ms),
    };
    if (failed) this.logger.warn(line);
    else if (read) this.logger.debug(line);
    else this.logger.log(line);
  }

  /** K8S_QPS/K8S_BURST for one cluster: shared by every replica through Redis, or per process. */
  private limiter(cluster: string): CallLimiter {
    let limiter = this.limiters.get(cluster);
    if (!limiter) {
      limiter = this.newLimiter(`k8s-rate:${cluster}`, this.config.kube.qps, this.config.kube.burst);
      this.limiters.set(cluster, limiter);
    }
    return limiter;
  }

  private newLimiter(key: string, qps: number, burst: number): CallLimiter {
    if (this.config.kube.rateLimitScope === 'cluster' && this.redis) {
      const client = this.redis.client;
      return new SharedRateLimiter(
        { client, ready: () => client.status === 'ready' },
        `${this.config.queuePrefix}:${key}`,
        { qps, burst },
      );
    }
    return new LocalRateLimiter(qps, burst);
  }

  onCall(listener: (r: KubeCallRecord) => void): void {
    this.listeners.push(listener);
  }

  /** Runs `fn` counting its calls into `t` (which the caller may read after `fn` threw, too). */
  async counting<T>(
    fn: () => Promise<T>,
    t: CallTally = { calls: 0, writes: 0 },
  ): Promise<{ value: T; calls: number }> {
    const value = await this.tally.run(t, fn);
    return { value, calls: t.calls };
  }

  private publicName(context: string): string {
    return context === 'inClusterContext' ? IN_CLUSTER : context;
  }

  private contextName(name: string): string {
    return name === IN_CLUSTER && this.config.kube.inCluster ? 'inClusterContext' : name;
  }
}
