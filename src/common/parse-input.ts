// Input validation shared by every edge and service: a zod schema's failure becomes one DomainError
// (VALIDATION_FAILED, or the single domain code the schema names) listing the first problem per field, at most
// MAX_FIELD_ISSUES fields. Text Postgres cannot store (a NUL, an unpaired surrogate: storable-text.ts) is refused
// first, for every schema, naming its field.
import { z } from 'zod';
import { DomainError, invalidInputMessage, MAX_FIELD_ISSUES, type ErrorCode, type FieldIssue } from './domain-error.js';
import { unstorableTextFields } from './storable-text.js';

export interface ParseInputOptions {
  /** What the input is called when it is one value (a header, a query parameter, an argument); else `(body)`. */
  field?: string;
}

export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  options: ParseInputOptions = {},
): z.infer<S> {
  const root = options.field ? [options.field] : [];
  // Alone: the schema's messages and unknown keys could repeat the offending text, which is never echoed.
  const unstorable = unstorableTextFields(input, root);
  if (unstorable.length) throw invalid('VALIDATION_FAILED', unstorable);
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues;
  // The first problem per field, in order.
  const byField = new Map<string, FieldIssue>();
  for (const issue of issues) {
    const path = [...root, ...issue.path.map(String)];
    const found =
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => ({ field: [...path, key].join('.'), message: 'unknown field' }))
        : [{ field: path.join('.') || '(body)', message: issue.message }];
    for (const f of found) if (!byField.has(f.field)) byField.set(f.field, f);
  }
  const fields = [...byField.values()];
  // A problem with its own code (e.g. SMI_HEADER_MATCH_INVALID) names the request's error when it is
  // the only kind of problem; mixed with others, everything is VALIDATION_FAILED.
  const codeOf = (i: z.core.$ZodIssue) =>
    i.code === 'custom' ? (i.params?.domainCode as ErrorCode | undefined) : undefined;
  const codes = new Set(issues.map(codeOf));
  const code = codes.size === 1 ? ([...codes][0] ?? 'VALIDATION_FAILED') : 'VALIDATION_FAILED';
  throw invalid(code, fields);
}

function invalid(code: ErrorCode, all: FieldIssue[]): DomainError {
  const fields = all.slice(0, MAX_FIELD_ISSUES);
  const more = all.length > fields.length ? `; and ${all.length - fields.length} more field(s)` : '';
  return new DomainError(code, `${invalidInputMessage(fields)}${more}`, {
    fields,
  });
}

/**
 * The body of an operation that takes none (apply, retry): nothing, `{}`, or an error naming each field sent, as an
 * operation with a body refuses an unknown field (an outside audit saw `{"x":1}` accepted silently).
 */
export const NoInputSchema = z.strictObject({}).meta({ id: 'NoInput', description: 'No fields.' });
