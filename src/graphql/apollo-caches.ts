// Owns what Apollo Server keeps per distinct operation text on GET/POST /graphql: its validated-document cache (the
// `documentStore`: parsed and validated documents, so a repeated operation skips both) and its cache of automatic
// persisted queries (the `cache`: query texts by their SHA-256), each bounded by GRAPHQL_DOCUMENT_CACHE_KB.
//
// Apollo's defaults are 30 MiB each, as Apollo counts: a document by its JSON length, a text by its length. A parsed
// document holds 3.5 to 4.7 times its JSON length in the heap (measured: 8.4 KB for a document like the README's
// `onboardingRequests(filter: { namespace: "…" })`, 1.8 KB of JSON). A caller that writes its values into the query
// text instead of variables sends a new document each time, and after about 16,000 of them the default store's
// documents outgrew the image's old space (192 MB): the API ended with "JavaScript heap out of memory"
// (docs/performance.md, fifteenth round). A bounded store costs nothing when operations repeat, and with values in
// the text nothing could be reused anyway.
//
// 0 turns both off: every operation is parsed and validated, and a persisted query is refused with
// PERSISTED_QUERY_NOT_SUPPORTED (Apollo Client's persisted-query link then sends whole queries).
// graphql-ws keeps no such cache (GraphQLWsServer parses each subscription itself).
import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';
import type { DocumentNode } from 'graphql';

export interface ApolloCaches {
  documentStore: InMemoryLRUCache<DocumentNode> | null;
  cache?: InMemoryLRUCache<string>;
  persistedQueries?: false;
}

/** Apollo Server's two caches, each at most `kb` KiB as Apollo measures it (0: none, and no persisted queries). */
export function apolloCaches(kb: number): ApolloCaches {
  if (kb === 0) return { documentStore: null, persistedQueries: false };
  const maxSize = kb * 1024;
  return {
    documentStore: new InMemoryLRUCache<DocumentNode>({ maxSize }),
    cache: new InMemoryLRUCache<string>({ maxSize }),
  };
}
