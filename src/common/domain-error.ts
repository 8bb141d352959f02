// One exception type for the domain, with a string code. HTTP statuses and GraphQL
// error shapes are decided only at the edge (http-status.ts for the REST filter and GraphQL's
// extensions.http, graphql-errors.ts).
export const DOMAIN_ERROR_CODES = [
  'VALIDATION_FAILED',
  'MALFORMED_REQUEST',
  'UNSUPPORTED_MEDIA_TYPE',
  'ROUTE_NOT_FOUND',
  'SUBSCRIPTION_OVER_HTTP',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'TOKEN_NOT_FOUND',
  'TOKEN_NAME_TAKEN',
  'TOKEN_NAME_RESERVED',
  'INVALID_TOKEN_CLAIMS',
  'REQUEST_NOT_FOUND',
  'CLUSTER_NOT_FOUND',
  'MESH_NOT_FOUND',
  'NAMESPACE_RESERVED',
  'NAMESPACE_IS_CONTROL_PLANE',
  'NAMESPACE_NOT_FOUND',
  'NAMESPACE_IGNORED',
  'NAMESPACE_TERMINATING',
  'NAMESPACE_OWNED_BY_OTHER_MESH',
  'NAMESPACE_NOT_INJECTABLE',
  'REQUEST_CONFLICT',
  'IDEMPOTENCY_KEY_REUSED',
  'CLUSTER_UNAVAILABLE',
  'DEPENDENCY_UNAVAILABLE',
  'KUBE_FORBIDDEN',
  'KUBE_INVALID',
  'KUBE_CONFLICT',
  'KUBE_UNAVAILABLE',
  'KUBE_RESOURCE_NOT_SERVED',
  'DEPLOYMENT_NOT_FOUND',
  'ROLLOUT_TIMEOUT',
  'VERIFY_FAILED',
  'REQUEST_NOT_PLANNED',
  'REQUEST_NOT_CANCELLABLE',
  'REQUEST_NOT_RETRYABLE',
  'REQUEST_NOT_PENDING_APPROVAL',
  'SELF_APPROVAL_FORBIDDEN',
  'ALREADY_DECIDED',
  'LIFECYCLE_VIOLATION',
  'MESH_WIDE_CHANGE_FORBIDDEN',
  'MESH_GRANT_REQUIRED',
  'BATCH_NOT_FOUND',
  'RATE_LIMITED',
  'TOO_MANY_STREAMS',
  'STREAM_CAPACITY_REACHED',
  'STEP_TIMEOUT',
  'INTERNAL',
  'API_SERVER_NOT_FOUND',
  'EGRESS_API_SERVER_MONITORED',
  'INVALID_CIDR',
  'SMI_OBJECT_NOT_OWNED',
  'SMI_HEADER_MATCH_INVALID',
  'MESH_CONFIG_NOT_FOUND',
  'PREREQUISITES_FAILED',
  'SERVICE_PORT_NOT_FOUND',
  'WEBHOOK_NOT_FOUND',
  'NOTHING_TO_REAPPLY',
  'WEBHOOKS_NOT_CONFIGURED',
  'WEBHOOK_LIMIT_REACHED',
  'SLACK_SIGNATURE_MISSING',
  'SLACK_SIGNATURE_INVALID',
  'SLACK_REQUEST_STALE',
  'SLACK_REQUEST_REPLAYED',
  'SLACK_USER_NOT_MAPPED',
  'SLACK_NOT_CONFIGURED',
] as const;

export type ErrorCode = (typeof DOMAIN_ERROR_CODES)[number];

export interface FieldIssue {
  field: string;
  message: string;
}

/**
 * Fields an error names at most: an input with thousands of bad items (within the body size limit) gets an error of a
 * few kilobytes, naming the first MAX_FIELD_ISSUES, and says how many more there are.
 */
export const MAX_FIELD_ISSUES = 20;

/** VALIDATION_FAILED's message for the fields it names: `invalid input: <field>: <why>; …`. */
export const invalidInputMessage = (fields: readonly FieldIssue[]): string =>
  `invalid input: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`;

/**
 * An id as a not-found message names it: itself when it has the shape of the ids this service makes (UUIDs), else
 * nothing of it — a path parameter is caller input, and a message never repeats text it cannot vouch for.
 */
export const shownId = (id: string): string => (isOurId(id) ? id : '(not a valid id)');

/** The canonical text of a UUID, the only shape of the ids this service makes. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether `id` has the shape of the ids this service makes (UUIDs): anything else is looked up nowhere (Postgres
 * refuses a malformed uuid with an error, which would be a 500, not the caller's "not found").
 */
export const isOurId = (id: string): boolean => UUID.test(id);

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: {
      field?: string;
      fields?: FieldIssue[];
      hint?: string;
      details?: Record<string, unknown>;
      /** Logged where it arose (once per cause, not once per caller): the edges log it at debug only. */
      loggedAtSource?: true;
    } = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }

  get fields(): FieldIssue[] {
    if (this.options.fields) return this.options.fields;
    return this.options.field ? [{ field: this.options.field, message: this.message }] : [];
  }
}
