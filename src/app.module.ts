import { randomUUID } from 'node:crypto';
import { DynamicModule, Module } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
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
import { HealthController } from './health/health.controller.js';
import { MetricsController } from './observability/metrics.controller.js';
import { ObservabilityModule } from './observability/observability.module.js';
import { logMixin } from './observability/log-context.js';
import { formatGraphQLError } from './common/graphql-errors.js';
import { APP_CONFIG } from './config/config.module.js';
import { AuthModule } from './auth/auth.module.js';
import { HttpAuthentication } from './auth/auth.guard.js';
import { TokensController } from './auth/tokens.controller.js';
import { TokensResolver } from './auth/tokens.resolver.js';
import { DocsController } from './docs/docs.controller.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';
import { NamespacesModule } from './namespaces/namespaces.module.js';
import { AuditExportModule } from './audit-export/audit-export.module.js';
import { graphqlValidationRules } from './graphql/validation-rules.js';
import { graphiqlPlugin } from './graphql/graphiql.js';
import { GraphQLWsServer } from './graphql/graphql-ws.server.js';
import { edgeError } from './graphql/graphql-errors-edge.js';
import { SlackModule } from './integrations/slack/slack.module.js';
import { describeSchema } from './graphql/zod-types.js';
import { RetentionModule } from './retention/retention.module.js';

type AuthenticatedRequest = Parameters<HttpAuthentication['authenticate']>[0];

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
        AuditModule,
        KubernetesModule,
        QueueModule,
        ObservabilityModule,
        OnboardingModule.register({ api, worker }),
        ApprovalsModule.register({ api }),
        BatchesModule.register({ api }),
        WebhooksModule.register({ api, worker }),
        NamespacesModule.register({ api, worker }),
        ...(api ? [AuditExportModule, SlackModule] : []),
        ...(worker ? [RetentionModule] : []),
        ...(api
          ? [
              AuthModule,
              GraphQLModule.forRootAsync<ApolloDriverConfig>({
                driver: ApolloDriver,
                inject: [HttpAuthentication, APP_CONFIG],
                useFactory: (auth: HttpAuthentication, cfg: AppConfig) => ({
                  // Bound what one query may ask for: nesting depth, field cost and aliases (the same rules
                  // apply over graphql-ws, see GraphQLWsServer).
                  validationRules: graphqlValidationRules(cfg.graphql, { introspection: false }),
                  introspection: cfg.graphql.introspection,
                  autoSchemaFile: true,
                  sortSchema: true,
                  // Descriptions come from the zod schemas of the same data (one source for GraphQL and OpenAPI).
                  transformSchema: describeSchema,
                  // Nest's GraphiQL loads its scripts from a CDN: ours is served from a package (graphiql.ts).
                  graphiql: false,
                  plugins: cfg.graphql.graphiql ? [graphiqlPlugin()] : [],
                  formatError: formatGraphQLError,
                  // graphql-ws is served by GraphQLWsServer (message size, per-operation checks), not by Nest.
                  // Every operation over HTTP is authenticated before it runs, introspection included:
                  // refused with the REST status (401, 429 with Retry-After) and the same code.
                  // Express's integration passes `{ req }`, Fastify's the request itself.
                  context: async (arg: { req?: AuthenticatedRequest } & AuthenticatedRequest) => {
                    const req = arg.req ?? arg;
                    try {
                      await auth.authenticate(req);
                    } catch (err) {
                      throw edgeError(err);
                    }
                    return { req };
                  },
                }),
              }),
            ]
          : []),
      ],
      controllers: api ? [HealthController, MetricsController, TokensController, DocsController] : [],
      providers: api ? [TokensResolver, GraphQLWsServer] : [],
    };
  }
}
