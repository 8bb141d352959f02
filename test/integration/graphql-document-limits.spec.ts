// What GraphQL answers a document that is refused before it runs, over HTTP (Apollo) and graphql-ws alike
// (src/graphql/document-limits.ts, src/common/graphql-errors.ts), from an outside audit:
// - Apollo's persisted-query refusals answered with HTTP 400 carry a client code (BAD_REQUEST), not
//   INTERNAL_SERVER_ERROR;
// - a document nesting deeper than graphql-js's parser can recurse is refused before it is parsed, with a message of
//   ours, where the answer was the RangeError's "Maximum call stack size exceeded";
// - validation stops after MAX_VALIDATION_ERRORS errors (2,000 copies of a directive answered 101).
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatGraphQLError } from '../../src/common/graphql-errors.js';
import {
  documentRefusal,
  MAX_DOCUMENT_NESTING,
  MAX_DOCUMENT_TOKENS,
  MAX_VALIDATION_ERRORS,
} from '../../src/graphql/document-limits.js';
import { graphqlJs } from '../../src/graphql/graphql-js.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { ADMIN_TOKEN, http, stackEnv, startApi } from '../support/harness.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** planOnboarding with an SMI spec of `levels` nested lists: the audit's document. */
const deepPlan = (levels: number) =>
  `mutation { planOnboarding(input: {namespace: "bookbuyer", trafficPolicy: {mode: "smi", smi: {trafficTargets: ` +
  `[{name: "t", spec: ${'['.repeat(levels)}${']'.repeat(levels)}}]}}}) { __typename } }`;
/** A document nesting exactly `depth` levels: `{`, `(`, then lists. The field does not exist (validation refuses). */
const nesting = (depth: number) => `{ noSuchField(a: ${'['.repeat(depth - 2)}1${']'.repeat(depth - 2)}) }`;
/** A document of exactly `tokens` tokens: `{`, `}` and fields `a` (which do not exist). */
const tokens = (n: number) => `{${' a'.repeat(n - 2)} }`;
/** The audit's amplification: one field, 2,000 copies of one directive. */
const skips = `{ apiTokens ${'@skip(if:false) '.repeat(2000)}{ id } }`;

/** One operation over graphql-ws: its result or the errors refusing it. */
function wsRun(client: Client, query: string) {
  return new Promise<{ data?: any; errors?: any[] }>((resolve, reject) => {
    let result: { data?: any; errors?: any[] } = {};
    client.subscribe(
      { query },
      {
        next: (msg) => (result = msg as typeof result),
        error: (err) => (Array.isArray(err) ? resolve({ errors: err }) : reject(err as Error)),
        complete: () => resolve(result),
      },
    );
  });
}

describe('GraphQL documents refused before they run', () => {
  let emulator: Emulator;
  let api: Awaited<ReturnType<typeof startApi>>;
  let client: Client;

  beforeAll(async () => {
    emulator = await startEmulator();
    api = await startApi(await stackEnv(emulator, { ROLE: 'api', RATE_LIMIT_PER_MINUTE: '1000' }));
    client = createClient({
      url: api.url.replace(/^http/, 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazyCloseTimeout: 60_000,
      connectionParams: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
  }, 30_000);
  afterAll(async () => {
    await client?.dispose();
    await api?.app.close();
    await emulator?.close();
  });

  const post = (body: unknown) => http(api.url, 'POST', '/graphql', body);
  const get = (query: string) =>
    http(api.url, 'GET', `/graphql?query=${encodeURIComponent(query)}`, undefined, {
      'apollo-require-preflight': 'true',
    });
  const codes = (errors: any[] | undefined) => [...new Set((errors ?? []).map((e) => e.extensions?.code))];

  describe('automatic persisted queries', () => {
    it('a hash that does not match the query is 400 BAD_REQUEST, not INTERNAL_SERVER_ERROR', async () => {
      const res = await post({
        query: '{ apiTokens { id } }',
        extensions: { persistedQuery: { version: 1, sha256Hash: 'deadbeef' } },
      });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([
        { message: 'provided sha does not match query', extensions: { code: 'BAD_REQUEST' } },
      ]);
    });

    it('a persisted-query version other than 1 is 400 BAD_REQUEST, not INTERNAL_SERVER_ERROR', async () => {
      const res = await post({ extensions: { persistedQuery: { version: 2, sha256Hash: 'x' } } });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([
        { message: 'Unsupported persisted query version', extensions: { code: 'BAD_REQUEST' } },
      ]);
    });

    it('still registers and answers persisted queries (PERSISTED_QUERY_NOT_FOUND for an unknown one)', async () => {
      const query = '{ apiTokens { id } } # document-limits';
      const persisted = (q?: string) => ({
        query: q,
        extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } },
      });
      const unknown = await post(persisted());
      expect([unknown.status, codes(unknown.body.errors)]).toEqual([200, ['PERSISTED_QUERY_NOT_FOUND']]);
      expect((await post(persisted(query))).body.errors).toBeUndefined();
      const hit = await post(persisted());
      expect(hit.body.errors).toBeUndefined();
      expect(Array.isArray(hit.body.data.apiTokens)).toBe(true);
    });
  });

  describe('nesting and tokens', () => {
    const tooDeep = `the document nests deeper than ${MAX_DOCUMENT_NESTING} levels of braces, brackets and parentheses`;

    it("refuses the audit's 3,000-level document over HTTP with a message of ours, not the RangeError's", async () => {
      const res = await post({ query: deepPlan(3000) });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ errors: [{ message: tooDeep, extensions: { code: 'GRAPHQL_PARSE_FAILED' } }] });
      expect(res.headers.get('cache-control')).toBe('no-store');
    });

    it('refuses it over graphql-ws the same way', async () => {
      const res = await wsRun(client, deepPlan(3000));
      expect(res.errors).toEqual([{ message: tooDeep, extensions: { code: 'GRAPHQL_PARSE_FAILED' } }]);
    });

    it('refuses one level past the bound over POST, GET and graphql-ws; one at the bound is parsed', async () => {
      for (const answer of [
        (await post({ query: nesting(MAX_DOCUMENT_NESTING + 1) })).body,
        (await get(nesting(MAX_DOCUMENT_NESTING + 1))).body,
        await wsRun(client, nesting(MAX_DOCUMENT_NESTING + 1)),
      ]) {
        expect(answer.errors).toEqual([{ message: tooDeep, extensions: { code: 'GRAPHQL_PARSE_FAILED' } }]);
      }
      for (const answer of [
        (await post({ query: nesting(MAX_DOCUMENT_NESTING) })).body,
        (await get(nesting(MAX_DOCUMENT_NESTING))).body,
        await wsRun(client, nesting(MAX_DOCUMENT_NESTING)),
      ]) {
        expect(codes(answer.errors)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
        expect(answer.errors![0].message).toMatch(/noSuchField/);
      }
    });

    it('counts only what the parser reads: brackets in strings, block strings and comments do not nest', async () => {
      const deep = '['.repeat(500);
      const query = `{ noSuchField(a: "${deep}", b: """${deep}""") # ${deep}\n }`;
      expect(documentRefusal(query)).toBeUndefined();
      const res = await post({ query });
      expect(codes(res.body.errors)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    });

    it(`refuses more than ${MAX_DOCUMENT_TOKENS} tokens with a message of ours, over HTTP and graphql-ws`, async () => {
      const message = `the document has more than ${MAX_DOCUMENT_TOKENS} tokens`;
      for (const answer of [
        (await post({ query: tokens(MAX_DOCUMENT_TOKENS + 1) })).body,
        await wsRun(client, tokens(MAX_DOCUMENT_TOKENS + 1)),
      ]) {
        expect(answer.errors).toEqual([{ message, extensions: { code: 'GRAPHQL_PARSE_FAILED' } }]);
      }
      const atBound = await post({ query: tokens(MAX_DOCUMENT_TOKENS) });
      expect(codes(atBound.body.errors)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    });

    it("runs real documents: GraphiQL's introspection query, a batch of 500 inline targets", async () => {
      const introspection = graphqlJs.getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true });
      const overHttp = await post({ query: introspection });
      expect(overHttp.body.errors).toBeUndefined();
      expect(overHttp.body.data.__schema.types.length).toBeGreaterThan(10);
      const overWs = await wsRun(client, introspection);
      expect(overWs.errors).toBeUndefined();
      // Refused by validation (the selection asks for a field Batch does not have), so nothing runs: not at parse.
      const targets = Array.from({ length: 500 }, (_, i) => `{cluster: "emulator", namespace: "team-${i}"}`);
      const batch = `query { planBatch(input: {kind: ONBOARD, targets: [${targets.join(', ')}]}) { noSuchField } }`;
      expect(documentRefusal(batch)).toBeUndefined();
      for (const answer of [(await post({ query: batch })).body, await wsRun(client, batch)]) {
        expect(codes(answer.errors)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
        expect(answer.errors![0].message).toMatch(/noSuchField/);
      }
    });

    it('never answers a JavaScript error text for a parse that failed on one (the formatter, defensively)', () => {
      // As Apollo hands a parse that threw a RangeError to formatError: its SyntaxError wrapping a GraphQLError.
      const stack = new RangeError('Maximum call stack size exceeded');
      const wrapped = new graphqlJs.GraphQLError(stack.message, { originalError: stack });
      const apollo = new graphqlJs.GraphQLError(stack.message, {
        originalError: wrapped,
        extensions: { code: 'GRAPHQL_PARSE_FAILED' },
      });
      expect(formatGraphQLError(apollo.toJSON(), apollo)).toEqual({
        message: 'the document nests too deeply to be parsed',
        extensions: { code: 'GRAPHQL_PARSE_FAILED' },
      });
    });
  });

  describe('validation errors', () => {
    const limit = MAX_VALIDATION_ERRORS + 1;

    it(`answers at most ${MAX_VALIDATION_ERRORS} (and one saying validation stopped) over HTTP`, async () => {
      const res = await post({ query: skips });
      expect(res.status).toBe(400);
      expect(res.body.errors).toHaveLength(limit);
      expect(codes(res.body.errors)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(res.body.errors[0].message).toBe('The directive "@skip" can only be used once at this location.');
      expect(res.body.errors.at(-1).message).toBe(
        'Too many validation errors, error limit reached. Validation aborted.',
      );
    });

    it('the same over graphql-ws', async () => {
      const res = await wsRun(client, skips);
      expect(res.errors).toHaveLength(limit);
      expect(codes(res.errors)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(res.errors!.at(-1).message).toBe('Too many validation errors, error limit reached. Validation aborted.');
    });
  });
});
