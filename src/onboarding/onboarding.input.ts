import { z } from 'zod';
import { DomainError, FieldIssue } from '../common/domain-error.js';

// One validation for both edges (REST and GraphQL); the field names are the same on both.
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const namespaceName = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(63, 'must be no more than 63 characters')
  .regex(DNS1123_LABEL, "must be a lowercase RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?");

const clusterName = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(253, 'must be no more than 253 characters')
  .regex(/^[^\s]+$/, 'must not contain whitespace');

export const OnboardingInputSchema = z.strictObject({
  cluster: clusterName.nullish(),
  namespace: namespaceName,
  meshName: namespaceName.nullish(),
  sidecarInjection: z.enum(['enabled', 'disabled'], { error: 'must be "enabled" or "disabled"' }).nullish(),
});

export const OffboardingInputSchema = z.strictObject({
  cluster: clusterName.nullish(),
  namespace: namespaceName,
  meshName: namespaceName.nullish(),
});

export type OnboardingInput = z.infer<typeof OnboardingInputSchema>;
export type OffboardingInput = z.infer<typeof OffboardingInputSchema>;

/** What a request stores in `options` and what its steps read. */
export interface RequestOptions {
  sidecarInjection: 'enabled' | 'disabled';
}

export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const fields: FieldIssue[] = parsed.error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: [...issue.path, key].join('.'), message: 'unknown field' }));
    }
    return [{ field: issue.path.join('.') || '(body)', message: issue.message }];
  }).filter((f, i, all) => all.findIndex((g) => g.field === f.field) === i); // first problem per field
  throw new DomainError('VALIDATION_FAILED', `invalid input: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`, {
    fields,
  });
}
