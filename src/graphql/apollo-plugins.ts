// Owns the Apollo Server plugins of GET/POST /graphql: which of Apollo's implicit plugins run, the header the
// cache-control plugin set, and the refusal of a subscription sent over HTTP (graphql-ws serves them).
//
// Apollo installs some plugins unless told otherwise. Turned off here:
// - cache control: our schema has no @cacheControl hints, so every response was "uncacheable" and got
//   `Cache-Control: no-store`; but the plugin's per-field hook made Apollo wrap every resolver of the schema with
//   its plugin dispatch. noStore() below sends the same header without it;
// - inline tracing: only for a federated subgraph, which this is not;
// - usage and schema reporting to Apollo's cloud: they would start whenever APOLLO_KEY (and APOLLO_GRAPH_REF) happen
//   to be in the environment, sending operations to a third party. This service does not.
import type { ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { DomainError } from '../common/domain-error.js';
import { graphiqlPlugin } from './graphiql.js';
import { edgeError } from './graphql-errors-edge.js';
import { graphqlJs } from './graphql-js.js';

/** `Cache-Control: no-store` on every GraphQL response over HTTP: they carry per-caller data. */
function noStore(): ApolloServerPlugin {
  return {
    requestDidStart() {
      return Promise.resolve({
        willSendResponse({ response }) {
          if (!response.http.headers.has('cache-control')) response.http.headers.set('cache-control', 'no-store');
          return Promise.resolve();
        },
      });
    },
  };
}

/**
 * A subscription over HTTP is refused (SUBSCRIPTION_OVER_HTTP, 400) once its operation is known, before it runs:
 * executed as a query it would open no stream and fail as an internal error. Over GET, Apollo refuses it first (405:
 * GET runs queries only). Subscriptions are served over graphql-ws (GraphQLWsServer).
 */
function subscriptionsOverWebSocket(): ApolloServerPlugin {
  return {
    requestDidStart() {
      return Promise.resolve({
        didResolveOperation({ operation }) {
          if (operation?.operation !== graphqlJs.OperationTypeNode.SUBSCRIPTION) return Promise.resolve();
          const message = 'subscriptions are served over graphql-ws on /graphql';
          const hint = 'connect a graphql-ws client (subprotocol graphql-transport-ws) to ws(s)://<host>/graphql';
          return Promise.reject(edgeError(new DomainError('SUBSCRIPTION_OVER_HTTP', message, { hint })));
        },
      });
    },
  };
}

export function apolloPlugins(opts: { graphiql: boolean }): ApolloServerPlugin[] {
  return [
    ApolloServerPluginCacheControlDisabled(),
    ApolloServerPluginInlineTraceDisabled(),
    ApolloServerPluginUsageReportingDisabled(),
    ApolloServerPluginSchemaReportingDisabled(),
    noStore(),
    subscriptionsOverWebSocket(),
    ...(opts.graphiql ? [graphiqlPlugin()] : []),
  ];
}
