// Owns a batch's aggregate status: the one word that sums up its members' statuses (GET /v1/batches/<id>, GraphQL
// `batch { status }`), and the list of its values the OpenAPI document and the GraphQL description show.

/** Every value of a batch's status. */
export const BATCH_STATUSES = [
  'RUNNING',
  'PENDING_APPROVAL',
  'PLANNED',
  'SUCCEEDED',
  'PARTIALLY_SUCCEEDED',
  'PARTIALLY_FAILED',
  'FAILED',
  'REJECTED',
  'CANCELLED',
] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/**
 * The batch's status from its members' (docs/api.md, "Batches"): while any member is active, the most advanced
 * active state (RUNNING for RUNNING or QUEUED, then PENDING_APPROVAL, then PLANNED). Once all have ended:
 * SUCCEEDED only when every member succeeded; some succeeded and some FAILED: PARTIALLY_FAILED; some succeeded and
 * the others CANCELLED or REJECTED: PARTIALLY_SUCCEEDED; none succeeded: FAILED, else REJECTED, else CANCELLED.
 */
export function overall(counts: Record<string, number>): BatchStatus {
  const has = (s: string) => (counts[s] ?? 0) > 0;
  if (has('RUNNING') || has('QUEUED')) return 'RUNNING';
  if (has('PENDING_APPROVAL')) return 'PENDING_APPROVAL';
  if (has('PLANNED')) return 'PLANNED';
  if (has('SUCCEEDED')) {
    if (Object.keys(counts).every((s) => s === 'SUCCEEDED' || !has(s))) return 'SUCCEEDED';
    return has('FAILED') ? 'PARTIALLY_FAILED' : 'PARTIALLY_SUCCEEDED';
  }
  if (has('FAILED')) return 'FAILED';
  if (has('REJECTED')) return 'REJECTED';
  return 'CANCELLED';
}
