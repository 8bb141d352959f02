// Owns the helpers the GraphQL resolvers share to hand their arguments to the services as REST's edges do: the
// argument names in validation errors (withArgNames) and optional fields sent as null (withoutNulls).
import { DomainError, invalidInputMessage } from './domain-error.js';

/** A GraphQL input object's fields without the ones sent as null (an absent optional field, as REST's body has it). */
export function withoutNulls<T extends object>(input: T): Partial<T> {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== null && v !== undefined)) as Partial<T>;
}

/**
 * Runs a service call made with REST parameter names (`limit`, `continue`) on behalf of a GraphQL
 * field whose arguments are named differently (`first`, `after`), so validation errors name the
 * argument the caller actually sent.
 */
export async function withArgNames<T>(names: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof DomainError) || err.fields.length === 0) throw err;
    const fields = err.fields.map((f) => ({ ...f, field: names[f.field] ?? f.field }));
    const message = err.code === 'VALIDATION_FAILED' ? invalidInputMessage(fields) : err.message;
    throw new DomainError(err.code, message, { ...err.options, field: undefined, fields });
  }
}
