// Input validation shared by every edge and service: a zod schema's failure becomes one DomainError
// (VALIDATION_FAILED, or the single domain code the schema names) listing the first problem per field. Text Postgres
// cannot store (a NUL, an unpaired surrogate: storable-text.ts) is refused first, for every schema, naming its field.
import { z } from 'zod';
import { DomainError, type ErrorCode, type FieldIssue } from './domain-error.js';
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
  const fields: FieldIssue[] = issues
    .flatMap((issue) => {
      const path = [...root, ...issue.path.map(String)];
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => ({ field: [...path, key].join('.'), message: 'unknown field' }));
      }
      return [{ field: path.join('.') || '(body)', message: issue.message }];
    })
    .filter((f, i, all) => all.findIndex((g) => g.field === f.field) === i); // first problem per field
  // A problem with its own code (e.g. SMI_HEADER_MATCH_INVALID) names the request's error when it is
  // the only kind of problem; mixed with others, everything is VALIDATION_FAILED.
  const codeOf = (i: z.core.$ZodIssue) =>
    i.code === 'custom' ? (i.params?.domainCode as ErrorCode | undefined) : undefined;
  const codes = new Set(issues.map(codeOf));
  const code = codes.size === 1 ? ([...codes][0] ?? 'VALIDATION_FAILED') : 'VALIDATION_FAILED';
  throw invalid(code, fields);
}

function invalid(code: ErrorCode, fields: FieldIssue[]): DomainError {
  return new DomainError(code, `invalid input: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`, {
    fields,
  });
}

/**
 * The body of an operation that takes none (apply, retry): nothing, `{}`, or an error naming each field sent, as an
 * operation with a body refuses an unknown field (an outside audit saw `{"x":1}` accepted silently).
 */
export const NoInputSchema = z.strictObject({}).meta({ id: 'NoInput', description: 'No fields.' });
