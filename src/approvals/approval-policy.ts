import { z } from 'zod';
import { globMatch } from '../auth/scopes.js';
import type { RequestKind } from '../generated/prisma/client.js';
import type { RequestOptions } from '../onboarding/onboarding.input.js';

// Which requests wait for approval, from configuration (APPROVAL_POLICY, JSON). A request
// needs the largest `approvals` among the rules it matches; none = no approval.
const CONDITIONS = ['always', 'permissive', 'smi', 'restart', 'restart-all', 'api-server-access', 'api-server-egress'] as const;

export const ApprovalPolicySchema = z.strictObject({
  rules: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        clusters: z.array(z.string().min(1)).default(['*']),
        namespaces: z.array(z.string().min(1)).default(['*']),
        kinds: z.array(z.enum(['ONBOARD', 'OFFBOARD'])).default(['ONBOARD', 'OFFBOARD']),
        /** Any of these makes the rule apply (default: always). */
        when: z.array(z.enum(CONDITIONS)).default(['always']),
        /** Distinct approvers needed: 1 = any one approver. */
        approvals: z.number().int().min(1).max(10).default(1),
      }),
    )
    .default([]),
});

export type ApprovalPolicy = z.infer<typeof ApprovalPolicySchema>;

export interface ApprovalNeed {
  approvals: number;
  rule: string | null;
}

function holds(condition: (typeof CONDITIONS)[number], o: RequestOptions): boolean {
  switch (condition) {
    case 'always':
      return true;
    case 'permissive':
      return o.trafficPolicy?.mode === 'permissive';
    case 'smi':
      return o.trafficPolicy?.mode === 'smi';
    case 'restart':
      return o.restart.mode !== 'none';
    case 'restart-all':
      return o.restart.mode === 'all';
    case 'api-server-access':
      return o.apiServerAccess !== null;
    case 'api-server-egress':
      return o.apiServerAccess?.method === 'egress';
  }
}

export function approvalNeed(
  policy: ApprovalPolicy,
  req: { kind: RequestKind; cluster: string; namespace: string; options: RequestOptions },
): ApprovalNeed {
  let need: ApprovalNeed = { approvals: 0, rule: null };
  for (const rule of policy.rules) {
    const matches =
      rule.kinds.includes(req.kind) &&
      rule.clusters.some((g) => globMatch(g, req.cluster)) &&
      rule.namespaces.some((g) => globMatch(g, req.namespace)) &&
      rule.when.some((c) => holds(c, req.options));
    if (matches && rule.approvals > need.approvals) need = { approvals: rule.approvals, rule: rule.name };
  }
  return need;
}
