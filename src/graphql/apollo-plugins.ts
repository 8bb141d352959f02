// Owns the Apollo Server plugins of GET/POST /graphql: which of Apollo's implicit plugins run, and the header the
// cache-control plugin set.
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
import { graphiqlPlugin } from './graphiql.js';

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

export function apolloPlugins(opts: { graphiql: boolean }): ApolloServerPlugin[] {
  return [
    ApolloServerPluginCacheControlDisabled(),
    ApolloServerPluginInlineTraceDisabled(),
    ApolloServerPluginUsageReportingDisabled(),
    ApolloServerPluginSchemaReportingDisabled(),
    noStore(),
    ...(opts.graphiql ? [graphiqlPlugin()] : []),
  ];
}
