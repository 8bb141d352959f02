import { readFileSync } from 'node:fs';
import { z } from 'zod';
import proxyaddr from 'proxy-addr';
import { ApprovalPolicySchema, type ApprovalPolicy } from './approval-policy.schema.js';
import { SlackUserMapSchema, type SlackUserMap } from './slack-user-map.schema.js';

// The environment is parsed once, here. A bad value stops start-up with a message naming the key.
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
/**
 * A whole number written in decimal digits (a leading minus allowed, so a negative one is refused by `min` with
 * its bounds): `0x10`, `1e3`, ` 8 ` and `8.0` are refused, as Number() would have read them.
 */
const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^-?\d+$/, { error: 'must be a whole number in decimal digits' })
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
/**
 * A URL whose scheme is one of `schemes`. The refusal names the schemes accepted (`what`, e.g. "a redis:// or
 * rediss:// URL") for a wrong scheme and for what is no URL at all alike, and never the value: it may hold a password.
 */
const urlOf = (schemes: string[], what: string) =>
  z.url({ protocol: new RegExp(`^(${schemes.join('|')})$`), error: `must be ${what}` });
// `host:port,host:port` (IPv6 in brackets: `[fd00::1]:26379`).
const hostPorts = z.string().transform((text, ctx) => {
  const nodes: HostPort[] = [];
  for (const item of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(item);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      ctx.addIssue({
        code: 'custom',
        message: `"${item}" is not host:port (a comma-separated list, e.g. redis-0:26379,redis-1:26379)`,
      });
      return z.NEVER;
    }
    nodes.push({ host: m[1].replace(/^\[(.*)\]$/, '$1'), port });
  }
  if (nodes.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'must list at least one host:port' });
    return z.NEVER;
  }
  return nodes;
});

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  ROLE: z.enum(['api', 'worker', 'all']).default('all'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: int(0, 65535).default(3000),
  // The HTTP server under Nest (src/http/platform.ts): the same routes, headers, errors and streams on both. Fastify
  // is the default: its ceiling on trivial routes is higher, and the alternated A/B runs put the two within 10-25 %
  // of each other, Fastify ahead on one day and Express on the next (docs/performance.md, rounds of 2026-12-05).
  HTTP_PLATFORM: z.enum(['express', 'fastify']).default('fastify'),
  HTTP_KEEP_ALIVE_MS: int(1_000, 3_600_000).default(72_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: urlOf(['postgres', 'postgresql'], 'a postgres:// or postgresql:// URL').default(
    'postgresql://postgres@127.0.0.1:5432/osm_onboarding',
  ),
  DATABASE_POOL_SIZE: int(1, 200).default(10),
  // How long a pooled Postgres connection may sit idle before it is closed; 0 keeps idle connections open.
  DATABASE_POOL_IDLE_MS: int(0, 24 * 3_600_000).default(300_000),
  REDIS_URL: urlOf(['redis', 'rediss'], 'a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z.string().min(1).default('osm-onboarding'),
  // Redis topology. In sentinel and cluster mode the nodes come from the lists below; REDIS_URL still
  // carries the credentials, TLS (rediss://) and, with Sentinel, the database number (secrets in one place).
  REDIS_MODE: z.enum(['standalone', 'sentinel', 'cluster']).default('standalone'),
  REDIS_SENTINELS: hostPorts.optional(),
  REDIS_SENTINEL_NAME: z.string().min(1).optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  REDIS_CLUSTER_NODES: hostPorts.optional(),
  // Requests of one cluster a worker runs at once; the worker's slots grow with the clusters at work, up to
  // WORKER_MAX_CONCURRENCY (src/queue/cluster-share.ts).
  WORKER_CONCURRENCY: int(1, 256).default(8),
  WORKER_MAX_CONCURRENCY: int(1, 1024).default(128),
  // A worker that takes no job while jobs wait this long, with none of its own running, is replaced (0 = never):
  // src/queue/supervised-worker.ts.
  WORKER_STALL_MS: int(0, 3_600_000).default(30_000),
  // Outlier clusters (src/kubernetes/cluster-health.ts): calls failing in this share or more, or the quicker quarter
  // of its calls this many times as slow as the other clusters' (and 25 ms slower), over the last 5 s; an outlier
  // gets CLUSTER_OUTLIER_BUDGET slots per worker while a cluster that is not one has work.
  CLUSTER_OUTLIER_DETECTION: bool.default(true),
  CLUSTER_OUTLIER_FAILURE_SHARE: z.coerce.number().gt(0).max(1).default(0.1),
  CLUSTER_OUTLIER_LATENCY_FACTOR: z.coerce.number().min(1.5).max(1000).default(2.5),
  CLUSTER_OUTLIER_BUDGET: int(1, 256).default(1),
  KUBECONFIG: z.string().min(1).optional(),
  KUBE_IN_CLUSTER: bool.default(false),
  K8S_REQUEST_TIMEOUT_MS: int(100, 600_000).default(15_000),
  K8S_CONNECTION_IDLE_MS: int(1, 3_600_000).default(60_000),
  K8S_QPS: z.coerce.number().positive().max(100_000).default(50),
  K8S_BURST: int(1, 100_000).default(100),
  // `cluster`: the K8S_QPS budget is shared by every replica through Redis; `process`: each process has its own.
  K8S_RATE_LIMIT_SCOPE: z.enum(['cluster', 'process']).default('cluster'),
  // The share of K8S_QPS/K8S_BURST the namespace view's reads may take, so that dashboards paging a large cluster
  // leave the rest to requests (src/kubernetes/cluster-gateway.ts, viewClient).
  K8S_VIEW_SHARE: z.coerce.number().gt(0).max(1).default(0.25),
  // The `fieldManager` of every write: the name managedFields show for what this service set. The
  // apiserver refuses more than 128 bytes of UTF-8 (apimachinery's ValidateFieldManager: Go's len) or
  // non-printable characters.
  K8S_FIELD_MANAGER: z
    .string()
    .refine((s) => Buffer.byteLength(s, 'utf8') <= 128, {
      message: 'must be at most 128 bytes in UTF-8 (the API server refuses longer field managers)',
    })
    .regex(/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]+$/u, 'must be printable characters only')
    .default('osm-onboarding'),
  MESH_CACHE_TTL_MS: int(0, 3_600_000).default(30_000),
  // Request-time reads of the target namespace: their deadline (0 = none are made) and how long an answer is reused.
  PRECHECK_TIMEOUT_MS: int(0, 60_000).default(1_500),
  // Plans (dry runs) one process computes at once; the others wait their turn (onboarding/planner.service.ts).
  PLAN_CONCURRENCY: int(1, 64).default(2),
  // A plan's deadline, for its wait for a turn and again for its work: past either, 503 CLUSTER_UNAVAILABLE. Below a
  // load balancer's usual 60 s idle timeout even both together.
  PLAN_TIMEOUT_MS: int(100, 600_000).default(20_000),
  PRECHECK_CACHE_MS: int(0, 600_000).default(5_000),
  // The API keeps each cluster's namespaces in memory (one list, then a watch) for those reads.
  PRECHECK_INFORMER: bool.default(true),
  // 8 attempts at 200 ms (×2 each, capped at 6.4 s, equal jitter) ride over ~10–19 s of a failing API server. With 5,
  // the fault suite's 20 % transient faults exhausted some step about once in three runs of 200 requests.
  STEP_MAX_ATTEMPTS: int(1, 20).default(8),
  STEP_BACKOFF_MS: int(1, 60_000).default(200),
  STEP_TIMEOUT_MS: int(1_000, 24 * 3_600_000).default(900_000),
  HEARTBEAT_MS: int(100, 600_000).default(5_000),
  SWEEP_INTERVAL_MS: int(0, 3_600_000).default(15_000),
  SWEEP_BATCH_SIZE: int(1, 100_000).default(500),
  // Drift scan of onboarded namespaces (worker role, one replica at a time): how often (0 = off) and how many per pass.
  DRIFT_SCAN_INTERVAL_MS: int(0, 24 * 3_600_000).default(300_000),
  DRIFT_SCAN_BATCH_SIZE: int(1, 10_000).default(100),
  // How often one statement checks every open progress stream of an API process against the store (src/events).
  PROGRESS_POLL_MS: int(50, 600_000).default(10_000),
  // The progress streams one API process holds open, in all and per caller (src/events/stream-slots.ts).
  PROGRESS_MAX_STREAMS: int(1, 1_000_000).default(2_000),
  PROGRESS_MAX_STREAMS_PER_CALLER: int(1, 1_000_000).default(500),
  DEFAULT_MESH_NAME: z.string().min(1).default('osm'),
  WORKER_METRICS_PORT: int(0, 65535).default(9464),
  // A bearer token /metrics asks for (API and worker); unset: /metrics is open (observability/metrics-access.ts).
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  METRICS_TOKEN_FILE: z.string().min(1).optional(),
  AUTH_MODE: z.enum(['token', 'none']).default('token'),
  OSM_ONBOARDING_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  // A file holding the admin token (a Docker or Kubernetes secret file), read when the variable itself is unset.
  OSM_ONBOARDING_ADMIN_TOKEN_FILE: z.string().min(1).optional(),
  AUTH_JWKS_URL: z.url().optional(),
  AUTH_JWT_ISSUER: z.string().min(1).optional(),
  AUTH_JWT_AUDIENCE: z.string().min(1).optional(),
  AUTH_JWT_ROLES_CLAIM: z.string().min(1).default('osm_roles'),
  AUTH_JWT_SCOPES_CLAIM: z.string().min(1).default('osm_scopes'),
  // Failed authentications per client address per minute (0 = off); past it, 429 before any lookup.
  AUTH_FAILURES_PER_MINUTE: int(0, 1_000_000).default(100),
  // Entries of each token lookup cache (valid / unknown tokens): bounded, least recently used evicted.
  AUTH_CACHE_MAX_ENTRIES: int(10, 10_000_000).default(10_000),
  // How often open streams (SSE, WebSocket) re-check their credential when no revocation message came.
  AUTH_SESSION_RECHECK_MS: int(100, 600_000).default(5_000),
  // Proxies whose X-Forwarded-For is believed for the client address (proxy-addr syntax: addresses,
  // CIDRs, `loopback`, `linklocal`, `uniquelocal`, comma-separated). Unset: the socket's address.
  TRUST_PROXY: z.string().min(1).optional(),
  APPROVAL_POLICY: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: 'must be JSON, e.g. {"rules":[{"name":"prod","clusters":["prod*"],"approvals":2}]}',
        });
        return z.NEVER;
      }
    })
    .pipe(ApprovalPolicySchema)
    .optional(),
  // A MeshConfig change asked for by a caller without a mesh-level grant: held for approval by an
  // approver who holds one (`approval`, at least MESH_WIDE_APPROVALS of them) or refused (`refuse`).
  MESH_WIDE_CHANGES: z.enum(['approval', 'refuse']).default('approval'),
  MESH_WIDE_APPROVALS: int(1, 10).default(1),
  RATE_LIMIT_PER_MINUTE: int(0, 1_000_000).default(600),
  GRAPHQL_MAX_DEPTH: int(2, 50).default(10),
  GRAPHQL_MAX_COST: int(10, 1_000_000).default(5_000),
  // Unset: on outside NODE_ENV=production, off in production.
  GRAPHQL_INTROSPECTION: bool.optional(),
  GRAPHIQL: bool.optional(),
  GRAPHQL_WS_INIT_TIMEOUT_MS: int(100, 60_000).default(3_000),
  GRAPHQL_DOCUMENT_CACHE_KB: int(0, 1_048_576).default(1_024),
  RESTART_SETTLE_MS: int(0, 600_000).default(3_000),
  POLL_MS: int(10, 60_000).default(1_000),
  ROLLOUT_TIMEOUT_MS: int(1_000, 3_600_000).default(300_000),
  // Webhooks (chatops): the key that encrypts stored signing secrets (any string of 32+ characters;
  // unset = derived from OSM_ONBOARDING_ADMIN_TOKEN), retries and the target policy.
  WEBHOOK_SECRET_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  WEBHOOK_MAX_ATTEMPTS: int(1, 50).default(8),
  WEBHOOKS_PER_OWNER: int(1, 1000).default(50),
  WEBHOOK_BACKOFF_MS: int(1, 3_600_000).default(2_000),
  WEBHOOK_TIMEOUT_MS: int(100, 120_000).default(10_000),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: bool.default(false),
  // Where people reach this service (links in Slack messages); unset = messages name the request id only.
  PUBLIC_BASE_URL: urlOf(['http', 'https'], 'an http:// or https:// URL').optional(),
  // Slack interactivity (approve/reject buttons): the app's signing secret, and who each Slack user
  // is here (src/config/slack-user-map.schema.ts). Unset secret = the interactions route answers 503.
  SLACK_SIGNING_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  SLACK_USER_MAP: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON, e.g. {"U0123ABCD":"token:alice"}' });
        return z.NEVER;
      }
    })
    .pipe(SlackUserMapSchema)
    .optional(),
  // Tracing (OpenTelemetry, the standard variable names). Off unless an OTLP endpoint is set or
  // OTEL_TRACES_EXPORTER=console. OTEL_EXPORTER_OTLP_HEADERS (e.g. an API key) is read by the exporter itself.
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'console', 'none']).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('osm-onboarding'),
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
  // SIGTERM: readiness turns false, connections drain and the worker finishes its current step within this.
  SHUTDOWN_GRACE_MS: int(0, 3_600_000).default(25_000),
  // Retention (src/retention, worker role): audit events and finished requests older than N days are
  // exported to RETENTION_EXPORT_DIR, then removed (0 = kept forever); a pass every RETENTION_INTERVAL_MS.
  AUDIT_RETENTION_DAYS: int(0, 36_500).default(0),
  REQUEST_RETENTION_DAYS: int(0, 36_500).default(0),
  RETENTION_EXPORT_DIR: z.string().min(1).optional(),
  RETENTION_INTERVAL_MS: int(0, 7 * 24 * 3_600_000).default(3_600_000),
});

export type Env = z.input<typeof EnvSchema>;

/** Every variable the configuration reads (docs/operations.md lists them; test/unit/config-docs.spec.ts checks). */
export const CONFIG_KEYS: readonly string[] = Object.keys(EnvSchema.shape);

export interface AppConfig {
  nodeEnv: 'development' | 'production' | 'test';
  role: 'api' | 'worker' | 'all';
  host: string;
  port: number;
  logLevel: string;
  databaseUrl: string;
  databasePoolSize: number;
  databasePoolIdleMs: number;
  /** Sensitive (may hold a password): log it through redactUrl / describeRedis only. */
  redisUrl: string;
  /** How Redis is reached; credentials and TLS always come from `redisUrl`. */
  redis: RedisTopology;
  queuePrefix: string;
  /** Requests of one cluster a worker runs at once (with one cluster at work: the worker's concurrency). */
  workerConcurrency: number;
  /** The worker's slots across clusters: min(this, workerConcurrency × clusters with work). */
  workerMaxConcurrency: number;
  /** src/queue/supervised-worker.ts: 0 = the fetch loop is not watched. */
  workerStallMs: number;
  /** Outlier clusters and the budget they get while others have work (kubernetes/cluster-health.ts). */
  clusterOutliers: { enabled: boolean; failureShare: number; latencyFactor: number; budget: number };
  kube: {
    kubeconfigPath?: string;
    inCluster: boolean;
    requestTimeoutMs: number;
    /** How long an idle connection to an API server is kept open. */
    connectionIdleMs: number;
    qps: number;
    burst: number;
    rateLimitScope: 'cluster' | 'process';
    /** The share of qps and burst the namespace view may take (K8S_VIEW_SHARE). */
    viewShare: number;
    /** Sent as `fieldManager` on every create, update and patch. */
    fieldManager: string;
  };
  meshCacheTtlMs: number;
  /** Request-time reads of the target (src/onboarding/target-precheck.ts). */
  precheck: { timeoutMs: number; cacheMs: number; informer: boolean };
  /** Plans computed at once per process (PLAN_CONCURRENCY). */
  planConcurrency: number;
  /** A plan's deadline for its turn, and for its work (PLAN_TIMEOUT_MS). */
  planTimeoutMs: number;
  steps: { maxAttempts: number; backoffMs: number; timeoutMs: number };
  heartbeatMs: number;
  sweepIntervalMs: number;
  sweepBatchSize: number;
  /** src/namespaces/drift-scanner.service.ts: `intervalMs` 0 = off. */
  driftScan: { intervalMs: number; batchSize: number };
  /** src/events/stream-sweep.ts: the store check behind the open progress streams. */
  progressPollMs: number;
  /** src/events/stream-slots.ts: the bounds on the progress streams one API process holds open. */
  progressStreams: { maxStreams: number; maxStreamsPerCaller: number };
  defaultMeshName: string;
  tuning: { restartSettleMs: number; pollMs: number; rolloutTimeoutMs: number };
  /** Undefined = tracing off. `url` is the full OTLP/HTTP traces endpoint. */
  tracing?: { exporter: 'otlp' | 'console'; url?: string; serviceName: string; sampleRatio: number };
  workerMetricsPort: number;
  /** Sensitive: never logged. The bearer token /metrics asks for; undefined = /metrics is open. */
  metricsToken?: string;
  shutdownGraceMs: number;
  /** src/http/platform.ts: the HTTP server Nest runs on. */
  httpPlatform: 'express' | 'fastify';
  /** How long the HTTP server keeps an idle client connection (both platforms). */
  httpKeepAliveMs: number;
  /** src/retention: `*Days` 0 = kept forever; `exportDir` is set whenever either is not 0. */
  retention: { auditDays: number; requestDays: number; exportDir?: string; intervalMs: number };
  approvalPolicy: ApprovalPolicy;
  /** Mesh-wide changes by callers without a mesh grant (src/onboarding/approval-policy.ts). */
  meshWide: { mode: 'approval' | 'refuse'; approvals: number };
  rateLimitPerMinute: number;
  graphql: {
    maxDepth: number;
    maxCost: number;
    introspection: boolean;
    graphiql: boolean;
    /** A WebSocket that has not sent `connection_init` by then is closed (4408). */
    wsInitTimeoutMs: number;
    /** Apollo's validated-document and persisted-query caches, each at most this many KiB (graphql/apollo-caches). */
    documentCacheKb: number;
  };
  webhooks: {
    /** Sensitive: never logged. Undefined when neither WEBHOOK_SECRET_KEY nor the admin token is set. */
    secretKey?: string;
    maxAttempts: number;
    /** Webhooks one owner may have (WEBHOOKS_PER_OWNER). */
    perOwner: number;
    backoffMs: number;
    timeoutMs: number;
    allowPrivateTargets: boolean;
  };
  /** Base URL of links to this service in outgoing messages (no trailing slash). */
  publicBaseUrl?: string;
  slack: {
    /** Sensitive: never logged. Undefined = Slack interactions are refused (SLACK_NOT_CONFIGURED). */
    signingSecret?: string;
    users: SlackUserMap;
  };
  auth: {
    mode: 'token' | 'none';
    /** Sensitive: never logged. */
    adminToken?: string;
    jwt?: { jwksUrl: string; issuer: string; audience: string; rolesClaim: string; scopesClaim: string };
    failuresPerMinute: number;
    cacheMaxEntries: number;
    sessionRecheckMs: number;
    /** proxy-addr trust list; undefined = the socket's address is the client's. */
    trustProxy?: string;
  };
}

export interface HostPort {
  host: string;
  port: number;
}

export type RedisTopology =
  | { mode: 'standalone' }
  /** `name`: the master group Sentinel watches. `sentinelPassword` is sensitive: never logged. */
  | { mode: 'sentinel'; sentinels: HostPort[]; name: string; sentinelPassword?: string }
  /** `nodes`: seed nodes; the client discovers the others. */
  | { mode: 'cluster'; nodes: HostPort[] };

export class ConfigError extends Error {
  constructor(readonly issues: { key: string; message: string }[]) {
    super(`Invalid configuration: ${issues.map((i) => `${i.key}: ${i.message}`).join('; ')}`);
  }
}

/** For a process's start: the configuration, or the invalid keys on stderr and exit code 1 (no stack trace). */
export function loadConfigOrExit(): AppConfig {
  return orExit(() => loadConfig());
}

/** For a process's start: what `load` returns, or, if it throws a ConfigError, its keys on stderr and exit code 1. */
export function orExit<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    return exitOnConfigError(err);
  }
}

/** `orExit` for a check that has to wait (a connection): a ConfigError is one line on stderr and exit code 1. */
export async function orExitAsync(check: () => Promise<void>): Promise<void> {
  await check().catch(exitOnConfigError);
}

/** A ConfigError: its keys on stderr and exit code 1 (no stack trace); anything else is thrown again. */
function exitOnConfigError(err: unknown): never {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  // Empty strings mean "unset", as in most twelve-factor tooling.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  readSecretFile(cleaned, 'OSM_ONBOARDING_ADMIN_TOKEN');
  readSecretFile(cleaned, 'METRICS_TOKEN');
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => ({ key: String(i.path[0] ?? '(root)'), message: i.message })));
  }
  const e = parsed.data;
  return {
    nodeEnv: e.NODE_ENV,
    role: e.ROLE,
    host: e.HOST,
    port: e.PORT,
    httpPlatform: e.HTTP_PLATFORM,
    httpKeepAliveMs: e.HTTP_KEEP_ALIVE_MS,
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    databasePoolIdleMs: e.DATABASE_POOL_IDLE_MS,
    redisUrl: e.REDIS_URL,
    redis: redisTopology(e),
    queuePrefix: e.QUEUE_PREFIX,
    workerConcurrency: e.WORKER_CONCURRENCY,
    // Never below one cluster's budget: the one-cluster case keeps WORKER_CONCURRENCY.
    workerMaxConcurrency: Math.max(e.WORKER_MAX_CONCURRENCY, e.WORKER_CONCURRENCY),
    workerStallMs: e.WORKER_STALL_MS,
    clusterOutliers: {
      enabled: e.CLUSTER_OUTLIER_DETECTION,
      failureShare: e.CLUSTER_OUTLIER_FAILURE_SHARE,
      latencyFactor: e.CLUSTER_OUTLIER_LATENCY_FACTOR,
      budget: e.CLUSTER_OUTLIER_BUDGET,
    },
    kube: {
      kubeconfigPath: e.KUBECONFIG,
      inCluster: e.KUBE_IN_CLUSTER,
      requestTimeoutMs: e.K8S_REQUEST_TIMEOUT_MS,
      connectionIdleMs: e.K8S_CONNECTION_IDLE_MS,
      qps: e.K8S_QPS,
      burst: e.K8S_BURST,
      rateLimitScope: e.K8S_RATE_LIMIT_SCOPE,
      viewShare: e.K8S_VIEW_SHARE,
      fieldManager: e.K8S_FIELD_MANAGER,
    },
    meshCacheTtlMs: e.MESH_CACHE_TTL_MS,
    precheck: { timeoutMs: e.PRECHECK_TIMEOUT_MS, cacheMs: e.PRECHECK_CACHE_MS, informer: e.PRECHECK_INFORMER },
    planConcurrency: e.PLAN_CONCURRENCY,
    planTimeoutMs: e.PLAN_TIMEOUT_MS,
    steps: { maxAttempts: e.STEP_MAX_ATTEMPTS, backoffMs: e.STEP_BACKOFF_MS, timeoutMs: e.STEP_TIMEOUT_MS },
    heartbeatMs: e.HEARTBEAT_MS,
    sweepIntervalMs: e.SWEEP_INTERVAL_MS,
    sweepBatchSize: e.SWEEP_BATCH_SIZE,
    driftScan: { intervalMs: e.DRIFT_SCAN_INTERVAL_MS, batchSize: e.DRIFT_SCAN_BATCH_SIZE },
    progressPollMs: e.PROGRESS_POLL_MS,
    progressStreams: { maxStreams: e.PROGRESS_MAX_STREAMS, maxStreamsPerCaller: e.PROGRESS_MAX_STREAMS_PER_CALLER },
    defaultMeshName: e.DEFAULT_MESH_NAME,
    workerMetricsPort: e.WORKER_METRICS_PORT,
    metricsToken: e.METRICS_TOKEN,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    retention: retentionConfig(e),
    approvalPolicy: e.APPROVAL_POLICY ?? { rules: [] },
    meshWide: { mode: e.MESH_WIDE_CHANGES, approvals: e.MESH_WIDE_APPROVALS },
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    graphql: {
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxCost: e.GRAPHQL_MAX_COST,
      // Production answers neither unless asked to: the schema is in the repository for those who need it.
      introspection: e.GRAPHQL_INTROSPECTION ?? e.NODE_ENV !== 'production',
      graphiql: e.GRAPHIQL ?? e.NODE_ENV !== 'production',
      wsInitTimeoutMs: e.GRAPHQL_WS_INIT_TIMEOUT_MS,
      documentCacheKb: e.GRAPHQL_DOCUMENT_CACHE_KB,
    },
    webhooks: {
      secretKey:
        e.WEBHOOK_SECRET_KEY ??
        (e.OSM_ONBOARDING_ADMIN_TOKEN ? `admin-token:${e.OSM_ONBOARDING_ADMIN_TOKEN}` : undefined),
      maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
      perOwner: e.WEBHOOKS_PER_OWNER,
      backoffMs: e.WEBHOOK_BACKOFF_MS,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      allowPrivateTargets: e.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    },
    publicBaseUrl: e.PUBLIC_BASE_URL?.replace(/\/+$/, ''),
    slack: { signingSecret: e.SLACK_SIGNING_SECRET, users: e.SLACK_USER_MAP ?? {} },
    auth: {
      mode: e.AUTH_MODE,
      adminToken: e.OSM_ONBOARDING_ADMIN_TOKEN,
      jwt: jwtConfig(e),
      failuresPerMinute: e.AUTH_FAILURES_PER_MINUTE,
      cacheMaxEntries: e.AUTH_CACHE_MAX_ENTRIES,
      sessionRecheckMs: e.AUTH_SESSION_RECHECK_MS,
      trustProxy: trustProxy(e.TRUST_PROXY),
    },
    tuning: { restartSettleMs: e.RESTART_SETTLE_MS, pollMs: e.POLL_MS, rolloutTimeoutMs: e.ROLLOUT_TIMEOUT_MS },
    tracing: tracingConfig(e),
  };
}

/**
 * OIDC needs an issuer and an audience: without them any token signed by a key of the same JWKS
 * (another application of the same identity provider) would be accepted.
 */
function jwtConfig(e: z.output<typeof EnvSchema>): AppConfig['auth']['jwt'] {
  if (!e.AUTH_JWKS_URL) return undefined;
  const issues: { key: string; message: string }[] = [];
  const example = { AUTH_JWT_ISSUER: 'https://login.example.com/realms/platform', AUTH_JWT_AUDIENCE: 'osm-onboarding' };
  for (const key of ['AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE'] as const) {
    if (!e[key]) issues.push({ key, message: `is required when AUTH_JWKS_URL is set, e.g. ${example[key]}` });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return {
    jwksUrl: e.AUTH_JWKS_URL,
    issuer: e.AUTH_JWT_ISSUER!,
    audience: e.AUTH_JWT_AUDIENCE!,
    rolesClaim: e.AUTH_JWT_ROLES_CLAIM,
    scopesClaim: e.AUTH_JWT_SCOPES_CLAIM,
  };
}

/** Nothing is removed before it is exported: a retention period needs a place for the exports. */
function retentionConfig(e: z.output<typeof EnvSchema>): AppConfig['retention'] {
  if ((e.AUDIT_RETENTION_DAYS > 0 || e.REQUEST_RETENTION_DAYS > 0) && !e.RETENTION_EXPORT_DIR) {
    throw new ConfigError([
      {
        key: 'RETENTION_EXPORT_DIR',
        message: 'is required when AUDIT_RETENTION_DAYS or REQUEST_RETENTION_DAYS is set (exports go there first)',
      },
    ]);
  }
  if (e.REQUEST_RETENTION_DAYS > 0 && e.AUDIT_RETENTION_DAYS === 0) {
    throw new ConfigError([
      {
        key: 'REQUEST_RETENTION_DAYS',
        message: 'needs AUDIT_RETENTION_DAYS too: a request is removed only once its audit events are',
      },
    ]);
  }
  return {
    auditDays: e.AUDIT_RETENTION_DAYS,
    requestDays: e.REQUEST_RETENTION_DAYS,
    exportDir: e.RETENTION_EXPORT_DIR,
    intervalMs: e.RETENTION_INTERVAL_MS,
  };
}

/** Checked here so a typo stops start-up instead of the first request. */
function trustProxy(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    proxyaddr.compile(
      value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  } catch (err) {
    throw new ConfigError([{ key: 'TRUST_PROXY', message: `${(err as Error).message} (e.g. loopback,10.0.0.0/8)` }]);
  }
  return value;
}

/** `<KEY>_FILE` names a file whose content (trimmed) is `<KEY>`, unless `<KEY>` itself is set. */
function readSecretFile(env: Record<string, string | undefined>, key: string): void {
  const path = env[`${key}_FILE`];
  if (env[key] !== undefined || path === undefined) return;
  try {
    const value = readFileSync(path, 'utf8').trim();
    if (value) env[key] = value;
    else throw new Error('the file is empty');
  } catch (err) {
    throw new ConfigError([{ key: `${key}_FILE`, message: `cannot read ${path}: ${(err as Error).message}` }]);
  }
}

function tracingConfig(e: z.output<typeof EnvSchema>): AppConfig['tracing'] {
  const url =
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (e.OTEL_EXPORTER_OTLP_ENDPOINT ? `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` : undefined);
  const exporter = e.OTEL_TRACES_EXPORTER ?? (url ? 'otlp' : 'none');
  if (exporter === 'none') return undefined;
  if (exporter === 'otlp' && !url) {
    throw new ConfigError([
      { key: 'OTEL_EXPORTER_OTLP_ENDPOINT', message: 'is required when OTEL_TRACES_EXPORTER=otlp' },
    ]);
  }
  return { exporter, url, serviceName: e.OTEL_SERVICE_NAME, sampleRatio: e.OTEL_TRACES_SAMPLER_ARG };
}

/**
 * The part of a key Redis Cluster hashes to pick its slot: the first `{…}` with something inside
 * (Redis's own rule; `{}` does not count and hashes the whole key).
 */
export function hashTag(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open < 0) return undefined;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

/** Checks the REDIS_MODE combinations; every problem is reported at once, each naming its key. */
function redisTopology(e: z.output<typeof EnvSchema>): RedisTopology {
  const issues: { key: string; message: string }[] = [];
  const onlyWith = (mode: string, keys: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(keys)) {
      if (value !== undefined)
        issues.push({ key, message: `is only used with REDIS_MODE=${mode} (REDIS_MODE is ${e.REDIS_MODE})` });
    }
  };
  const required = (key: string, value: unknown, example: string) => {
    if (value === undefined)
      issues.push({ key, message: `is required when REDIS_MODE=${e.REDIS_MODE}, e.g. ${example}` });
  };
  let topology: RedisTopology = { mode: 'standalone' };
  const db = decodeURIComponent(new URL(e.REDIS_URL).pathname.replace(/^\//, ''));
  // Where Redis is, given for another mode: most likely REDIS_MODE was forgotten, so refuse rather than
  // connect to REDIS_URL's host. (REDIS_SENTINEL_PASSWORD alone says nothing: it may sit in a Secret shared
  // with processes that never use Redis, like the migration job.)
  if (e.REDIS_MODE !== 'sentinel')
    onlyWith('sentinel', { REDIS_SENTINELS: e.REDIS_SENTINELS, REDIS_SENTINEL_NAME: e.REDIS_SENTINEL_NAME });
  if (e.REDIS_MODE !== 'cluster') onlyWith('cluster', { REDIS_CLUSTER_NODES: e.REDIS_CLUSTER_NODES });
  if (e.REDIS_MODE === 'sentinel') {
    required('REDIS_SENTINELS', e.REDIS_SENTINELS, 'sentinel-0:26379,sentinel-1:26379,sentinel-2:26379');
    required('REDIS_SENTINEL_NAME', e.REDIS_SENTINEL_NAME, 'mymaster');
    topology = {
      mode: 'sentinel',
      sentinels: e.REDIS_SENTINELS ?? [],
      name: e.REDIS_SENTINEL_NAME ?? '',
      sentinelPassword: e.REDIS_SENTINEL_PASSWORD,
    };
  }
  if (e.REDIS_MODE === 'cluster') {
    required('REDIS_CLUSTER_NODES', e.REDIS_CLUSTER_NODES, 'redis-0:6379,redis-1:6379,redis-2:6379');
    // BullMQ runs multi-key Lua scripts over a queue's keys: on a Cluster they must share one slot.
    // Refused rather than wrapped, so the key names stay what the operator configured (dashboards, redis-cli).
    if (!hashTag(e.QUEUE_PREFIX)) {
      issues.push({
        key: 'QUEUE_PREFIX',
        message:
          'must contain a hash tag when REDIS_MODE=cluster, e.g. ' +
          `{${e.QUEUE_PREFIX.replace(/[{}]/g, '') || 'osm-onboarding'}}, so that each queue's keys share one slot`,
      });
    }
    if (db !== '' && db !== '0')
      issues.push({ key: 'REDIS_URL', message: `selects database ${db}, but Redis Cluster only has database 0` });
    topology = { mode: 'cluster', nodes: e.REDIS_CLUSTER_NODES ?? [] };
  }
  if (!/^\d*$/.test(db))
    issues.push({ key: 'REDIS_URL', message: `the database (path) must be a number, not "${db}"` });
  if (issues.length > 0) throw new ConfigError(issues);
  return topology;
}

/** Where Redis is, for logs: no password (REDIS_URL's nor the sentinels'). */
export function describeRedis(config: Pick<AppConfig, 'redisUrl' | 'redis'>): string {
  const t = config.redis;
  if (t.mode === 'standalone') return redactUrl(config.redisUrl);
  const list = (nodes: HostPort[]) =>
    nodes.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(',');
  const tls = config.redisUrl.startsWith('rediss:') ? ' (tls)' : '';
  return t.mode === 'sentinel'
    ? `sentinel master "${t.name}" via ${list(t.sentinels)}${tls}`
    : `cluster via ${list(t.nodes)}${tls}`;
}

// Credentials never reach logs: show a URL with its password masked.
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
