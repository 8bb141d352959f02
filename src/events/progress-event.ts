import type { AuditEvent } from '../generated/prisma/client.js';

/** A request's progress event: one audit row with a per-request cursor (`seq`). */
export interface ProgressEvent {
  /** Global, increasing audit id: the event's identity (not a resume position: ids are not taken in commit order). */
  id: string;
  /** In a batch stream only: the position to resume after this event (see batch-cursor.ts). */
  batchCursor?: string;
  requestId: string;
  cursor: number;
  type: string;
  actor: string;
  step: string | null;
  message: string;
  data: Record<string, unknown>;
  at: string;
}

export const TERMINAL_EVENT_TYPES = new Set([
  'request.succeeded',
  'request.failed',
  'request.cancelled',
  'request.rejected',
]);

export function toProgressEvent(row: AuditEvent): ProgressEvent {
  const data = (row.data ?? {}) as Record<string, unknown>;
  return {
    id: row.id.toString(),
    requestId: row.requestId ?? '',
    cursor: row.seq ?? 0,
    type: row.action,
    actor: row.actor,
    step: row.step,
    message: typeof data.message === 'string' ? data.message : row.action,
    data,
    at: row.createdAt.toISOString(),
  };
}
