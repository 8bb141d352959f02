// Owns the shape of every GraphQL error, over HTTP (Apollo's formatError) and graphql-ws (GraphQLWsServer's
// onError/onNext): a domain error becomes its `extensions.code` (+ fields, hint, details); graphql-js's own errors
// keep their code, without the input values their messages quote (graphql-input-values.ts); nothing internal leaks.
import type { GraphQLFormattedError } from 'graphql';
import { Logger } from '@nestjs/common';
import { withoutInputValues } from './graphql-input-values.js';
import { toDomainError } from './to-domain-error.js';

const logger = new Logger('GraphQLError');

/** The GraphQL edge: domain errors become `extensions.code` (+ fields, hint); nothing internal leaks. */
export function formatGraphQLError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  // Duck-typed: Apollo and our code may load different copies of graphql-js (ESM and CJS).
  const original = (error as { originalError?: unknown } | null)?.originalError;
  // Errors raised by graphql-js itself (syntax, validation, bad variables) carry Apollo's code over HTTP; over
  // graphql-ws a variable's gets the same here. A variable's error has the reason as its originalError.
  if (!original || (original as { name?: string }).name === 'GraphQLError') {
    const reason = (original as { message?: unknown } | undefined)?.message;
    const code =
      clientCode(error, formatted.extensions?.code) ??
      (isVariableError(error, formatted.message) ? 'BAD_USER_INPUT' : null);
    // A parse that failed on something other than graphql-js's syntax error (the stack, when a document outgrew
    // document-limits.ts's bounds): never the JavaScript error's text.
    const internal = code === 'GRAPHQL_PARSE_FAILED' ? jsErrorBehind(original) : undefined;
    const message = internal
      ? unparsableDocumentMessage(internal)
      : withoutInputValues(formatted.message, typeof reason === 'string' ? reason : undefined);
    // Only the code of the extensions: any other (a stack trace) could repeat the message as it was.
    const { extensions: _extensions, ...rest } = formatted;
    return code ? { ...rest, message, extensions: { code } } : { ...rest, message };
  }
  const e = toDomainError(original);
  if (e.code === 'INTERNAL') logger.error((original as Error).stack ?? JSON.stringify(original));
  return {
    message: e.message,
    path: formatted.path,
    locations: formatted.locations,
    extensions: {
      code: e.code,
      ...(e.fields.length ? { fields: e.fields } : {}),
      ...(e.options.hint ? { hint: e.options.hint } : {}),
      ...(e.options.details ? { details: e.options.details } : {}),
    },
  };
}

/**
 * A variable's value refused before the operation ran: BAD_USER_INPUT, the code Apollo gives it over HTTP (its
 * isBadUserInputGraphQLError), so that graphql-ws, where graphql-js leaves it without one, answers the same.
 */
function isVariableError(error: unknown, message: string): boolean {
  const nodes = (error as { nodes?: readonly { kind?: string; variable?: { name?: { value?: string } } }[] } | null)
    ?.nodes;
  const name = nodes?.length === 1 && nodes[0].kind === 'VariableDefinition' ? nodes[0].variable?.name?.value : null;
  if (!name) return false;
  return ['has invalid value', 'got invalid value ', 'of required type ', 'of non-null type '].some((s) =>
    message.startsWith(`Variable "$${name}" ${s}`),
  );
}

/**
 * The code of an error Apollo or graphql-js raised: as it came, except that one Apollo answers with a 4xx status gets
 * BAD_REQUEST instead of the INTERNAL_SERVER_ERROR Apollo gives an error without a code (its persisted-query
 * refusals: "provided sha does not match query", "Unsupported persisted query version", both 400). The status is
 * in the error's `extensions.http`, which Apollo has already taken out of the formatted error.
 */
function clientCode(error: unknown, code: unknown): unknown {
  if (code !== 'INTERNAL_SERVER_ERROR') return code;
  const status = (error as { extensions?: { http?: { status?: unknown } } } | null)?.extensions?.http?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? 'BAD_REQUEST' : code;
}

/** The first error behind `error` (its originalError, theirs…) that is not a GraphQLError: a JavaScript error. */
function jsErrorBehind(error: unknown): unknown {
  for (let e = error, n = 0; e && n < 5; e = (e as { originalError?: unknown }).originalError, n++) {
    if ((e as { name?: string }).name !== 'GraphQLError') return e;
  }
  return undefined;
}

/** What a document's parse that failed on a JavaScript error (not a syntax error) says, instead of that error. */
export function unparsableDocumentMessage(err: unknown): string {
  return (err as { name?: string } | null)?.name === 'RangeError'
    ? 'the document nests too deeply to be parsed'
    : 'the document could not be parsed';
}
