// The root module, composed per role (ROLE=api, worker or all): what every process needs (config, logging,
// Postgres, Redis, the cluster gateway, the queue, the requests' services) plus the API's edges
// (src/api-edges.ts, loaded with import() only when the process serves HTTP) and the worker's consumers.
import { randomUUID } from 'node:crypto';
import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfig } from './config/config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { RedisModule } from './redis/redis.module.js';
import { AuditModule } from './audit/audit.module.js';
import { ApprovalsModule } from './approvals/approvals.module.js';
import { BatchesModule } from './batches/batches.module.js';
import { KubernetesModule } from './kubernetes/kubernetes.module.js';
import { QueueModule } from './queue/queue.module.js';
import { OnboardingModule } from './onboarding/onboarding.module.js';
import { ObservabilityModule } from './observability/observability.module.js';
import { logMixin } from './observability/log-context.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';
import { NamespacesModule } from './namespaces/namespaces.module.js';
import { RetentionModule } from './retention/retention.module.js';
import { loggedUrl } from './observability/logged-url.js';

@Module({})
export class AppModule {
  /** Async: the API's edges are imported on demand (a worker never loads GraphQL, Apollo or the controllers). */
  static async forRole(config: AppConfig): Promise<DynamicModule> {
    const worker = config.role !== 'api';
    const api = config.role !== 'worker' ? await import('./api-edges.js') : undefined;
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            // The id the HTTP context middleware gave the call (X-Request-Id or a new UUID).
            genReqId: (req) => (req as { id?: string }).id ?? randomUUID(),
            // Every line carries the log context (HTTP request id, onboarding request, step) and trace ids.
            mixin: logMixin,
            // The access log names the call, not its headers: no credentials, and no per-request
            // serialisation of every header (with redaction) on the hot path; of the query, only the values of
            // the API's own parameters (observability/logged-url.ts).
            serializers: {
              req: (req: { id?: string; method?: string; url?: string; headers?: Record<string, unknown> }) => ({
                id: req.id,
                method: req.method,
                url: loggedUrl(req.url),
                userAgent: req.headers?.['user-agent'],
              }),
              res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
            },
            autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
          },
        }),
        DatabaseModule,
        RedisModule,
        AuditModule,
        KubernetesModule,
        QueueModule,
        ObservabilityModule,
        OnboardingModule.register({ api: api?.onboardingEdges, worker }),
        ApprovalsModule.register({ api: api?.approvalEdges }),
        BatchesModule.register({ api: api?.batchEdges }),
        WebhooksModule.register({ api: api?.webhookEdges, worker }),
        NamespacesModule.register({ api: api?.namespaceEdges, worker }),
        ...(api?.apiFeatureModules ?? []),
        ...(worker ? [RetentionModule] : []),
        ...(api?.apiModules() ?? []),
      ],
      controllers: api?.appEdges.controllers ?? [],
      providers: api?.appEdges.providers ?? [],
    };
  }
}
