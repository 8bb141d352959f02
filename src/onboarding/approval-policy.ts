// Owns the approval policy: whether a request waits for approval when it is recorded (onboarding.service.ts).
import { globMatch } from '../auth/scopes.js';
import type { RequestKind } from '../generated/prisma/client.js';
import type { RequestOptions } from './onboarding.input.js';
import { DomainError } from '../common/domain-error.js';
import type { ApprovalCondition, ApprovalPolicy } from '../config/approval-policy.schema.js';
import { MESH_WIDE_CHANGES, meshWideChanges, type MeshWideChange } from '../mesh/mesh-wide.js';

// Which requests wait for approval, from configuration (APPROVAL_POLICY, JSON). A request
// needs the largest `approvals` among the rules it matches; none = no approval. On top of it, a
// built-in rule that configuration can tighten but not remove: a mesh-wide change by a caller
// without a mesh grant waits for MESH_WIDE_APPROVALS approvals (or is refused: MESH_WIDE_CHANGES).

/** The built-in rule's name, as stored in `approvalRule`. */
export const MESH_WIDE_RULE = 'builtin:mesh-wide';

/**
 * Whether the stored `approvalRule` says a submitter lacked a mesh grant: the built-in rule is named in it whenever
 * it applied (approvalNeed), and a need is never lowered, so it stays named.
 */
export function submittedWithoutGrant(approvalRule: string | null): boolean {
  return (approvalRule ?? '').split(', ').includes(MESH_WIDE_RULE);
}

/** `rule` naming the built-in rule too (a submitter without a grant put the request forward). */
export function withMeshWideRule(rule: string | null): string {
  if (!rule) return MESH_WIDE_RULE;
  return submittedWithoutGrant(rule) ? rule : `${rule}, ${MESH_WIDE_RULE}`;
}

/**
 * A stored need raised to `need` (never lowered): the approvals required and the rule that asks them. Once a
 * submitter without a mesh grant has put the request forward, its rule names the built-in rule for good, raised or
 * not. Shared by the lifecycle's submissions and approvals (request-lifecycle.ts) and the worker's hold.
 */
export function raisedNeed(
  stored: { approvalsRequired: number; approvalRule: string | null },
  need: { approvals: number; rule: string | null },
): { approvals: number; rule: string | null } {
  const raise = need.approvals > stored.approvalsRequired;
  const base = raise ? (need.rule ?? stored.approvalRule) : stored.approvalRule;
  const withoutGrant = submittedWithoutGrant(need.rule) || submittedWithoutGrant(stored.approvalRule);
  return {
    approvals: Math.max(need.approvals, stored.approvalsRequired),
    rule: withoutGrant ? withMeshWideRule(base) : base,
  };
}

/** What the cluster says that a rule depends on, read when the request is put forward (onboarding.service.ts). */
export interface NeedFacts {
  /**
   * `restart.mode: selected` names every Deployment the namespace has (true too when that could not be read in
   * time): `restart-all` holds it, as it holds `all`.
   */
  selectedCoversAll?: boolean;
}

/** Whether the need of `req` depends on NeedFacts.selectedCoversAll (only then is it read). */
export function readsRestartCoverage(policy: ApprovalPolicy, options: RequestOptions): boolean {
  return options.restart.mode === 'selected' && policy.rules.some((r) => r.when.includes('restart-all'));
}

function holds(condition: ApprovalCondition, o: RequestOptions, changes: MeshWideChange[], facts: NeedFacts): boolean {
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
      // Whatever restarts every Deployment: `all`; `needed` (every one whose pods lack the wanted sidecar state: all
      // of them on a first onboarding); `selected` naming them all. An outside audit reached `all` through the others.
      return (
        o.restart.mode === 'all' ||
        o.restart.mode === 'needed' ||
        (o.restart.mode === 'selected' && facts.selectedCoversAll === true)
      );
    case 'api-server-access':
      return o.apiServerAccess !== null;
    case 'api-server-egress':
      return o.apiServerAccess?.method === 'egress';
    case 'mesh-wide':
      return changes.length > 0;
  }
}

export interface MeshWidePolicy {
  mode: 'approval' | 'refuse';
  approvals: number;
}

export interface ApprovalNeed {
  approvals: number;
  rule: string | null;
  /** The mesh-wide changes the request asks for: its approvers need a mesh grant. */
  meshWideChanges: MeshWideChange[];
}

/**
 * What a request needs before it may run: the configured rules, then the built-in mesh-wide rule
 * when the caller has no mesh grant (`meshGrant`). Refuses (403, before anything is stored) a
 * mesh-wide change without a grant when the built-in rule is `refuse`.
 */
export function approvalNeed(
  policy: ApprovalPolicy,
  meshWide: MeshWidePolicy,
  req: { kind: RequestKind; cluster: string; namespace: string; meshName: string; options: RequestOptions },
  { meshGrant, facts = {} }: { meshGrant: boolean; facts?: NeedFacts },
): ApprovalNeed {
  const changes = meshWideChanges(req.kind, req.options);
  let need: ApprovalNeed = { approvals: 0, rule: null, meshWideChanges: changes };
  for (const rule of policy.rules) {
    const matches =
      rule.kinds.includes(req.kind) &&
      rule.clusters.some((g) => globMatch(g, req.cluster)) &&
      rule.namespaces.some((g) => globMatch(g, req.namespace)) &&
      rule.when.some((c) => holds(c, req.options, changes, facts));
    if (matches && rule.approvals > need.approvals) need = { ...need, approvals: rule.approvals, rule: rule.name };
  }
  if (changes.length === 0 || meshGrant) return need;
  if (meshWide.mode === 'refuse') {
    throw new DomainError(
      'MESH_WIDE_CHANGE_FORBIDDEN',
      `changing mesh ${req.meshName} of ${req.cluster} as a whole (${changes.join(', ')}) needs a mesh grant ` +
        `(scope ${req.cluster}/mesh:${req.meshName} or the admin role)`,
      {
        field:
          changes[0] === 'outbound-ip-range-exclusion-remove' ? 'removeApiServerExclusion' : meshWideField(changes[0]),
        details: { changes: changes.map((c) => ({ change: c, description: MESH_WIDE_CHANGES[c] })) },
        hint: 'ask a mesh owner, or leave the mesh-wide settings out of the request',
      },
    );
  }
  if (meshWide.approvals >= need.approvals) {
    return {
      ...need,
      approvals: meshWide.approvals,
      rule: need.rule ? `${need.rule}, ${MESH_WIDE_RULE}` : MESH_WIDE_RULE,
    };
  }
  return { ...need, rule: `${need.rule}, ${MESH_WIDE_RULE}` };
}

const meshWideField = (c: MeshWideChange) =>
  c === 'permissive-mode-on' || c === 'permissive-mode-off' ? 'trafficPolicy.mode' : 'apiServerAccess.method';
