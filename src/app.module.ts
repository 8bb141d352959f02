import { randomUUID } from 'node:crypto';
import { DynamicModule, Module } from '@nestjs/common';
import type { ExecutionResult, FormattedExecutionResult, GraphQLError, ValidationContext } from 'graphql';
import { GraphQLModule } from '@nestjs/graphql';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfig } from './config/config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { RedisModule } from './redis/redis.module.js';
import { KubernetesModule } from './kubernetes/kubernetes.module.js';
import { QueueModule } from './queue/queue.module.js';
import { OnboardingModule } from './onboarding/onboarding.module.js';
import { HealthController } from './health/health.controller.js';
import { MetricsController } from './observability/metrics.controller.js';
import { ObservabilityModule } from './observability/observability.module.js';
import { logMixin } from './observability/log-context.js';
import { formatGraphQLError } from './common/graphql-errors.js';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { APP_CONFIG } from './config/config.module.js';
import { AuthModule } from './auth/auth.module.js';
import { Authenticator } from './auth/authenticator.js';
import { TokensController } from './auth/tokens.controller.js';
import { TokensResolver } from './auth/tokens.resolver.js';
import { DocsController } from './docs/docs.controller.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';
import { NamespaceStatusModule } from './namespaces/namespace-status.module.js';
import { AuditExportModule } from './audit/audit-export.module.js';
import { SlackModule } from './integrations/slack/slack.module.js';

const REPORT = {
  propagateOnRejection: false,
  onReject: [(ctx: ValidationContext | null, error: GraphQLError) => ctx?.reportError(error)],
};

@Module({})
export class AppModule {
  static forRole(config: AppConfig): DynamicModule {
    const api = config.role !== 'worker';
    const worker = config.role !== 'api';
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
            // serialisation of every header (with redaction) on the hot path.
            serializers: {
              req: (req: { id?: string; method?: string; url?: string; headers?: Record<string, unknown> }) => ({
                id: req.id,
                method: req.method,
                url: req.url,
                userAgent: req.headers?.['user-agent'],
              }),
              res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
            },
            autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
          },
        }),
        DatabaseModule,
        RedisModule,
        KubernetesModule,
        QueueModule,
        ObservabilityModule,
        OnboardingModule.register({ api, worker }),
        WebhooksModule.register({ api, worker }),
        ...(api ? [NamespaceStatusModule, AuditExportModule, SlackModule] : []),
        ...(api
          ? [
              AuthModule,
              GraphQLModule.forRootAsync<ApolloDriverConfig>({
                driver: ApolloDriver,
                inject: [Authenticator, APP_CONFIG],
                useFactory: (auth: Authenticator, cfg: AppConfig) => ({
                  // Bound what one query may ask for: nesting depth, field cost and aliases.
                  // Rejections are reported as validation errors (GRAPHQL_VALIDATION_FAILED), not thrown.
                  validationRules: [
                    maxDepthRule({ n: cfg.graphql.maxDepth, ...REPORT }),
                    costLimitRule({ maxCost: cfg.graphql.maxCost, ...REPORT }),
                    maxAliasesRule({ n: 20, ...REPORT }),
                  ],
                  autoSchemaFile: true,
                  sortSchema: true,
                  graphiql: true,
                  formatError: formatGraphQLError,
                  subscriptions: {
                    'graphql-ws': {
                      path: '/graphql',
                      // The handshake carries the credentials: { authorization: 'Bearer …' }.
                      // Errors of a subscription get the same codes as queries and mutations.
                      onNext: (_ctx: unknown, _id: string, _payload: unknown, _args: unknown, result: ExecutionResult): FormattedExecutionResult | undefined =>
                        result.errors?.length
                          ? { data: result.data, errors: result.errors.map((e) => formatGraphQLError(e.toJSON(), e)) }
                          : undefined,
                      onConnect: async (ctx: { connectionParams?: Record<string, unknown>; extra: unknown }) => {
                        try {
                          (ctx.extra as { actor?: unknown }).actor = await auth.fromHeader(ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization);
                          return true;
                        } catch {
                          return false;
                        }
                      },
                    },
                  },
                  context: (c: { req?: unknown; extra?: { actor?: unknown } }) => (c.req ? { req: c.req } : { req: { headers: {}, actor: c.extra?.actor } }),
                }),
              }),
            ]
          : []),
      ],
      controllers: api ? [HealthController, MetricsController, TokensController, DocsController] : [],
      providers: api ? [TokensResolver] : [],
    };
  }
}
