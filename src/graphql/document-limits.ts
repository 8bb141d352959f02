// Owns the bounds on a GraphQL document's text and on what its validation answers, over HTTP (Apollo) and
// graphql-ws alike: a document nesting deeper than MAX_DOCUMENT_NESTING braces, brackets and parentheses, or of more
// than MAX_DOCUMENT_TOKENS tokens, is refused before graphql-js parses it (GRAPHQL_PARSE_FAILED, 400 over HTTP), and
// validation stops after MAX_VALIDATION_ERRORS errors.
//
// graphql-js's parser recurses once or more per level (a selection set, arguments, a list, an input object): a value
// nested about 1,600 to 2,000 levels deep overflowed the stack, and the answer was the RangeError's text ("Maximum
// call stack size exceeded"). Real documents nest far less: GraphiQL's introspection query 10 levels, a query at
// GRAPHQL_MAX_DEPTH's largest (50) 50 selection sets and a few levels more for its arguments. The tokens bound is
// Apollo Router's default (`parser_max_tokens`); a batch of 500 inline targets is about 4,000 tokens, and a body is
// at most 64 kB anyway.
// Validation stopped at graphql-js's default of 100 errors (and one saying so): 2,000 copies of one directive on a
// field answered 101 errors; a client fixing its document learns as much from the first 20.
//
// Over HTTP the check runs in Apollo's context function (api-edges.ts): Apollo has no plugin hook before parsing that
// may refuse a request (a throw from didResolveSource or parsingDidStart becomes a 500 "Internal server error").
import type { DocumentNode, GraphQLError, ParseOptions } from 'graphql';
import { unparsableDocumentMessage } from '../common/graphql-errors.js';
import { withCode } from './graphql-errors-edge.js';
import { graphqlJs } from './graphql-js.js';

/** The deepest a document's braces, brackets and parentheses may nest. */
export const MAX_DOCUMENT_NESTING = 100;
/** The most tokens a document may have (graphql-js counts them; punctuation included, commas and comments not). */
export const MAX_DOCUMENT_TOKENS = 15_000;
/** The most validation errors one document gets back, followed by graphql-js's "Validation aborted." one. */
export const MAX_VALIDATION_ERRORS = 20;

/** graphql-js's own bound on tokens, behind documentRefusal (Apollo's `parseOptions`, graphql-ws's parse). */
export const PARSE_OPTIONS: ParseOptions = { maxTokens: MAX_DOCUMENT_TOKENS };
/** Apollo's `validationOptions`, graphql-ws's validate. */
export const VALIDATION_OPTIONS: { maxErrors: number } = { maxErrors: MAX_VALIDATION_ERRORS };

const OPENING = new Set(['{', '[', '(']);
const CLOSING = new Set(['}', ']', ')']);

/**
 * Why `source` is refused before parsing (too deep, too many tokens), or undefined. Read with graphql-js's lexer, which
 * does not recurse, so that strings, block strings and comments are skipped exactly as the parser skips them. A text
 * with no more than MAX_DOCUMENT_NESTING opening brackets in all, and no more characters than MAX_DOCUMENT_TOKENS
 * (nearly every document), is not lexed at all. A lexical error ends the scan: the parser stops at it too.
 */
export function documentRefusal(source: string): string | undefined {
  let opening = 0;
  for (let i = 0; i < source.length && opening <= MAX_DOCUMENT_NESTING; i++) {
    const c = source.charCodeAt(i);
    if (c === 0x7b || c === 0x5b || c === 0x28) opening++;
  }
  if (opening <= MAX_DOCUMENT_NESTING && source.length <= MAX_DOCUMENT_TOKENS) return undefined;
  const lexer = new graphqlJs.Lexer(new graphqlJs.Source(source));
  let depth = 0;
  let tokens = 0;
  try {
    for (let token = lexer.advance(); token.kind !== graphqlJs.TokenKind.EOF; token = lexer.advance()) {
      if (++tokens > MAX_DOCUMENT_TOKENS) return `the document has more than ${MAX_DOCUMENT_TOKENS} tokens`;
      if (OPENING.has(token.kind) && ++depth > MAX_DOCUMENT_NESTING) {
        return `the document nests deeper than ${MAX_DOCUMENT_NESTING} levels of braces, brackets and parentheses`;
      }
      // A closing one that does not match is a syntax error where the parser stops; so is going below 0.
      if (CLOSING.has(token.kind)) depth--;
    }
  } catch {
    // A lexical error (an unterminated string, a character GraphQL has no use for): parse() reports it.
  }
  return undefined;
}

/** A refusal of the document itself, coded as graphql-js's syntax errors are (GRAPHQL_PARSE_FAILED). */
export function refusedDocument(message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new graphqlJs.GraphQLError(message, { extensions: { ...extensions, code: 'GRAPHQL_PARSE_FAILED' } });
}

/**
 * Over HTTP, from Apollo's context function: throws the refusal of the operation's text (the POST body's `query`,
 * or GET's `query` parameter) with status 400, before Apollo parses it. A text Apollo takes from its persisted-query
 * cache was parsed and validated when it was stored. Cache-Control as the noStore plugin sets it (apollo-plugins.ts):
 * Apollo answers an error from the context function without running the plugins' willSendResponse.
 */
export function refuseHttpDocument(req: { body?: unknown; url?: string }): void {
  const body = req.body as { query?: unknown } | null | undefined;
  const texts = typeof body?.query === 'string' ? [body.query] : [];
  const url = req.url ?? '';
  if (url.includes('?')) texts.push(...new URLSearchParams(url.slice(url.indexOf('?') + 1)).getAll('query'));
  for (const text of texts) {
    const message = documentRefusal(text);
    if (!message) continue;
    const http = { status: 400, headers: new Map([['cache-control', 'no-store']]) };
    throw refusedDocument(message, { http });
  }
}

/**
 * Over graphql-ws: the document, or the GraphQL errors refusing it (GRAPHQL_PARSE_FAILED), as Apollo answers the same
 * text over HTTP.
 */
export function parseDocument(source: string): DocumentNode | GraphQLError[] {
  const message = documentRefusal(source);
  if (message) return [refusedDocument(message)];
  try {
    return graphqlJs.parse(source, PARSE_OPTIONS);
  } catch (err) {
    if (err instanceof graphqlJs.GraphQLError) return withCode([err], 'GRAPHQL_PARSE_FAILED');
    // Not graphql-js's syntax error (a RangeError): never its text.
    return [refusedDocument(unparsableDocumentMessage(err))];
  }
}
