import { AsyncLocalStorage } from 'node:async_hooks';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import * as k8s from '@kubernetes/client-node';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { CALLER_IS_ADMIN, type CallerIsAdmin } from '../common/caller-disclosure.js';
import { DomainError } from '../common/domain-error.js';
import { ClusterClient, KubeCallRecord } from './cluster-client.js';
import { RedisService } from '../redis/redis.service.js';
import { CallLimiter, LocalRateLimiter, SharedRateLimiter } from './rate-limiter.js';

export const IN_CLUSTER = 'in-cluster';

/** pino's levels, most verbose first (LOG_LEVEL); `silent` logs nothing. */
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** Counts the Kubernetes calls made inside one scope (e.g. one step run). */
export interface CallTally {
  calls: number;
}

/**
 * The one place that owns @kubernetes/client-node. A cluster is a kubeconfig context
 * (omitted = current context) or, in a pod, the in-cluster config.
 */
@Injectable()
export class ClusterGateway {
  private readonly logger = new Logger('Kubernetes');
  private readonly kubeconfig = new k8s.KubeConfig();
  private readonly clients = new Map<string, ClusterClient>();
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
    const { kubeconfigPath, inCluster } = config.kube;
    if (inCluster) this.kubeconfig.loadFromCluster();
    else if (kubeconfigPath && !kubeconfigPath.includes(':')) this.kubeconfig.loadFromFile(kubeconfigPath);
    else this.kubeconfig.loadFromDefault();
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
    let client = this.clients.get(name);
    if (!client) {
      const kc = new k8s.KubeConfig();
      kc.loadFromString(this.kubeconfig.exportConfig());
      kc.setCurrentContext(this.contextName(name));
      client = new ClusterClient(name, kc, {
        requestTimeoutMs: this.config.kube.requestTimeoutMs,
        connectionIdleMs: this.config.kube.connectionIdleMs,
        limiter: this.limiter(name),
        fieldManager: this.config.kube.fieldManager,
        onCall: (record) => {
          const t = this.tally.getStore();
          if (t) t.calls += 1;
          this.log(record);
          for (const l of this.listeners) l(record);
        },
      });
      this.clients.set(name, client);
    }
    return client;
  }

  /**
   * One line per call, carrying the log context (the HTTP request id that created the request,
   * the request, the step): writes at info, reads at debug, failures at warn. No bodies, no credentials.
   */
  private log(r: KubeCallRecord): void {
    const failed = r.status === 'error' || r.status >= 400;
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
    const { qps, burst, rateLimitScope } = this.config.kube;
    if (rateLimitScope === 'cluster' && this.redis) {
      const client = this.redis.client;
      return new SharedRateLimiter(
        { client, ready: () => client.status === 'ready' },
        `${this.config.queuePrefix}:k8s-rate:${cluster}`,
        { qps, burst },
      );
    }
    return new LocalRateLimiter(qps, burst);
  }

  onCall(listener: (r: KubeCallRecord) => void): void {
    this.listeners.push(listener);
  }

  async counting<T>(fn: () => Promise<T>): Promise<{ value: T; calls: number }> {
    const t: CallTally = { calls: 0 };
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
