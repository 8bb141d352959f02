import type { GraphQLFormattedError } from 'graphql';
import { Logger } from '@nestjs/common';
import { toDomainError } from './to-domain-error.js';

const logger = new Logger('GraphQLError');

/** The GraphQL edge: domain errors become `extensions.code` (+ fields, hint); nothing internal leaks. */
export function formatGraphQLError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  // Duck-typed: Apollo and our code may load different copies of graphql-js (ESM and CJS).
  const original = (error as { originalError?: unknown } | null)?.originalError;
  // Errors raised by graphql-js itself (syntax, validation, bad variables) already carry a code.
  if (!original || (original as { name?: string }).name === 'GraphQLError') {
    return formatted.extensions?.code ? { ...formatted, extensions: { code: formatted.extensions.code } } : formatted;
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
