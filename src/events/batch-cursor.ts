// The resume position of a batch's event stream: how far each member request's events have been delivered, bound
// to the batch (and the caller's view of it) it was given for.
//
// A batch stream merges several requests' events. The global audit id cannot be its cursor: ids are taken when a
// transaction inserts, not when it commits, so an event with a lower id can become visible after one with a
// higher id was already read, and a reader that resumes "after id N" would skip it. A request's own events do
// commit in `seq` order (each write holds the request row), so the position is one seq per member.
//
// Encoding: `b2.`, the view's fingerprint (8 hex digits of a SHA-256 of the batch id and the ids of the members the
// caller can see), then those members' seqs, sorted by request id, joined with `.` (e.g. `b2.1f0c9a3e.4.0.12`).
// Opaque to callers. Still accepted: the older `b1.<seqs>` (no fingerprint: only its member count is checked) and a
// plain number, the older global-id cursor, up to the largest id Postgres stores (bigint). Whatever the format, a
// position past a member's last stored event is no position this stream gave, and is refused.
import { createHash } from 'node:crypto';
import { DomainError } from '../common/domain-error.js';

const PREFIX = 'b2.';
const LEGACY_PREFIX = 'b1.';
const MAX_SEQ = 2 ** 31 - 1;
const MAX_EVENT_ID = 2n ** 63n - 1n;

/** The shape parseBatchCursor accepts, for the OpenAPI document (the bounds of its numbers are checked here). */
export const BATCH_CURSOR_PATTERN = '^(?:[0-9]{1,19}|b1(?:\\.[0-9]{1,10})+|b2\\.[0-9a-f]{8}(?:\\.[0-9]{1,10})+)$';

/** Where a batch stream resumes: per-member seqs, or an older global event id translated when the stream opens. */
export type BatchPosition = { seqs: Map<string, number> } | { afterId: bigint };

/** A batch as one caller sees it: its id and its visible members (sorted by id) with their last event's seq. */
export interface BatchView {
  batchId: string;
  members: readonly { id: string; lastSeq: number }[];
}

/** The fingerprint of a view: a cursor given for it names it, so another batch's (or view's) cursor is refused. */
export function batchFingerprint(batchId: string, memberIds: readonly string[]): string {
  return createHash('sha256')
    .update(`${batchId}\n${memberIds.join('\n')}`)
    .digest('hex')
    .slice(0, 8);
}

/** The cursor after `seqs`, for the view whose fingerprint is `fingerprint`. */
export function encodeBatchCursor(
  memberIds: readonly string[],
  seqs: ReadonlyMap<string, number>,
  fingerprint: string,
): string {
  return `${PREFIX}${fingerprint}.${memberIds.map((id) => seqs.get(id) ?? 0).join('.')}`;
}

/**
 * Parses `after` (or Last-Event-ID) for `view`; left out (undefined, null) is the start. Refuses, with a field error,
 * an empty (or blank) cursor, a cursor of another batch or another caller's view (another fingerprint; for the older
 * format, another member count) and a position past a member's last stored event.
 */
export function parseBatchCursor(raw: string | undefined | null, view: BatchView, field: string) {
  const { batchId, members } = view;
  if (raw === undefined || raw === null) return { seqs: new Map(members.map((m) => [m.id, 0])) };
  const invalid = (why: string) => new DomainError('VALIDATION_FAILED', `${field}: ${why}`, { field });
  // Left out is "from the start"; given empty (`?after=`, a bare `?after`, an empty header) is no cursor of this
  // stream, as on a request's stream.
  if (raw.trim() === '') throw invalid('must not be empty');
  if (/^\d{1,19}$/.test(raw)) {
    const afterId = BigInt(raw);
    if (afterId > MAX_EVENT_ID) throw invalid(`an event id is at most ${MAX_EVENT_ID}`);
    return { afterId };
  }
  let positions: string;
  if (raw.startsWith(PREFIX)) {
    const fingerprint = raw.slice(PREFIX.length, PREFIX.length + 8);
    const ids = members.map((m) => m.id);
    if (raw[PREFIX.length + 8] !== '.' || fingerprint !== batchFingerprint(batchId, ids))
      throw invalid('is not a cursor of this batch as you see it');
    positions = raw.slice(PREFIX.length + 9);
  } else if (raw.startsWith(LEGACY_PREFIX)) {
    positions = raw.slice(LEGACY_PREFIX.length);
  } else {
    throw invalid('must be a cursor of this batch stream (b2.…) or an event id');
  }
  const parts = positions.split('.');
  if (parts.length !== members.length) throw invalid('is not a cursor of this batch as you see it');
  const seqs = new Map<string, number>();
  parts.forEach((p, i) => {
    const n = /^\d{1,10}$/.test(p) ? Number(p) : NaN;
    if (!(n <= MAX_SEQ)) throw invalid(`position ${i} must be a non-negative integer`);
    if (n > members[i].lastSeq) throw invalid(`position ${i} is past that member's last event`);
    seqs.set(members[i].id, n);
  });
  return { seqs } satisfies BatchPosition;
}
