// The resume position of a batch's event stream: how far each member request's events have been delivered.
//
// A batch stream merges several requests' events. The global audit id cannot be its cursor: ids are taken when a
// transaction inserts, not when it commits, so an event with a lower id can become visible after one with a
// higher id was already read, and a reader that resumes "after id N" would skip it. A request's own events do
// commit in `seq` order (each write holds the request row), so the position is one seq per member.
//
// Encoding: `b1.` followed by the seqs of the members the caller can see, sorted by request id, joined with `.`
// (e.g. `b1.4.0.12`). Opaque to callers; a plain number is still accepted as the older global-id cursor, up to the
// largest id Postgres stores (bigint).
import { DomainError } from '../common/domain-error.js';

const PREFIX = 'b1.';
const MAX_SEQ = 2 ** 31 - 1;
const MAX_EVENT_ID = 2n ** 63n - 1n;

/** The shape parseBatchCursor accepts, for the OpenAPI document (the bounds of its numbers are checked here). */
export const BATCH_CURSOR_PATTERN = '^(?:[0-9]{1,19}|b1(?:\\.[0-9]{1,10})+)$';

/** Where a batch stream resumes: per-member seqs, or an older global event id translated when the stream opens. */
export type BatchPosition = { seqs: Map<string, number> } | { afterId: bigint };

export function encodeBatchCursor(memberIds: readonly string[], seqs: ReadonlyMap<string, number>): string {
  return PREFIX + memberIds.map((id) => seqs.get(id) ?? 0).join('.');
}

/**
 * Parses `after` (or Last-Event-ID) for a batch whose visible members are `memberIds` (sorted by id).
 * Refuses a cursor of another batch or another caller's view (a different member count) with a field error.
 */
export function parseBatchCursor(raw: string | undefined | null, memberIds: readonly string[], field: string) {
  if (raw === undefined || raw === null || raw === '') return { seqs: new Map(memberIds.map((id) => [id, 0])) };
  const invalid = (why: string) => new DomainError('VALIDATION_FAILED', `${field}: ${why}`, { field });
  if (/^\d{1,19}$/.test(raw)) {
    const afterId = BigInt(raw);
    if (afterId > MAX_EVENT_ID) throw invalid(`an event id is at most ${MAX_EVENT_ID}`);
    return { afterId };
  }
  if (!raw.startsWith(PREFIX)) throw invalid('must be a cursor of this batch stream (b1.…) or an event id');
  const parts = raw.slice(PREFIX.length).split('.');
  if (parts.length !== memberIds.length) throw invalid('is not a cursor of this batch as you see it');
  const seqs = new Map<string, number>();
  parts.forEach((p, i) => {
    const n = /^\d{1,10}$/.test(p) ? Number(p) : NaN;
    if (!(n <= MAX_SEQ)) throw invalid(`position ${i} must be a non-negative integer`);
    seqs.set(memberIds[i], n);
  });
  return { seqs } satisfies BatchPosition;
}
