// Owns the GraphiQL page at GET /graphql (a browser asking for HTML): served from the
// @graphql-yoga/render-graphiql package, which inlines GraphiQL and its editor, so the page loads
// nothing from a CDN. Off in production unless GRAPHIQL=true.
import type { ApolloServerPlugin } from '@apollo/server';

let page: Promise<string> | undefined;

async function render(): Promise<string> {
  // Loaded on the first visit only: the bundle is several MB of JavaScript.
  const { renderGraphiQL } = await import('@graphql-yoga/render-graphiql');
  return renderGraphiQL({
    title: 'osm-onboarding GraphiQL',
    endpoint: '/graphql',
    subscriptionsProtocol: 'WS',
    headers: JSON.stringify({ Authorization: 'Bearer <token>' }),
    defaultQuery: '{ onboardingRequests(first: 10) { edges { node { id cluster namespace status } } } }',
  });
}

export function graphiqlPlugin(): ApolloServerPlugin {
  return {
    serverWillStart() {
      return Promise.resolve({
        renderLandingPage: () => Promise.resolve({ html: () => (page ??= render()) }),
      });
    },
  };
}
