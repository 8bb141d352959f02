import type { ErrorCode } from '../common/domain-error.js';

/**
 * What each error code means, for the API docs. test/integration/openapi.spec.ts fails when a
 * code in DOMAIN_ERROR_CODES (src/common/domain-error.ts) has no line here.
 */
export const ERROR_DESCRIPTIONS: Partial<Record<ErrorCode, string>> = {
  VALIDATION_FAILED: 'a field is missing, unknown, of the wrong type or invalid; `fields` names them (the first 20)',
  MALFORMED_REQUEST:
    'the body is not JSON (400) or is larger than 64 kB (413); the path is not percent-encoded UTF-8 (400) or has a ' +
    'segment over 100 characters (414); not a valid HTTP/1.1 request (an unknown method, no Host header, a body ' +
    'cut short: 400; a URL or headers over 16 kB: 414 / 431; not received in time: 408)',
  UNSUPPORTED_MEDIA_TYPE:
    'a body (REST, or GraphQL over POST) sent without `Content-Type: application/json`, or not in UTF-8, or with ' +
    'an unsupported `Content-Encoding`',
  ROUTE_NOT_FOUND: 'no route has this method and path',
  SUBSCRIPTION_OVER_HTTP:
    'a GraphQL subscription sent over HTTP (`POST /graphql`): subscriptions are served over graphql-ws on `/graphql`',
  UNAUTHENTICATED: 'no bearer token, or an invalid, expired or revoked one',
  FORBIDDEN: "the caller's roles do not allow the operation, or the target is outside its scopes",
  TOKEN_NOT_FOUND: 'unknown token id',
  TOKEN_NAME_TAKEN: 'a token with this name exists',
  TOKEN_NAME_RESERVED:
    'the name is reserved (`bootstrap-admin`, `anonymous`, `system…`): it would share a built-in actor id',
  INVALID_TOKEN_CLAIMS:
    'an OIDC token whose roles or scopes claim is malformed (a scope must be `<cluster>/<namespace>`)',
  REQUEST_NOT_FOUND: 'unknown request id',
  CLUSTER_NOT_FOUND: '`cluster` is not a kubeconfig context',
  MESH_NOT_FOUND: 'no Deployment is labelled `meshName=<meshName>`',
  NAMESPACE_RESERVED: '`kube-system` or `kube-public`',
  NAMESPACE_IS_CONTROL_PLANE: "the namespace runs an osm-controller, or is the mesh's control plane namespace",
  NAMESPACE_NOT_FOUND: 'the namespace does not exist (checked when the request is made, and by the worker)',
  NAMESPACE_IGNORED:
    'the namespace carries the `openservicemesh.io/ignore` label (checked when the request is made, and by the worker)',
  NAMESPACE_TERMINATING:
    'an onboarding names a namespace being deleted (Terminating): no pod can start there again (checked when the ' +
    'request is made, and by the worker)',
  NAMESPACE_OWNED_BY_OTHER_MESH:
    'the namespace is monitored by another mesh (checked when the request is made, and by the worker)',
  NAMESPACE_NOT_INJECTABLE:
    "osm-edge's injector skips the namespace (a `control-plane` label, or `name=<osm namespace>`): " +
    'its pods would never get a sidecar (checked when the request is made, and by the worker)',
  REQUEST_CONFLICT: 'the namespace already has an active request (`details.activeRequestId`)',
  IDEMPOTENCY_KEY_REUSED: 'the Idempotency-Key was used with a different body (`details.requestId`)',
  CLUSTER_UNAVAILABLE:
    'the cluster could not be reached; when it failed transiently, retry after `Retry-After` seconds ' +
    '(`details.retryAfterSeconds`)',
  DEPENDENCY_UNAVAILABLE: "Postgres, Redis or the identity provider's key set (JWKS) could not be reached",
  KUBE_FORBIDDEN: 'the API server refused the write (RBAC) (worker)',
  KUBE_INVALID: 'the API server rejected the object as invalid (worker)',
  KUBE_CONFLICT: 'the API server reported a conflict after retries (worker)',
  KUBE_UNAVAILABLE: 'the API server stayed unavailable after retries, or its TLS handshake was refused (worker)',
  KUBE_RESOURCE_NOT_SERVED:
    'the cluster serves no such resource: a CRD osm-edge v1.3.9 installs is missing, or not in the version used ' +
    '(plans, request checks and the worker)',
  DEPLOYMENT_NOT_FOUND:
    'a Deployment named in `restart.deployments` does not exist (checked when the request is made, and by the worker)',
  ROLLOUT_TIMEOUT: 'a restarted Deployment did not become ready in time (worker)',
  STEP_TIMEOUT: 'a step did not finish within STEP_TIMEOUT_MS (worker)',
  VERIFY_FAILED: 'pods were not as wanted (with or without sidecar) within `verify.timeoutSeconds` (worker)',
  REQUEST_NOT_PLANNED: 'only a PLANNED (dry-run) request can be applied',
  REQUEST_NOT_CANCELLABLE: 'the request has already finished',
  REQUEST_NOT_RETRYABLE: 'only FAILED or CANCELLED requests can be retried',
  REQUEST_NOT_PENDING_APPROVAL: 'only a request in PENDING_APPROVAL can be approved or rejected',
  SELF_APPROVAL_FORBIDDEN: 'a requester cannot approve or reject their own request',
  ALREADY_DECIDED: 'this approver already approved or rejected the request',
  LIFECYCLE_VIOLATION:
    'the database refused a status change the request lifecycle does not allow (a defect; nothing changed)',
  MESH_WIDE_CHANGE_FORBIDDEN:
    'the request changes the mesh as a whole (`details.changes`) and the caller has no mesh grant ' +
    '(MESH_WIDE_CHANGES=refuse)',
  MESH_GRANT_REQUIRED: 'the request changes the mesh as a whole; only an approver with a mesh grant may decide on it',
  WEBHOOK_NOT_FOUND: 'unknown webhook subscription id',
  NOTHING_TO_REAPPLY: "the namespace's last successful request is not an onboarding (or there is none)",
  WEBHOOKS_NOT_CONFIGURED: 'webhooks are not configured on this server',
  WEBHOOK_LIMIT_REACHED: 'the owner has WEBHOOKS_PER_OWNER webhooks: delete one first',
  SLACK_SIGNATURE_MISSING: 'a Slack interaction without `X-Slack-Signature` or `X-Slack-Request-Timestamp`',
  SLACK_SIGNATURE_INVALID: '`X-Slack-Signature` is not the HMAC of the timestamp and body with the signing secret',
  SLACK_REQUEST_STALE: '`X-Slack-Request-Timestamp` is more than 5 minutes from now',
  SLACK_REQUEST_REPLAYED: 'this signed Slack request was already received (a replay)',
  SLACK_USER_NOT_MAPPED:
    'the Slack user has no identity in SLACK_USER_MAP, or is mapped to a revoked, expired or unknown token',
  SLACK_NOT_CONFIGURED: 'Slack interactions are not configured on this server (SLACK_SIGNING_SECRET)',
  BATCH_NOT_FOUND: 'unknown batch id',
  RATE_LIMITED:
    'too many calls from this caller, or too many failed authentications from this address; retry after ' +
    '`Retry-After` seconds (`details.retryAfterSeconds`)',
  TOO_MANY_STREAMS:
    'this caller has PROGRESS_MAX_STREAMS_PER_CALLER progress streams (SSE, subscriptions, batch streams) open on ' +
    'this instance; close one first (`details.limit`)',
  STREAM_CAPACITY_REACHED:
    'this instance holds PROGRESS_MAX_STREAMS progress streams; retry after `Retry-After` seconds, which may reach ' +
    'another instance',
  INTERNAL: 'an unexpected server error',
  API_SERVER_NOT_FOUND: 'the Kubernetes API Service does not exist or has no IPv4 cluster IP (worker)',
  EGRESS_API_SERVER_MONITORED:
    'an Egress policy cannot reach the API server, whose namespace is in the mesh; use ip-exclusion (worker)',
  INVALID_CIDR: 'the API server address is not a valid IPv4 CIDR for the exclusion list (worker)',
  SMI_OBJECT_NOT_OWNED:
    'an SMI or Egress object of that name exists and was not created by osm-onboarding (request checks and worker)',
  SMI_HEADER_MATCH_INVALID:
    'an HTTPRouteGroup `headers` item holds more or fewer than one header, or repeats one (osm-edge reads one each)',
  MESH_CONFIG_NOT_FOUND: "the mesh's MeshConfig was not found (request checks and worker)",
  PREREQUISITES_FAILED:
    'the application checks found errors (UID 1500, reserved ports, …) not accepted by `prerequisites.acceptErrors` ' +
    '(worker)',
  SERVICE_PORT_NOT_FOUND:
    'a Service or Service port named or numbered in `appProtocols` does not exist (checked when the request is made, ' +
    'and by the worker)',
};
