// Owns which copy of graphql-js our GraphQL plumbing uses: the CommonJS build, the one Apollo, Nest and
// graphql-ws load. A plain `import 'graphql'` can get the ESM build (under vitest), a second copy whose
// schema, errors and validation rules fail the other's instanceof checks.
import { createRequire } from 'node:module';

export const graphqlJs = createRequire(import.meta.url)('graphql') as typeof import('graphql');
