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
    const message = withoutInputValues(formatted.message, typeof reason === 'string' ? reason : undefined);
    const code = formatted.extensions?.code ?? (isVariableError(error, formatted.message) ? 'BAD_USER_INPUT' : null);
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
