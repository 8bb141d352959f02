// Owns the inputs of the request edges that REST and GraphQL both take, one zod schema each, so both transports
// refuse the same values with the same VALIDATION_FAILED (REST names the header or query parameter, GraphQL the
// argument): the idempotency key (the `Idempotency-Key` header, the `idempotencyKey` argument), a cancellation
// (single requests and batches) and the cursor a progress stream resumes after (SSE `after`/`Last-Event-ID`, the
// `onboardingProgress(after:)` subscription), and the filter and page of a request list (REST's query, GraphQL's
// `filter`, `first` and `after`).
import { z } from 'zod';
import { boundedInteger, decimalInteger } from '../../common/decimal-integer.js';
import { DomainError } from '../../common/domain-error.js';
import type { IdempotencyKey } from '../../common/idempotency-key.js';
import { parseInput } from '../../common/parse-input.js';
import { clusterName } from '../../kubernetes/cluster-name.js';
import { namespaceName } from '../onboarding.input.js';
import { AUDIT_PAGE, MAX_AUDIT_PAGE } from '../onboarding.service.js';

/**
 * 1 to 255 characters and no control character (C0, DEL and C1; NUL included): the key is stored in a unique index
 * (Postgres refuses an index row over about 2.7 kB) and Postgres text cannot hold a NUL.
 */
const IdempotencyKeyValue = z
  .string()
  .min(1, 'must be 1 to 255 characters')
  .max(255, 'must be 1 to 255 characters')
  .regex(/^\P{Cc}*$/u, 'must not contain control characters')
  .optional();

/**
 * The key as the `Idempotency-Key` header or the `idempotencyKey` argument sent it, or undefined when none was sent;
 * a refusal, here or in the service (IDEMPOTENCY_KEY_REUSED), names that field.
 */
export function parseIdempotencyKey(
  key: string | null | undefined,
  field: IdempotencyKey['field'],
): IdempotencyKey | undefined {
  const value = parseInput(IdempotencyKeyValue, key ?? undefined, { field });
  return value === undefined ? undefined : { value, field };
}

export const CancelSchema = z
  .strictObject({ reason: z.string().max(500).nullish().describe('Why; recorded in the audit trail.') })
  .meta({ id: 'CancelInput', description: 'A cancellation.' });

/**
 * A request's event cursor to resume after: 0 (from the first event) up to the largest seq Postgres stores (integer,
 * as GraphQL's Int): a larger one is no cursor of this API, and would fail the replay's query. As text (SSE `after`,
 * `Last-Event-ID`) decimal digits only: an empty value is no cursor, nor is `0x10` or `1e2`.
 */
export const ProgressCursor = decimalInteger(boundedInteger(0, 2 ** 31 - 1));

/**
 * The cursor, refused when it is past the request's last event: no event of the request has it, and a stream from it
 * would skip the events up to it when they come (a batch stream refuses a position past a member's last event too).
 */
export function cursorOf(request: { eventSeq: number }, cursor: number, field: string): number {
  if (cursor > request.eventSeq)
    throw new DomainError('VALIDATION_FAILED', `${field}: is past the request's last event`, { field });
  return cursor;
}

/** Which requests a list returns (REST: the query parameters; GraphQL: `onboardingRequests(filter:)`). */
export const RequestFilterSchema = z.strictObject({
  // The names as a request takes them (an empty or malformed one is refused, not answered with an empty page).
  cluster: clusterName.optional().describe('Only requests for this cluster.'),
  namespace: namespaceName.optional().describe('Only requests for this namespace.'),
  meshName: namespaceName.optional().describe('Only requests for this mesh.'),
  kind: z.enum(['ONBOARD', 'OFFBOARD']).optional().describe('Only onboardings (ONBOARD) or offboardings (OFFBOARD).'),
  status: z
    .enum(['PLANNED', 'PENDING_APPROVAL', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED'])
    .optional()
    .describe('Only requests in this status.'),
  requestedBy: z
    .string()
    .min(1, 'must not be empty')
    .optional()
    .describe('Only requests made by this actor, e.g. `token:ci-bot`.'),
});

/** Which page of a request list (REST: `limit`, `after`; GraphQL: `first`, `after`, errors named so). */
export const RequestPageSchema = z.strictObject({
  limit: decimalInteger(boundedInteger(1, 200).default(20)).describe('How many requests to return (1 to 200).'),
  after: z
    .string({ error: 'must be a string' })
    .min(1, 'must not be empty')
    .optional()
    .describe('The cursor to continue after: `pageInfo.endCursor`.'),
});

/** A page of a request's audit trail (GraphQL `auditEvents(after:, first:)` names the same rules so). */
export const AuditQuery = z.strictObject({
  after: ProgressCursor.default(0).describe('The events after this cursor: `pageInfo.endCursor` of the last page.'),
  limit: decimalInteger(boundedInteger(1, MAX_AUDIT_PAGE).default(AUDIT_PAGE)).describe(
    `How many events to return (1 to ${MAX_AUDIT_PAGE}).`,
  ),
});

/**
 * GraphQL's page of an audit trail is smaller: its query cost limit counts `first` items of the selection (about
 * 3.5 a bare event), so a larger page is refused by that limit first; an omitted `first` is not counted at all.
 */
export const GRAPHQL_AUDIT_PAGE = 100;
export const GRAPHQL_MAX_AUDIT_PAGE = 1000;
export const GraphqlAuditQuery = AuditQuery.extend({
  limit: decimalInteger(boundedInteger(1, GRAPHQL_MAX_AUDIT_PAGE).default(GRAPHQL_AUDIT_PAGE)),
});
