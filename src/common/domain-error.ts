// One exception type for the domain, with a string code. HTTP statuses and GraphQL
// error shapes are decided only at the edge (see http-exception.filter.ts, graphql-errors.ts).
export const ERROR_CODES = {
  VALIDATION_FAILED: 422,
  MALFORMED_REQUEST: 400,
  UNSUPPORTED_MEDIA_TYPE: 415,
  ROUTE_NOT_FOUND: 404,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  TOKEN_NOT_FOUND: 404,
  TOKEN_NAME_TAKEN: 409,
  TOKEN_NAME_RESERVED: 422,
  INVALID_TOKEN_CLAIMS: 401,
  REQUEST_NOT_FOUND: 404,
  CLUSTER_NOT_FOUND: 422,
  MESH_NOT_FOUND: 422,
  NAMESPACE_RESERVED: 422,
  NAMESPACE_IS_CONTROL_PLANE: 422,
  NAMESPACE_NOT_FOUND: 422,
  NAMESPACE_IGNORED: 422,
  NAMESPACE_OWNED_BY_OTHER_MESH: 422,
  NAMESPACE_NOT_INJECTABLE: 422,
  REQUEST_CONFLICT: 409,
  IDEMPOTENCY_KEY_REUSED: 422,
  CLUSTER_UNAVAILABLE: 503,
  DEPENDENCY_UNAVAILABLE: 503,
  KUBE_FORBIDDEN: 403,
  KUBE_INVALID: 422,
  KUBE_CONFLICT: 409,
  KUBE_UNAVAILABLE: 503,
  DEPLOYMENT_NOT_FOUND: 422,
  ROLLOUT_TIMEOUT: 504,
  VERIFY_FAILED: 422,
  REQUEST_NOT_PLANNED: 409,
  REQUEST_NOT_CANCELLABLE: 409,
  REQUEST_NOT_RETRYABLE: 409,
  REQUEST_NOT_PENDING_APPROVAL: 409,
  SELF_APPROVAL_FORBIDDEN: 403,
  ALREADY_DECIDED: 409,
  LIFECYCLE_VIOLATION: 409,
  MESH_WIDE_CHANGE_FORBIDDEN: 403,
  MESH_GRANT_REQUIRED: 403,
  BATCH_NOT_FOUND: 404,
  RATE_LIMITED: 429,
  STEP_TIMEOUT: 504,
  INTERNAL: 500,
  API_SERVER_NOT_FOUND: 422,
  EGRESS_API_SERVER_MONITORED: 422,
  INVALID_CIDR: 422,
  SMI_OBJECT_NOT_OWNED: 409,
  SMI_HEADER_MATCH_INVALID: 422,
  MESH_CONFIG_NOT_FOUND: 422,
  PREREQUISITES_FAILED: 422,
  SERVICE_PORT_NOT_FOUND: 422,
  WEBHOOK_NOT_FOUND: 404,
  NOTHING_TO_REAPPLY: 409,
  WEBHOOKS_NOT_CONFIGURED: 503,
  SLACK_SIGNATURE_MISSING: 401,
  SLACK_SIGNATURE_INVALID: 401,
  SLACK_REQUEST_STALE: 401,
  SLACK_REQUEST_REPLAYED: 401,
  SLACK_USER_NOT_MAPPED: 403,
  SLACK_NOT_CONFIGURED: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FieldIssue {
  field: string;
  message: string;
}

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: { field?: string; fields?: FieldIssue[]; hint?: string; details?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }

  get fields(): FieldIssue[] {
    if (this.options.fields) return this.options.fields;
    return this.options.field ? [{ field: this.options.field, message: this.message }] : [];
  }
}
