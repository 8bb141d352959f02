import type { AuditEvent } from '../generated/prisma/client.js';
import { eventId } from '../audit/event-id.js';

/** A request's progress event: one audit row with a per-request cursor (`seq`). */
export interface ProgressEvent {
  /** The event's identity, `<requestId>:<cursor>` (audit/event-id.ts); `cursor` is the resume position. */
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
    id: eventId(row),
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
