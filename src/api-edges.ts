// The API role's edges, composed here so that only a process serving HTTP loads them: GraphQL (Apollo, the
// schema, graphql-ws), authentication, the REST controllers and resolvers of every feature, the docs, Slack and
// the audit export. AppModule.forRole imports this file with a dynamic import() for ROLE=api and ROLE=all; a
// worker (ROLE=worker) never loads it (measured: docs/performance.md, round of 2026-12-04, Memory).
import type { DynamicModule, Provider, Type } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import type { AppConfig } from './config/config.js';
import { APP_CONFIG } from './config/config.module.js';
import type { ModuleEdges } from './common/module-edges.js';
import { formatGraphQLError } from './common/graphql-errors.js';
import { IntOrStringScalar } from './common/int-or-string.scalar.js';
import { AuthModule } from './auth/auth.module.js';
import { HttpAuthentication } from './auth/auth.guard.js';
import { TokensController } from './auth/tokens.controller.js';
import { TokensResolver } from './auth/tokens.resolver.js';
import { DocsController } from './docs/docs.controller.js';
import { HealthController } from './health/health.controller.js';
import { MetricsController } from './observability/metrics.controller.js';
import { OnboardingController } from './onboarding/api/onboarding.controller.js';
import { OnboardingResolver } from './onboarding/api/onboarding.resolver.js';
import { NamespaceInformer } from './onboarding/namespace-informer.js';
import { ReapplyController } from './namespaces/reapply.controller.js';
import { ReapplyResolver } from './namespaces/reapply.resolver.js';
import { NamespaceStatusController } from './namespaces/namespace-status.controller.js';
import { NamespaceStatusResolver } from './namespaces/namespace-status.resolver.js';
import { ApprovalsController } from './approvals/approvals.controller.js';
import { ApprovalsResolver } from './approvals/approvals.resolver.js';
import { BatchController } from './batches/batch.controller.js';
import { BatchResolver } from './batches/batch.resolver.js';
import { WebhooksController } from './webhooks/webhooks.controller.js';
import { WebhooksResolver } from './webhooks/webhooks.resolver.js';
import { AuditExportModule } from './audit-export/audit-export.module.js';
import { SlackModule } from './integrations/slack/slack.module.js';
import { graphqlValidationRules } from './graphql/validation-rules.js';
import { apolloPlugins } from './graphql/apollo-plugins.js';
import { apolloCaches } from './graphql/apollo-caches.js';
import { GraphQLWsServer } from './graphql/graphql-ws.server.js';
import { edgeError } from './graphql/graphql-errors-edge.js';
import { PARSE_OPTIONS, refuseHttpDocument, VALIDATION_OPTIONS } from './graphql/document-limits.js';
import { describeSchema } from './graphql/zod-types.js';

type AuthenticatedRequest = Parameters<HttpAuthentication['authenticate']>[0];

export const onboardingEdges: ModuleEdges = {
  controllers: [OnboardingController],
  // NamespaceInformer: the request-time check's in-memory view of each cluster's namespaces (TargetPrecheck).
  providers: [OnboardingResolver, IntOrStringScalar, NamespaceInformer],
};
export const approvalEdges: ModuleEdges = { controllers: [ApprovalsController], providers: [ApprovalsResolver] };
export const namespaceEdges: ModuleEdges = {
  controllers: [NamespaceStatusController, ReapplyController],
  providers: [NamespaceStatusResolver, ReapplyResolver],
};
export const batchEdges: ModuleEdges = { controllers: [BatchController], providers: [BatchResolver] };
export const webhookEdges: ModuleEdges = { controllers: [WebhooksController], providers: [WebhooksResolver] };

/** The app-level controllers and providers of the API role. */
export const appEdges: { controllers: Type<unknown>[]; providers: Provider[] } = {
  controllers: [HealthController, MetricsController, TokensController, DocsController],
  providers: [TokensResolver, GraphQLWsServer],
};

/** The API-only features: the audit export, Slack's interactivity endpoint. */
export const apiFeatureModules: Type<unknown>[] = [AuditExportModule, SlackModule];

/** Authentication and GraphQL over HTTP. */
export function apiModules(): (DynamicModule | Type<unknown>)[] {
  return [
    AuthModule,
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      inject: [HttpAuthentication, APP_CONFIG],
      useFactory: (auth: HttpAuthentication, cfg: AppConfig) => ({
        // Bound what one query may ask for: nesting depth, field cost and aliases (the same rules
        // apply over graphql-ws, see GraphQLWsServer).
        validationRules: graphqlValidationRules(cfg.graphql, { introspection: false }),
        // A document's tokens, and how many validation errors it gets back (document-limits.ts; graphql-ws too).
        parseOptions: PARSE_OPTIONS,
        validationOptions: VALIDATION_OPTIONS,
        introspection: cfg.graphql.introspection,
        autoSchemaFile: true,
        sortSchema: true,
        // Descriptions come from the zod schemas of the same data (one source for GraphQL and OpenAPI).
        transformSchema: describeSchema,
        // Nest's GraphiQL loads its scripts from a CDN: ours is served from a package (graphiql.ts).
        graphiql: false,
        plugins: apolloPlugins({ graphiql: cfg.graphql.graphiql }),
        // Bounded: Apollo's defaults let distinct documents exhaust the heap (apollo-caches.ts).
        ...apolloCaches(cfg.graphql.documentCacheKb),
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
            throw edgeError(err, req.headers?.authorization);
          }
          // A document nesting too deep or too long is refused before Apollo parses it (document-limits.ts).
          refuseHttpDocument(req as { body?: unknown; url?: string });
          return { req };
        },
      }),
    }),
  ];
}
