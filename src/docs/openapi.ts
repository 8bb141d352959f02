import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Role } from '../auth/actor.js';
import { CreateTokenSchema } from '../auth/token.service.js';
import { ApproveSchema, RejectSchema } from '../approvals/approval.service.js';
import { BatchInputSchema } from '../batches/batch.service.js';
import { DOMAIN_ERROR_CODES, type ErrorCode } from '../common/domain-error.js';
import { HTTP_STATUS } from '../common/http-status.js';
import { OffboardingInputSchema, OnboardingInputSchema } from '../onboarding/onboarding.input.js';
import { CancelSchema, ListQuery } from '../onboarding/api/onboarding.controller.js';
import { CreateWebhookSchema, DeliveryQuerySchema } from '../webhooks/webhook.input.js';
import { SlackInteractionFormSchema } from '../integrations/slack/slack-interactions.service.js';
import { NamespaceStatusQuery } from '../namespaces/namespace-status.service.js';
import { ReapplySchema } from '../namespaces/reapply.service.js';
import { AuditExportQuery } from '../audit/audit-export.service.js';
import { ERROR_DESCRIPTIONS } from './error-docs.js';
import * as R from './response-schemas.js';

// The REST API's one route table. /docs/openapi.json is generated from it: bodies and query
// parameters from the zod schemas the controllers parse with, responses from
// ./response-schemas.ts, errors from HTTP_STATUS. test/integration/openapi.spec.ts fails when
// a route served by Nest is missing here (or a route here is not served), so add the route
// here in the same change that adds it to a controller.

/** Request bodies: the schemas the services validate with (input side: defaults are optional). */
export const REQUEST_BODIES = {
  OnboardingInput: OnboardingInputSchema,
  OffboardingInput: OffboardingInputSchema,
  CancelInput: CancelSchema,
  ApproveInput: ApproveSchema,
  RejectInput: RejectSchema,
  CreateTokenInput: CreateTokenSchema,
  BatchInput: BatchInputSchema,
  CreateWebhookInput: CreateWebhookSchema,
  ReapplyInput: ReapplySchema.describe('`restart` (as in OnboardingInput) replaces the stored restart options'),
  SlackInteractionForm: SlackInteractionFormSchema,
  BatchOperationInput: z
    .union([ApproveSchema, RejectSchema, CancelSchema])
    .describe('approve: ApproveInput; reject: RejectInput; cancel: CancelInput; retry, apply: no body'),
} satisfies Record<string, z.ZodType>;

/** Response bodies (output side). Nested schemas listed here become `$ref`s. */
export const RESPONSE_BODIES = {
  Error: R.ErrorBodySchema,
  FieldIssue: R.FieldIssueSchema,
  ErrorCode: R.ErrorCodeSchema,
  RequestStatus: R.RequestStatusSchema,
  RequestOptions: R.RequestOptionsSchema,
  Step: R.StepSchema,
  Request: R.RequestSchema,
  Accepted: R.AcceptedSchema,
  RequestPage: R.RequestPageSchema,
  AuditEvent: R.AuditEventSchema,
  AuditPage: R.AuditPageSchema,
  Plan: R.PlanSchema,
  Token: R.TokenSchema,
  TokenCreated: R.TokenCreatedSchema,
  TokenList: R.TokenListSchema,
  ProgressEvent: R.ProgressEventSchema,
  Health: R.HealthSchema,
  Ready: R.ReadySchema,
  Batch: R.BatchSchema,
  BatchPlans: R.BatchPlansSchema,
  BatchOperation: R.BatchOperationSchema,
  Webhook: R.WebhookSchema,
  WebhookCreated: R.WebhookCreatedSchema,
  WebhookList: R.WebhookListSchema,
  WebhookDelivery: R.WebhookDeliverySchema,
  WebhookDeliveryPage: R.WebhookDeliveryPageSchema,
  NamespaceStatusPage: R.NamespaceStatusPageSchema,
  SlackInteractionAnswer: R.SlackInteractionAnswerSchema,
} satisfies Record<string, z.ZodType>;

/** Query parameters without a named schema in the controllers. */
const EventsQuery = z.strictObject({
  after: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .describe('resume after this cursor (the `Last-Event-ID` header wins)'),
});

type BodyName = keyof typeof REQUEST_BODIES;
type ResponseName = keyof typeof RESPONSE_BODIES;
type Media = 'json' | 'sse' | 'html' | 'text' | 'asset' | 'export';
type Header = 'Idempotency-Key' | 'Last-Event-ID' | 'X-Slack-Signature' | 'X-Slack-Request-Timestamp';

export interface RouteDoc {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI form: `/v1/onboardings/{id}`. */
  path: string;
  operationId: string;
  tag:
    | 'onboarding'
    | 'approvals'
    | 'batches'
    | 'namespaces'
    | 'webhooks'
    | 'integrations'
    | 'audit'
    | 'tokens'
    | 'operations'
    | 'docs';
  summary: string;
  description?: string;
  /** Roles that may call it (admin always may), or `public` (no credentials). */
  auth: Role[] | 'public';
  body?: BodyName;
  bodyRequired?: boolean;
  /** How the body is encoded: JSON (default) or an HTML form (Slack's interactions). */
  bodyMedia?: 'json' | 'form';
  /** A realistic request body for the docs page (its generated examples are random). */
  example?: Record<string, unknown>;
  query?: z.ZodObject;
  headers?: Header[];
  responses: Record<
    number,
    { description: string; schema?: ResponseName; media?: Media; headers?: Record<string, string> }
  >;
  /** Codes this route answers besides the common ones (see commonErrors). */
  errors: ErrorCode[];
}

const VALIDATE: ErrorCode[] = ['VALIDATION_FAILED', 'CLUSTER_NOT_FOUND', 'NAMESPACE_RESERVED', 'CLUSTER_UNAVAILABLE'];
/** What the request-time read of the target refuses (request-validator.ts, target-precheck.ts). */
const TARGET: ErrorCode[] = ['NAMESPACE_NOT_FOUND', 'NAMESPACE_OWNED_BY_OTHER_MESH', 'DEPLOYMENT_NOT_FOUND'];
const ONBOARD_TARGET: ErrorCode[] = [...TARGET, 'NAMESPACE_IGNORED', 'NAMESPACE_NOT_INJECTABLE'];
const ACCEPTED_HEADERS = {
  Location: 'the request: `/v1/onboardings/{id}`',
  'Idempotent-Replayed': '`true` when an Idempotency-Key matched an earlier identical request',
};
const accepted = (what: string) => ({
  202: {
    description: `${what} accepted and queued (or held in PENDING_APPROVAL by the approval policy; stored as PLANNED with \`dryRun\`)`,
    schema: 'Accepted' as const,
    headers: ACCEPTED_HEADERS,
  },
  200: {
    description: 'an Idempotency-Key replay: the original request',
    schema: 'Accepted' as const,
    headers: ACCEPTED_HEADERS,
  },
});

export const ROUTES: RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/onboardings',
    operationId: 'requestOnboarding',
    tag: 'onboarding',
    summary: 'Onboard a namespace into a mesh',
    description:
      'Validates, records the request with its first audit event and queues it. The worker then runs the steps ' +
      '(prerequisites, mesh, api-server-access, traffic-policy, namespace, metrics, app-protocol, restart, verify — as the options ask). ' +
      'Follow it with `GET /v1/onboardings/{id}/events`.',
    auth: ['requester'],
    body: 'OnboardingInput',
    bodyRequired: true,
    headers: ['Idempotency-Key'],
    example: {
      namespace: 'bookbuyer',
      meshName: 'osm',
      restart: { mode: 'all' },
      apiServerAccess: { method: 'ip-exclusion' },
    },
    responses: accepted('onboarding'),
    errors: [
      ...VALIDATE,
      'MESH_NOT_FOUND',
      'NAMESPACE_IS_CONTROL_PLANE',
      ...ONBOARD_TARGET,
      'REQUEST_CONFLICT',
      'IDEMPOTENCY_KEY_REUSED',
      'MESH_WIDE_CHANGE_FORBIDDEN',
    ],
  },
  {
    method: 'post',
    path: '/v1/offboardings',
    operationId: 'requestOffboarding',
    tag: 'onboarding',
    summary: 'Take a namespace out of its mesh',
    description:
      'Runs `namespace-removal` (the `osm namespace remove` patch), and optionally policy clean-up, API-server access removal and a restart.',
    auth: ['requester'],
    body: 'OffboardingInput',
    bodyRequired: true,
    headers: ['Idempotency-Key'],
    example: { namespace: 'bookbuyer', restart: { mode: 'all' }, deleteOwnedPolicies: true },
    responses: accepted('offboarding'),
    errors: [...VALIDATE, ...TARGET, 'REQUEST_CONFLICT', 'IDEMPOTENCY_KEY_REUSED', 'MESH_WIDE_CHANGE_FORBIDDEN'],
  },
  {
    method: 'post',
    path: '/v1/onboardings/plan',
    operationId: 'planOnboarding',
    tag: 'onboarding',
    summary: 'Plan an onboarding (dry run, nothing stored)',
    description:
      'The exact writes every step would make now, and the diagnostics. A step that would refuse sets its `error` and `blocked: true`.',
    auth: ['requester'],
    body: 'OnboardingInput',
    bodyRequired: true,
    example: { namespace: 'bookbuyer', restart: { mode: 'all' } },
    responses: { 200: { description: 'the plan', schema: 'Plan' } },
    errors: [...VALIDATE, 'MESH_NOT_FOUND', 'NAMESPACE_IS_CONTROL_PLANE', ...ONBOARD_TARGET],
  },
  {
    method: 'post',
    path: '/v1/offboardings/plan',
    operationId: 'planOffboarding',
    tag: 'onboarding',
    summary: 'Plan an offboarding (dry run, nothing stored)',
    auth: ['requester'],
    body: 'OffboardingInput',
    bodyRequired: true,
    example: { namespace: 'bookbuyer' },
    responses: { 200: { description: 'the plan', schema: 'Plan' } },
    errors: [...VALIDATE, ...TARGET],
  },
  {
    method: 'post',
    path: '/v1/onboardings/{id}/apply',
    operationId: 'applyPlanned',
    tag: 'onboarding',
    summary: 'Queue a request stored with `dryRun: true`',
    description: 'Its steps report drift from the stored plan.',
    auth: ['requester'],
    responses: { 202: { description: 'queued', schema: 'Accepted', headers: ACCEPTED_HEADERS } },
    errors: ['REQUEST_NOT_FOUND', 'REQUEST_NOT_PLANNED', 'REQUEST_CONFLICT'],
  },
  {
    method: 'post',
    path: '/v1/onboardings/{id}/cancel',
    operationId: 'cancelRequest',
    tag: 'onboarding',
    summary: 'Cancel a request',
    description:
      'A request that has not started ends at once (CANCELLED); a RUNNING one stops before its next step, never in the middle of a write.',
    auth: ['requester'],
    body: 'CancelInput',
    example: { reason: 'wrong namespace' },
    responses: {
      200: {
        description: 'the request (CANCELLED, or still RUNNING with the cancellation flagged)',
        schema: 'Request',
      },
    },
    errors: ['VALIDATION_FAILED', 'REQUEST_NOT_FOUND', 'REQUEST_NOT_CANCELLABLE'],
  },
  {
    method: 'post',
    path: '/v1/onboardings/{id}/retry',
    operationId: 'retryRequest',
    tag: 'onboarding',
    summary: 'Retry a FAILED or CANCELLED request from its first unfinished step',
    description: 'A new attempt of the same request (`attempt` + 1); steps already done are not run again.',
    auth: ['requester'],
    responses: { 202: { description: 'queued again', schema: 'Accepted', headers: ACCEPTED_HEADERS } },
    errors: ['REQUEST_NOT_FOUND', 'REQUEST_NOT_RETRYABLE', 'REQUEST_CONFLICT'],
  },
  {
    method: 'post',
    path: '/v1/onboardings/{id}/approve',
    operationId: 'approveRequest',
    tag: 'approvals',
    summary: 'Approve a request in PENDING_APPROVAL',
    description:
      "Once the policy's number of distinct approvers is reached the request is queued. The requester cannot approve their own request.",
    auth: ['approver'],
    body: 'ApproveInput',
    example: { comment: 'checked with team-a' },
    responses: {
      200: {
        description: 'the request (QUEUED, or still PENDING_APPROVAL awaiting more approvers)',
        schema: 'Request',
      },
    },
    errors: [
      'VALIDATION_FAILED',
      'REQUEST_NOT_FOUND',
      'REQUEST_NOT_PENDING_APPROVAL',
      'SELF_APPROVAL_FORBIDDEN',
      'ALREADY_DECIDED',
      'MESH_GRANT_REQUIRED',
    ],
  },
  {
    method: 'post',
    path: '/v1/onboardings/{id}/reject',
    operationId: 'rejectRequest',
    tag: 'approvals',
    summary: 'Reject a request in PENDING_APPROVAL (with a reason)',
    auth: ['approver'],
    body: 'RejectInput',
    bodyRequired: true,
    example: { reason: 'not during the freeze' },
    responses: { 200: { description: 'the request, REJECTED', schema: 'Request' } },
    errors: [
      'VALIDATION_FAILED',
      'REQUEST_NOT_FOUND',
      'REQUEST_NOT_PENDING_APPROVAL',
      'SELF_APPROVAL_FORBIDDEN',
      'ALREADY_DECIDED',
      'MESH_GRANT_REQUIRED',
    ],
  },
  {
    method: 'get',
    path: '/v1/onboardings',
    operationId: 'listRequests',
    tag: 'onboarding',
    summary: 'List requests (newest first, paged)',
    description: 'Non-admin callers see the requests within their scopes.',
    auth: ['viewer', 'requester', 'approver'],
    query: ListQuery,
    responses: { 200: { description: 'one page', schema: 'RequestPage' } },
    errors: ['VALIDATION_FAILED'],
  },
  {
    method: 'get',
    path: '/v1/onboardings/{id}',
    operationId: 'getRequest',
    tag: 'onboarding',
    summary: 'A request with its steps (before/after images, writes, diagnostics)',
    auth: ['viewer', 'requester', 'approver'],
    responses: { 200: { description: 'the request', schema: 'Request' } },
    errors: ['REQUEST_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/onboardings/{id}/events',
    operationId: 'streamEvents',
    tag: 'onboarding',
    summary: 'Progress as Server-Sent Events',
    description:
      "Replays the stored events after the cursor, then follows live ones; the stream ends after the request's final event " +
      '(`request.succeeded`, `request.failed`, `request.cancelled`, `request.rejected`). Each event has `id: <cursor>`, ' +
      '`event: <type>` and `data: <ProgressEvent JSON>`; `: keep-alive` comments every 15 s. Resume after a disconnect with ' +
      '`Last-Event-ID` (the same cursor as the GraphQL subscription `onboardingProgress(after:)`).',
    auth: ['viewer', 'requester', 'approver'],
    query: EventsQuery,
    headers: ['Last-Event-ID'],
    responses: { 200: { description: 'the event stream', schema: 'ProgressEvent', media: 'sse' } },
    errors: ['VALIDATION_FAILED', 'REQUEST_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/onboardings/{id}/audit',
    operationId: 'requestAudit',
    tag: 'onboarding',
    summary: "A request's audit trail",
    auth: ['viewer', 'requester', 'approver'],
    responses: { 200: { description: 'the audit events in cursor order', schema: 'AuditPage' } },
    errors: ['REQUEST_NOT_FOUND'],
  },
  {
    method: 'post',
    path: '/v1/batches',
    operationId: 'createBatch',
    tag: 'batches',
    summary: 'Onboard or offboard several namespaces together',
    description:
      'One request per target under a batch id, validated and stored as a whole (one refused target refuses the batch). `options` are the fields of an onboarding/offboarding body other than cluster and namespace.',
    auth: ['requester'],
    body: 'BatchInput',
    bodyRequired: true,
    example: {
      kind: 'ONBOARD',
      targets: [{ namespace: 'bookbuyer' }, { namespace: 'bookthief' }],
      options: { restart: { mode: 'all' } },
    },
    responses: {
      202: {
        description: 'the batch with its requests',
        schema: 'Batch',
        headers: { Location: 'the batch: `/v1/batches/{id}`' },
      },
    },
    errors: [
      ...VALIDATE,
      'MESH_NOT_FOUND',
      'NAMESPACE_IS_CONTROL_PLANE',
      'REQUEST_CONFLICT',
      'MESH_WIDE_CHANGE_FORBIDDEN',
    ],
  },
  {
    method: 'post',
    path: '/v1/batches/plan',
    operationId: 'planBatch',
    tag: 'batches',
    summary: 'Plan a batch (dry run, nothing stored)',
    auth: ['requester'],
    body: 'BatchInput',
    bodyRequired: true,
    example: { kind: 'ONBOARD', targets: [{ namespace: 'bookbuyer' }, { namespace: 'bookthief' }] },
    responses: { 200: { description: 'one plan per target', schema: 'BatchPlans' } },
    errors: [...VALIDATE, 'MESH_NOT_FOUND', 'NAMESPACE_IS_CONTROL_PLANE'],
  },
  {
    method: 'get',
    path: '/v1/batches/{id}',
    operationId: 'getBatch',
    tag: 'batches',
    summary: 'A batch: aggregate status, counts by status, its requests',
    auth: ['viewer', 'requester', 'approver'],
    responses: { 200: { description: 'the batch', schema: 'Batch' } },
    errors: ['BATCH_NOT_FOUND'],
  },
  {
    method: 'post',
    path: '/v1/batches/{id}/{op}',
    operationId: 'batchOperation',
    tag: 'batches',
    summary: 'Approve, reject, cancel, retry or apply every member it applies to',
    description:
      'The body is that of the single-request operation: `{comment?}` for approve, `{reason}` for reject, `{reason?}` for cancel, none for retry and apply. ' +
      "One member's refusal does not stop the others: see `results`. Roles as for the single-request operation.",
    auth: ['requester', 'approver'],
    body: 'BatchOperationInput',
    example: { reason: 'not during the freeze' },
    responses: {
      200: { description: 'the batch after the operation and the outcome per member', schema: 'BatchOperation' },
    },
    errors: ['VALIDATION_FAILED', 'BATCH_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/batches/{id}/events',
    operationId: 'streamBatchEvents',
    tag: 'batches',
    summary: "Every member's progress as Server-Sent Events",
    description:
      'As `/v1/onboardings/{id}/events`, for all members; the event id (resume cursor) is the global audit event id.',
    auth: ['viewer', 'requester', 'approver'],
    query: z.strictObject({
      after: z
        .string()
        .regex(/^\d+$/)
        .optional()
        .describe('resume after this event id (the `Last-Event-ID` header wins)'),
    }),
    headers: ['Last-Event-ID'],
    responses: { 200: { description: 'the event stream', schema: 'ProgressEvent', media: 'sse' } },
    errors: ['VALIDATION_FAILED', 'BATCH_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/clusters/{cluster}/namespaces',
    operationId: 'namespaceStatus',
    tag: 'namespaces',
    summary: 'Where each namespace of a cluster stands',
    description:
      'Read live from the cluster (paged with Kubernetes `limit`/`continue`) and joined with our last request per namespace: the mesh it is monitored by, ' +
      'the injection setting, pods with and without the sidecar. Non-admin callers see the namespaces within their scopes.',
    auth: ['viewer', 'requester', 'approver'],
    query: NamespaceStatusQuery,
    responses: { 200: { description: 'one page', schema: 'NamespaceStatusPage' } },
    errors: ['VALIDATION_FAILED', 'CLUSTER_NOT_FOUND', 'CLUSTER_UNAVAILABLE', 'KUBE_FORBIDDEN'],
  },
  {
    method: 'post',
    path: '/v1/namespaces/{cluster}/{namespace}/reapply',
    operationId: 'reapplyOnboarding',
    tag: 'namespaces',
    summary: "Re-apply a namespace's last successful onboarding as a new request",
    description:
      'Queues an onboarding with the options of the last successful request for the namespace (which must be ' +
      'an onboarding), e.g. after a `namespace.drifted` event; validated, authorized and approved like ' +
      '`POST /v1/onboardings`. `restart` replaces the stored restart options; `dryRun` stores it as PLANNED.',
    auth: ['requester'],
    body: 'ReapplyInput',
    headers: ['Idempotency-Key'],
    example: { restart: { mode: 'needed' } },
    responses: accepted('re-applied onboarding'),
    errors: [
      ...VALIDATE,
      'MESH_NOT_FOUND',
      'NAMESPACE_IS_CONTROL_PLANE',
      ...ONBOARD_TARGET,
      'NOTHING_TO_REAPPLY',
      'REQUEST_CONFLICT',
      'IDEMPOTENCY_KEY_REUSED',
    ],
  },
  {
    method: 'get',
    path: '/v1/audit',
    operationId: 'exportAudit',
    tag: 'audit',
    summary: 'Export audit events as JSON lines or CSV (streamed)',
    description:
      'Filters by actor, cluster, namespace, action (`request.*` patterns), request and time range (`since` inclusive, `until` exclusive). ' +
      'Streamed page by page as an attachment; an error after the first byte aborts the transfer, so a cut export never looks complete. ' +
      'Non-admin callers get the events within their scopes.',
    auth: ['viewer', 'requester', 'approver'],
    query: AuditExportQuery,
    responses: {
      200: {
        description:
          'one audit event per JSON line (`format=jsonl`, default) or CSV row (`format=csv`, with a header row)',
        schema: 'AuditEvent',
        media: 'export',
      },
    },
    errors: ['VALIDATION_FAILED'],
  },
  {
    method: 'post',
    path: '/v1/webhooks',
    operationId: 'createWebhook',
    tag: 'webhooks',
    summary: 'Subscribe a URL to events (chatops)',
    description:
      'Deliveries are signed with HMAC-SHA256 over `<timestamp>.<body>` (the timestamp and signature are in the headers), retried with backoff, ' +
      "and limited to the creator's scopes. Without `secret`, one is generated and returned once. " +
      'With `format: "slack"` each delivery is a Slack incoming-webhook message (Block Kit) with Approve/Reject ' +
      'buttons while the request waits for approval (see `POST /v1/integrations/slack/interactions`).',
    auth: ['requester'],
    body: 'CreateWebhookInput',
    bodyRequired: true,
    example: {
      url: 'https://chat.example.com/hooks/osm',
      eventTypes: ['request.succeeded', 'request.failed'],
      description: 'team-a channel',
    },
    responses: { 201: { description: 'the subscription (and a generated secret)', schema: 'WebhookCreated' } },
    errors: ['VALIDATION_FAILED', 'WEBHOOKS_NOT_CONFIGURED'],
  },
  {
    method: 'post',
    path: '/v1/integrations/slack/interactions',
    operationId: 'slackInteraction',
    tag: 'integrations',
    summary: "Slack's interactivity request URL: Approve/Reject button presses",
    description:
      "Called by Slack, not with a bearer token: the request must carry Slack's signature (`X-Slack-Signature: " +
      'v0=<hex HMAC-SHA256(signing secret, "v0:<timestamp>:<raw body>")>`) and a `X-Slack-Request-Timestamp` ' +
      'within 5 minutes; a signed request is accepted once. The pressing Slack user acts as the identity ' +
      'SLACK_USER_MAP gives them, under the rules of `/v1/onboardings/{id}/approve` and `/reject` (a reject ' +
      'gives the reason "rejected in Slack by slack:<user>"). Presses of other buttons and other interaction ' +
      'types are answered 200 and ignored.',
    auth: 'public',
    body: 'SlackInteractionForm',
    bodyRequired: true,
    bodyMedia: 'form',
    headers: ['X-Slack-Signature', 'X-Slack-Request-Timestamp'],
    responses: {
      200: { description: 'the decision was taken (or the press was not ours)', schema: 'SlackInteractionAnswer' },
    },
    errors: [
      'SLACK_SIGNATURE_MISSING',
      'SLACK_SIGNATURE_INVALID',
      'SLACK_REQUEST_STALE',
      'SLACK_REQUEST_REPLAYED',
      'SLACK_USER_NOT_MAPPED',
      'SLACK_NOT_CONFIGURED',
      'VALIDATION_FAILED',
      'FORBIDDEN',
      'REQUEST_NOT_FOUND',
      'REQUEST_NOT_PENDING_APPROVAL',
      'SELF_APPROVAL_FORBIDDEN',
      'ALREADY_DECIDED',
      'MESH_GRANT_REQUIRED',
      'DEPENDENCY_UNAVAILABLE',
    ],
  },
  {
    method: 'get',
    path: '/v1/webhooks',
    operationId: 'listWebhooks',
    tag: 'webhooks',
    summary: "The caller's webhook subscriptions (an admin's: all)",
    auth: ['requester'],
    responses: { 200: { description: 'the subscriptions', schema: 'WebhookList' } },
    errors: [],
  },
  {
    method: 'get',
    path: '/v1/webhooks/{id}',
    operationId: 'getWebhook',
    tag: 'webhooks',
    summary: 'A webhook subscription (never its secret)',
    auth: ['requester'],
    responses: { 200: { description: 'the subscription', schema: 'Webhook' } },
    errors: ['WEBHOOK_NOT_FOUND'],
  },
  {
    method: 'delete',
    path: '/v1/webhooks/{id}',
    operationId: 'deleteWebhook',
    tag: 'webhooks',
    summary: 'Delete a webhook subscription',
    auth: ['requester'],
    responses: { 200: { description: 'the deleted subscription', schema: 'Webhook' } },
    errors: ['WEBHOOK_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/webhooks/{id}/deliveries',
    operationId: 'listDeliveries',
    tag: 'webhooks',
    summary: "A subscription's deliveries with every attempt",
    auth: ['requester'],
    query: DeliveryQuerySchema,
    responses: { 200: { description: 'one page, newest first', schema: 'WebhookDeliveryPage' } },
    errors: ['VALIDATION_FAILED', 'WEBHOOK_NOT_FOUND'],
  },
  {
    method: 'post',
    path: '/v1/tokens',
    operationId: 'createToken',
    tag: 'tokens',
    summary: 'Create an API token',
    description: 'The secret is in this response only; it is stored as a hash.',
    auth: ['admin'],
    body: 'CreateTokenInput',
    bodyRequired: true,
    example: { name: 'ci-team-a', roles: ['requester'], scopes: ['prod/team-a-*'], expiresInDays: 90 },
    responses: { 201: { description: 'the token and its secret', schema: 'TokenCreated' } },
    errors: ['VALIDATION_FAILED', 'TOKEN_NAME_TAKEN', 'TOKEN_NAME_RESERVED'],
  },
  {
    method: 'get',
    path: '/v1/tokens',
    operationId: 'listTokens',
    tag: 'tokens',
    summary: 'List API tokens (never their secrets)',
    auth: ['admin'],
    responses: { 200: { description: 'every token, oldest first', schema: 'TokenList' } },
    errors: [],
  },
  {
    method: 'delete',
    path: '/v1/tokens/{id}',
    operationId: 'revokeToken',
    tag: 'tokens',
    summary: 'Revoke an API token',
    auth: ['admin'],
    responses: { 200: { description: 'the revoked token', schema: 'Token' } },
    errors: ['TOKEN_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/healthz',
    operationId: 'healthz',
    tag: 'operations',
    summary: 'Liveness',
    auth: 'public',
    responses: { 200: { description: 'the process answers', schema: 'Health' } },
    errors: [],
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'readyz',
    tag: 'operations',
    summary: 'Readiness: Postgres, Redis and at least one cluster answer',
    auth: 'public',
    responses: {
      200: { description: 'ready', schema: 'Ready' },
      503: { description: 'not ready (a dependency is down, or the process is draining)', schema: 'Ready' },
    },
    errors: [],
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'operations',
    summary: 'Prometheus metrics',
    auth: 'public',
    responses: { 200: { description: 'Prometheus text exposition format', media: 'text' } },
    errors: [],
  },
  {
    method: 'get',
    path: '/docs',
    operationId: 'docs',
    tag: 'docs',
    summary: 'This documentation (Swagger UI)',
    auth: 'public',
    responses: { 200: { description: 'an HTML page', media: 'html' } },
    errors: [],
  },
  {
    method: 'get',
    path: '/docs/openapi.json',
    operationId: 'openapi',
    tag: 'docs',
    summary: 'The OpenAPI 3.1 document',
    auth: 'public',
    responses: { 200: { description: 'this document' } },
    errors: [],
  },
  {
    method: 'get',
    path: '/docs/assets/{file}',
    operationId: 'docsAsset',
    tag: 'docs',
    summary: "The documentation page's scripts and styles",
    auth: 'public',
    responses: { 200: { description: 'a static file', media: 'asset' } },
    errors: ['REQUEST_NOT_FOUND'],
  },
];

/** What every route can also answer. */
export function commonErrors(route: RouteDoc): ErrorCode[] {
  const codes: ErrorCode[] = [];
  if (route.body) codes.push('MALFORMED_REQUEST', 'UNSUPPORTED_MEDIA_TYPE');
  if (route.auth !== 'public') {
    codes.push('UNAUTHENTICATED', 'INVALID_TOKEN_CLAIMS', 'FORBIDDEN', 'RATE_LIMITED', 'DEPENDENCY_UNAVAILABLE');
  }
  codes.push('INTERNAL');
  return codes;
}

/** Every code a route can answer, in DOMAIN_ERROR_CODES order. */
export function routeErrors(route: RouteDoc): ErrorCode[] {
  const all = new Set([...route.errors, ...commonErrors(route)]);
  return DOMAIN_ERROR_CODES.filter((c) => all.has(c));
}

const PATH_PARAMS: Record<string, { description: string; schema: Record<string, unknown> }> = {
  id: {
    description: 'the id of the request (of the token, batch or webhook under /v1/tokens, /v1/batches, /v1/webhooks)',
    schema: { type: 'string', format: 'uuid' },
  },
  cluster: { description: 'a cluster: a kubeconfig context name', schema: { type: 'string' } },
  op: {
    description: 'the operation',
    schema: { type: 'string', enum: ['approve', 'reject', 'cancel', 'retry', 'apply'] },
  },
  file: { description: 'a file name', schema: { type: 'string' } },
};

const HEADER_PARAMS: Record<Header, Record<string, unknown>> = {
  'Idempotency-Key': {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      'the same key with the same body returns the first request (200, `Idempotent-Replayed: true`); with a different body `IDEMPOTENCY_KEY_REUSED`. Keys are per caller.',
    schema: { type: 'string', minLength: 1, maxLength: 255 },
  },
  'Last-Event-ID': {
    name: 'Last-Event-ID',
    in: 'header',
    required: false,
    description: 'resume after this cursor (sent by EventSource clients on reconnect)',
    schema: { type: 'integer', minimum: 0 },
  },
  'X-Slack-Signature': {
    name: 'X-Slack-Signature',
    in: 'header',
    required: true,
    description: "`v0=` and the hex HMAC-SHA256 of `v0:<timestamp>:<raw body>` with the Slack app's signing secret",
    schema: { type: 'string', pattern: '^v0=[0-9a-f]{64}$' },
  },
  'X-Slack-Request-Timestamp': {
    name: 'X-Slack-Request-Timestamp',
    in: 'header',
    required: true,
    description: 'Unix seconds when Slack sent the request; refused more than 5 minutes from now',
    schema: { type: 'string', pattern: '^\\d+$' },
  },
};

/** Descriptions of the request fields; the types and limits come from the zod schemas. */
const FIELD_DOCS: Partial<Record<BodyName, Record<string, string>>> = {
  OnboardingInput: {
    cluster: 'kubeconfig context name; omitted = the current context (`in-cluster` inside a pod)',
    namespace: 'the namespace to onboard (RFC 1123 label)',
    meshName: 'the osm-edge mesh name (`--mesh-name`); default `osm`',
    dryRun: 'store the request as PLANNED with its plan instead of queueing it (apply later with `/apply`)',
    sidecarInjection: '`enabled` (default) or `disabled` (`--disable-sidecar-injection`)',
    prerequisites:
      'application checks (UID 1500, reserved ports, …) run first; `acceptErrors` lists diagnostic codes not to block on',
    trafficPolicy:
      '`permissive` mode (mesh-wide), or `smi` with the SMI objects to create; `switchMeshToSmi: true` also turns ' +
      'permissive mode off for the whole mesh (mesh-wide)',
    apiServerAccess:
      'let apps reach the Kubernetes API: exclude its IP from interception, or an Egress policy for the listed service accounts',
    appProtocols: 'set Service ports\' `appProtocol`; a port by name (`"http"`) or by number (`8080`)',
    restart:
      '`kubectl rollout restart` of the deployments after the namespace is labelled: none (default), all, or selected `deployments`',
    verify: 'how long to wait for pods to have their sidecars',
    metrics: 'enable osm metrics scraping for the namespace',
  },
  OffboardingInput: {
    cluster: 'kubeconfig context name; omitted = the current context',
    namespace: 'the namespace to take out of the mesh',
    meshName: 'the osm-edge mesh name; default `osm`',
    dryRun: 'store the request as PLANNED with its plan instead of queueing it',
    restart: 'restart deployments so pods lose their sidecars',
    deleteOwnedPolicies: 'delete the SMI objects and Egress policies osm-onboarding created',
    removeApiServerExclusion: "remove the API server's IP from the mesh's outbound exclusion list",
  },
  CreateWebhookInput: {
    format: '`json` (default): our signed event document; `slack`: a Slack incoming-webhook message (Block Kit)',
  },
  CreateTokenInput: {
    name: 'unique token name; the actor becomes `token:<name>`',
    roles: 'viewer (read), requester (create/cancel/retry), approver, admin',
    scopes: '`<cluster>/<namespace>` glob patterns, e.g. `prod/team-a-*`',
    expiresInDays: 'expiry; none = never',
  },
};

type Json = Record<string, unknown>;

function clean(schema: unknown, dropClosed: boolean): unknown {
  if (Array.isArray(schema)) return schema.map((s) => clean(s, dropClosed));
  if (!schema || typeof schema !== 'object') return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === '$schema' || k === '$id') continue;
    if (dropClosed && k === 'additionalProperties' && v === false) continue;
    out[k] = clean(v, dropClosed);
  }
  return out;
}

function convert(schemas: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const { schemas: out } = z.toJSONSchema(registry, {
    io,
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  // Responses stay open to new fields; request bodies are strict (unknown fields are refused).
  return Object.fromEntries(Object.entries(out).map(([id, s]) => [id, clean(s, io === 'output') as Json]));
}

function withFieldDocs(schema: Json, docs: Record<string, string> | undefined): Json {
  const props = schema.properties as Record<string, Json> | undefined;
  if (!docs || !props) return schema;
  for (const [field, text] of Object.entries(docs))
    if (props[field]) props[field] = { description: text, ...props[field] };
  return schema;
}

function packageVersion(): string {
  for (const up of ['..', '../..', '../../..']) {
    const file = join(import.meta.dirname, up, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'osm-onboarding' && pkg.version) return pkg.version;
  }
  return '0.0.0';
}

function errorTable(): string {
  const rows = (Object.entries(HTTP_STATUS) as [ErrorCode, number][]).map(
    ([code, status]) =>
      `| \`${code}\` | ${status}${code === 'MALFORMED_REQUEST' ? ', 413' : ''} | ${ERROR_DESCRIPTIONS[code] ?? ''} |`,
  );
  return ['| code | HTTP | meaning |', '|---|---|---|', ...rows].join('\n');
}

const DESCRIPTION = `Puts Kubernetes namespaces into an [osm-edge](https://github.com/flomesh-io/osm-edge) mesh and takes them out again.
Requests are recorded in Postgres with an append-only audit trail and executed by workers; follow them over
Server-Sent Events (\`GET /v1/onboardings/{id}/events\`) or the GraphQL subscription at \`/graphql\`.

**Authentication**: every call except the operations and docs routes needs \`Authorization: Bearer <token>\` — an API
token (roles \`viewer\`, \`requester\`, \`approver\`, \`admin\`; namespace scopes \`<cluster>/<namespace>\` globs) or an
OIDC JWT when configured. 401 without valid credentials, 403 outside the caller's roles or scopes, before anything is
stored or any cluster write happens.

**Errors** are \`{"error": {"code", "message", "fields"?: [{"field", "message"}], "hint"?, "details"?}}\`. Each operation
lists the codes it can answer (also as \`x-error-codes\`). A request accepted with 202 can still fail in the worker;
its \`errorCode\` is then one of the codes marked *(worker)*.

`;

export interface OpenApiDocument {
  openapi: string;
  info: Json;
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json>; securitySchemes: Json };
  [key: string]: unknown;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function mediaContent(r: RouteDoc['responses'][number]): Json | undefined {
  switch (r.media ?? 'json') {
    case 'json':
      return { 'application/json': { schema: r.schema ? ref(r.schema) : { type: 'object' } } };
    case 'sse':
      return {
        'text/event-stream': {
          schema: { type: 'string', description: 'SSE frames; each `data:` line is one ProgressEvent as JSON' },
          'x-event-data': r.schema ? ref(r.schema) : undefined,
          example: 'id: 1\nevent: request.created\ndata: {"requestId":"…","cursor":1,"type":"request.created",…}\n\n',
        },
      };
    case 'export':
      return {
        'application/x-ndjson': {
          schema: { type: 'string', description: 'one JSON object per line' },
          'x-line-schema': r.schema ? ref(r.schema) : undefined,
        },
        'text/csv': { schema: { type: 'string', description: 'a header row, then one row per event; `data` as JSON' } },
      };
    case 'html':
      return { 'text/html': { schema: { type: 'string' } } };
    case 'text':
      return { 'text/plain': { schema: { type: 'string' } } };
    case 'asset':
      return {
        'application/javascript': { schema: { type: 'string' } },
        'text/css': { schema: { type: 'string' } },
        'image/png': { schema: { type: 'string', contentMediaType: 'image/png' } },
      };
  }
}

function errorResponses(codes: ErrorCode[]): Record<string, Json> {
  const byStatus = new Map<number, ErrorCode[]>();
  const add = (status: number, code: ErrorCode) => byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  for (const code of codes) {
    add(HTTP_STATUS[code], code);
    if (code === 'MALFORMED_REQUEST') add(413, code);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      {
        description: list.map((c) => `\`${c}\`: ${ERROR_DESCRIPTIONS[c] ?? c}`).join('; '),
        content: {
          'application/json': {
            schema: ref('Error'),
            examples: Object.fromEntries(
              list.map((c) => [c, { summary: c, value: { error: { code: c, message: ERROR_DESCRIPTIONS[c] ?? c } } }]),
            ),
          },
        },
        ...(status === 429
          ? { headers: { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer' } } } }
          : {}),
        'x-error-codes': list,
      },
    ]),
  );
}

function operation(route: RouteDoc): Json {
  const parameters: Json[] = [];
  for (const name of route.path.match(/\{(\w+)\}/g)?.map((p) => p.slice(1, -1)) ?? []) {
    parameters.push({ name, in: 'path', required: true, ...(PATH_PARAMS[name] ?? { schema: { type: 'string' } }) });
  }
  if (route.query) {
    const q = clean(z.toJSONSchema(route.query, { io: 'input', unrepresentable: 'any' }), false) as {
      properties?: Record<string, Json>;
      required?: string[];
    };
    for (const [name, schema] of Object.entries(q.properties ?? {})) {
      const { description, ...rest } = schema;
      parameters.push({
        name,
        in: 'query',
        required: q.required?.includes(name) ?? false,
        ...(description ? { description } : {}),
        schema: rest,
      });
    }
  }
  for (const h of route.headers ?? []) parameters.push(HEADER_PARAMS[h]);

  const codes = routeErrors(route);
  const responses: Json = {};
  for (const [status, r] of Object.entries(route.responses)) {
    const content = mediaContent(r);
    responses[status] = {
      description: r.description,
      ...(content ? { content } : {}),
      ...(r.headers
        ? {
            headers: Object.fromEntries(
              Object.entries(r.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }]),
            ),
          }
        : {}),
    };
  }
  Object.assign(responses, errorResponses(codes));

  const who =
    route.auth === 'public'
      ? 'Public: no credentials needed.'
      : `Needs role ${[...route.auth, ...(route.auth.includes('admin') ? [] : ['admin'])].map((r) => `\`${r}\``).join(' or ')}.`;
  return {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    description: [route.description, who, `Error codes: ${codes.map((c) => `\`${c}\``).join(', ')}.`]
      .filter(Boolean)
      .join('\n\n'),
    ...(route.auth === 'public' ? { security: [] } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: route.bodyRequired ?? false,
            content: {
              [route.bodyMedia === 'form' ? 'application/x-www-form-urlencoded' : 'application/json']: {
                schema: ref(route.body),
                ...(route.example ? { example: route.example } : {}),
              },
            },
          },
        }
      : {}),
    responses,
    'x-error-codes': codes,
    ...(route.auth === 'public' ? {} : { 'x-roles': route.auth }),
  };
}

/** The OpenAPI 3.1 document for the route table. Pure; the docs controller caches it. */
export function buildOpenApiDocument(routes: RouteDoc[] = ROUTES): OpenApiDocument {
  const inputs = convert(REQUEST_BODIES, 'input');
  for (const [name, docs] of Object.entries(FIELD_DOCS)) withFieldDocs(inputs[name], docs);
  const outputs = convert(RESPONSE_BODIES, 'output');
  const paths: OpenApiDocument['paths'] = {};
  for (const route of routes) (paths[route.path] ??= {})[route.method] = operation(route);
  return {
    openapi: '3.1.0',
    info: {
      title: 'osm-onboarding',
      version: packageVersion(),
      summary: 'Onboard and offboard Kubernetes namespaces into an osm-edge service mesh',
      description: DESCRIPTION + '### Error codes\n\n' + errorTable(),
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'onboarding', description: 'requests: create, plan, follow, cancel, retry' },
      { name: 'approvals', description: 'requests held by the approval policy' },
      { name: 'batches', description: 'several namespaces handled as a whole' },
      { name: 'namespaces', description: 'live namespace status per cluster; re-applying an onboarding' },
      { name: 'webhooks', description: 'signed event deliveries for chatops' },
      { name: 'integrations', description: 'callbacks from chat platforms (Slack)' },
      { name: 'audit', description: 'audit export' },
      { name: 'tokens', description: 'API tokens (admin)' },
      { name: 'operations', description: 'health, readiness, metrics' },
      { name: 'docs', description: 'this documentation' },
    ],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: { ...inputs, ...outputs },
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'an API token (`osmo_…`, or the bootstrap admin token) or an OIDC JWT',
        },
      },
    },
    externalDocs: { description: 'GraphQL: /graphql (schema committed as schema.graphql)', url: '/graphql' },
  };
}
