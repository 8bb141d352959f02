// The shape of APPROVAL_POLICY (JSON in the environment), parsed with the rest of the configuration;
// what the rules mean is decided in onboarding/approval-policy.ts.
import { z } from 'zod';

/** When a rule applies (any of them); see onboarding/approval-policy.ts for what each one tests. */
export const APPROVAL_CONDITIONS = [
  'always',
  'permissive',
  'smi',
  'restart',
  'restart-all',
  'api-server-access',
  'api-server-egress',
  'mesh-wide',
] as const;
export type ApprovalCondition = (typeof APPROVAL_CONDITIONS)[number];

export const ApprovalPolicySchema = z.strictObject({
  rules: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        clusters: z.array(z.string().min(1)).default(['*']),
        namespaces: z.array(z.string().min(1)).default(['*']),
        kinds: z.array(z.enum(['ONBOARD', 'OFFBOARD'])).default(['ONBOARD', 'OFFBOARD']),
        /** Any of these makes the rule apply (default: always). */
        when: z.array(z.enum(APPROVAL_CONDITIONS)).default(['always']),
        /** Distinct approvers needed: 1 = any one approver. */
        approvals: z.number().int().min(1).max(10).default(1),
      }),
    )
    .default([]),
});

export type ApprovalPolicy = z.infer<typeof ApprovalPolicySchema>;
