// Owns what the API answers, as zod schemas with their descriptions (over 400 lines: one schema per answer with every
// field described, sharing their pieces; split it by area if it grows): the OpenAPI response schemas are
// generated from these (src/docs/openapi.ts), the GraphQL object types take their descriptions from them and
// are checked against them (src/graphql/zod-types.ts), and test/integration/openapi.spec.ts parses real
// answers with them, strictly (an undocumented field fails the test). The shapes are those of
// src/onboarding/api/onboarding.presenter.ts, src/onboarding/planner.service.ts, src/auth/token.service.ts
// (presentToken), src/events/progress-event.ts, src/webhooks/webhook.service.ts, src/health/*.
// The objects are strict so the tests catch drift; the published schemas drop
// `additionalProperties: false` (clients must tolerate new fields).
import { z } from 'zod';
import { DOMAIN_ERROR_CODES, type ErrorCode } from '../common/domain-error.js';
import { RequestKind, RequestStatus, StepResult, StepStatus } from '../generated/prisma/enums.js';
import { RESTART_MODES, SmiSchema } from '../onboarding/onboarding.input.js';
import { ROLES } from '../auth/actor.js';
import { enumDescription } from './descriptions.js';
import { BATCH_STATUSES } from '../batches/batch-status.js';

const timestamp = z.iso.datetime({ offset: true }).describe('An RFC 3339 timestamp (UTC).');
const at = (what: string) => timestamp.describe(`When ${what} (RFC 3339, UTC).`);
const values = <T extends Record<string, string>>(e: T) => Object.values(e) as [T[keyof T], ...T[keyof T][]];

export const StepStatusSchema = z.enum(values(StepStatus)).describe(enumDescription('StepStatus'));
export const RequestStatusSchema = z
  .enum(values(RequestStatus))
  .meta({ id: 'RequestStatus', description: enumDescription('RequestStatus') });
export const RequestKindSchema = z.enum(values(RequestKind)).describe(enumDescription('RequestKind'));

export const FieldIssueSchema = z
  .strictObject({
    field: z.string().describe('The dotted path of the field, e.g. `restart.deployments` or `namespace`.'),
    message: z.string().describe('What is wrong with it.'),
  })
  .meta({ id: 'FieldIssue', description: 'One field at fault.' });

const errorCodes = [...DOMAIN_ERROR_CODES] as [ErrorCode, ...ErrorCode[]];
export const ErrorCodeSchema = z.enum(errorCodes).meta({
  id: 'ErrorCode',
  description: 'A stable machine-readable error code; see the table in the API description.',
});

export const ErrorBodySchema = z
  .strictObject({
    error: z.strictObject({
      code: ErrorCodeSchema,
      message: z.string().describe('What went wrong, for people.'),
      fields: z
        .array(FieldIssueSchema)
        .optional()
        .describe('The fields at fault (VALIDATION_FAILED names them, the first 20).'),
      hint: z.string().optional().describe('What to do about it.'),
      details: z.record(z.string(), z.unknown()).optional().describe('Machine-readable details, per code.'),
    }),
  })
  .meta({ id: 'Error', description: 'An error answer.' });

const name = (what: string) => z.string().describe(`The name of the ${what}.`);
const cluster = z.string().describe('The cluster: a kubeconfig context name.');
const namespace = z.string().describe('The namespace.');
const meshName = z.string().describe('The osm-edge mesh name.');
const errorMessage = z.string().nullable().describe('The error, for people; null unless it failed.');

export const RequestOptionsSchema = z
  .strictObject({
    sidecarInjection: z.enum(['enabled', 'disabled']),
    prerequisites: z.strictObject({ enabled: z.boolean(), acceptErrors: z.array(z.string()) }),
    trafficPolicy: z
      .union([
        z.strictObject({ mode: z.literal('permissive') }),
        z.strictObject({ mode: z.literal('smi'), smi: SmiSchema, switchMeshToSmi: z.literal(true).optional() }),
      ])
      .nullable(),
    apiServerAccess: z
      .union([
        z.strictObject({ method: z.literal('ip-exclusion') }),
        z.strictObject({ method: z.literal('egress'), serviceAccounts: z.array(z.string()) }),
      ])
      .nullable(),
    appProtocols: z.array(
      z.strictObject({
        service: z.string(),
        port: z.string(),
        appProtocol: z.enum(['http', 'tcp', 'tcp-server-first', 'grpc']),
      }),
    ),
    restart: z.strictObject({
      mode: z.enum(RESTART_MODES),
      deployments: z.array(z.string()),
      maxConcurrent: z.number().int(),
    }),
    verify: z.strictObject({ timeoutSeconds: z.number().int() }),
    metrics: z.boolean(),
    deleteOwnedPolicies: z.boolean(),
    removeApiServerExclusion: z.boolean(),
  })
  .meta({
    id: 'RequestOptions',
    description: 'The request options with every default applied, as the steps read them.',
  });

export const StepSchema = z
  .strictObject({
    name: z.string().describe('The step: prerequisites, mesh, namespace, restart, verify, namespace-removal, …'),
    position: z.number().int().describe('Its place in the request (0 first).'),
    status: StepStatusSchema,
    result: z
      .enum(values(StepResult))
      .nullable()
      .describe(`${enumDescription('StepResult')} Null until the step succeeded.`),
    attempts: z.number().int().describe('How many times the step was tried.'),
    before: z.unknown().describe('The relevant part of the objects before the step wrote (null until it ran).'),
    after: z.unknown().describe('The same part after the step.'),
    output: z
      .unknown()
      .describe('The step output: the exact writes (`changes`), diagnostics, facts; for a dry run the stored plan.'),
    errorCode: z.string().nullable().describe('Why the step failed: an error code; null unless it failed.'),
    errorMessage,
    startedAt: at('the step started').nullable(),
    finishedAt: at('the step finished').nullable(),
    durationMs: z.number().int().nullable().describe('How long it ran, in milliseconds.'),
  })
  .meta({ id: 'Step', description: 'One step of a request, as it ran.' });

const ApprovalSchema = z
  .strictObject({
    approver: z.string().describe('Who decided (an actor id).'),
    decision: z.enum(['approve', 'reject']).describe('The decision: approve or reject.'),
    reason: z.string().nullable().describe('The comment (approve) or reason (reject).'),
    at: at('the decision was taken'),
  })
  .describe("One approver's decision on a request.");

const approvalRule = z.string().nullable().describe('The approval policy rule that matched.');
const meshWideChanges = z
  .array(z.string())
  .describe('The mesh-wide (MeshConfig) changes this request makes; approvers need a mesh grant.');

export const RequestSchema = z
  .strictObject({
    id: z.uuid().describe('The request id.'),
    kind: RequestKindSchema,
    cluster,
    namespace,
    meshName,
    sidecarInjection: z
      .enum(['enabled', 'disabled'])
      .nullable()
      .describe('The sidecar injection setting it applies; null for an offboarding.'),
    options: RequestOptionsSchema,
    status: RequestStatusSchema,
    requestedBy: z.string().describe('The authenticated caller, e.g. `token:ci-bot` or `oidc:<subject>`.'),
    idempotencyKey: z.string().nullable().describe('The Idempotency-Key it was created with, if any.'),
    errorCode: z
      .string()
      .nullable()
      .describe(
        'Why the request failed: an error code from the table (e.g. NAMESPACE_NOT_FOUND, KUBE_FORBIDDEN) or CANCELLED.',
      ),
    errorMessage,
    attempt: z.number().int().describe('The attempt number: 1, plus one for each retry.'),
    batchId: z.uuid().nullable().describe('The batch the request belongs to, if any.'),
    approvalsRequired: z.number().int().describe('Distinct approvers the approval policy asks for (0 = none).'),
    approvalsGiven: z.number().int().describe('Distinct approvals given so far (they stay counted across retries).'),
    approvalRule,
    meshWideChanges,
    approvals: z.array(ApprovalSchema).describe('The approvers’ decisions, oldest first.'),
    lastEventCursor: z
      .number()
      .int()
      .describe('The cursor of the latest progress event (resume the event stream after it).'),
    createdAt: at('the request was made'),
    updatedAt: at('the request last changed'),
    startedAt: at('a worker first started it').nullable(),
    finishedAt: at('it finished').nullable(),
    steps: z.array(StepSchema).describe('Its steps, in order.'),
  })
  .meta({ id: 'Request', description: 'A request to onboard or offboard one namespace, with its steps.' });

export const AcceptedSchema = z
  .strictObject({
    id: z.uuid().describe('The request id.'),
    status: RequestStatusSchema,
    request: RequestSchema,
    links: z
      .strictObject({
        self: z.string().describe('The request.'),
        audit: z.string().describe('Its audit trail.'),
        events: z.string().describe('Its progress as Server-Sent Events.'),
      })
      .describe('Where to follow it.'),
  })
  .meta({ id: 'Accepted', description: 'A request accepted (or replayed), with where to follow it.' });

const pageInfo = z
  .strictObject({
    hasNextPage: z.boolean().describe('More items follow.'),
    endCursor: z.string().nullable().describe('Pass as `after` for the next page.'),
  })
  .describe('Where the page ends.');

export const RequestPageSchema = z
  .strictObject({ items: z.array(RequestSchema).describe('The requests, newest first.'), pageInfo })
  .meta({ id: 'RequestPage', description: 'One page of requests.' });

export const AuditEventSchema = z
  .strictObject({
    id: z
      .string()
      .describe(
        "The event's id: `<requestId>:<cursor>` for a request's event; for an event of no request (token and " +
          'webhook events, shown to admins only), the global event number, as a string.',
      ),
    requestId: z.uuid().nullable().describe('The request it is about, if any.'),
    cursor: z.number().int().nullable().describe('The per-request event cursor (as the event stream).'),
    actor: z.string().describe('Who did it: an actor id, or `system` for the workers.'),
    action: z.string().describe('What happened, e.g. request.created, step.applying, step.succeeded, token.created.'),
    cluster: z.string().nullable().describe('The cluster, when it is about one.'),
    namespace: z.string().nullable().describe('The namespace, when it is about one.'),
    target: z.string().nullable().describe('The object acted on, e.g. `Namespace/bookbuyer`.'),
    step: z.string().nullable().describe('The step, when a step did it.'),
    data: z.unknown().describe('What the action recorded (never secrets).'),
    createdAt: at('it happened'),
  })
  .meta({ id: 'AuditEvent', description: 'One append-only audit record.' });

export const AuditPageSchema = z
  .strictObject({
    items: z.array(AuditEventSchema).describe('The audit events in cursor order.'),
    pageInfo: z
      .strictObject({
        hasNextPage: z.boolean().describe('More events follow: ask again with `after` = `endCursor`.'),
        endCursor: z.number().int().nullable().describe('The cursor of the last event of this page (null: none).'),
      })
      .describe('Where this page ends.'),
  })
  .meta({ id: 'AuditPage', description: "A page of a request's audit trail." });

const DiagnosticSchema = z
  .strictObject({
    code: z.string().describe('A stable diagnostic code, e.g. `OSM_RESERVED_UID`.'),
    level: z.enum(['error', 'warning', 'info']).describe('How serious: error, warning or info.'),
    message: z.string().describe('What was found, for people.'),
    object: z.string().optional().describe('The object it is about, e.g. `Deployment/bookbuyer`.'),
    hint: z.string().optional().describe('What to do about it.'),
    accepted: z
      .boolean()
      .optional()
      .describe('An error the request accepted (prerequisites.acceptErrors): reported, not blocking.'),
  })
  .describe('A finding of a step’s checks.');

const ChangeSchema = z.strictObject({
  action: z.enum(['patch', 'create', 'update', 'delete']),
  target: z.strictObject({
    apiVersion: z.string(),
    kind: z.string(),
    namespace: z.string().optional(),
    name: z.string(),
  }),
  patchType: z.string().optional(),
  body: z.unknown(),
});

const StepErrorSchema = z
  .strictObject({
    code: z.string().describe('The error code the step would fail with.'),
    message: z.string().describe('Why, for people.'),
    hint: z.string().optional().describe('What to do about it.'),
  })
  .nullable()
  .describe('Set when the step would refuse, or could not read the cluster.');

const PlanApprovalSchema = z
  .strictObject({
    meshWideChanges: z.array(z.string()).describe('The mesh-wide (MeshConfig) changes the request makes.'),
    meshGrant: z.boolean().describe('The caller holds a mesh grant (admin, or scope `<cluster>/mesh:<mesh>`).'),
    outcome: z
      .enum(['allowed', 'needs-approval', 'forbidden'])
      .describe(
        'What would happen: allowed, needs-approval, or forbidden (a mesh-wide change without a grant, ' +
          'MESH_WIDE_CHANGES=refuse).',
      ),
    approvalsRequired: z.number().int().describe('Distinct approvals it would wait for.'),
    rule: z.string().nullable().describe('The approval rule(s) that apply.'),
  })
  .describe('What submitting this request would need before it runs.');

export const PlanSchema = z
  .strictObject({
    kind: RequestKindSchema,
    cluster,
    namespace,
    meshName,
    options: RequestOptionsSchema,
    steps: z
      .array(
        z
          .strictObject({
            name: z.string().describe('The step.'),
            title: z.string().describe('What the step does, in a few words.'),
            changes: z
              .array(ChangeSchema)
              .describe(
                'The exact writes the step would send now (action, target object, patchType, body); ' +
                  'empty when nothing would change.',
              ),
            summary: z.string().describe('What the step would do, in one line.'),
            before: z.unknown().describe('The relevant part of the objects now.'),
            diagnostics: z.array(DiagnosticSchema).describe('What its checks found.'),
            facts: z.record(z.string(), z.unknown()).describe('What the step read, e.g. the API server address.'),
            error: StepErrorSchema,
          })
          .describe('What one step would do now.'),
      )
      .describe('Each step that would run, in order.'),
    diagnostics: z.array(DiagnosticSchema).describe('Every step’s diagnostics together.'),
    blocked: z.boolean().describe('A step would refuse: applying now would fail.'),
    approval: PlanApprovalSchema,
  })
  .meta({ id: 'Plan', description: 'A dry run: what each step would write now, and what it found.' });

export const TokenSchema = z
  .strictObject({
    id: z.uuid().describe('The token id.'),
    name: z.string().describe('The unique token name; its actor id is `token:<name>`.'),
    prefix: z.string().describe('The first characters of the secret, to recognise it.'),
    roles: z.array(z.enum(ROLES)).describe('Its roles: viewer, requester, approver, admin.'),
    scopes: z.array(z.string()).describe('The `<cluster>/<namespace>` patterns it may act on.'),
    createdBy: z.string().describe('The admin who created it.'),
    createdAt: at('it was created'),
    expiresAt: at('it expires').nullable(),
    lastUsedAt: at('it was last used').nullable(),
    revokedAt: at('it was revoked').nullable(),
  })
  .meta({ id: 'Token', description: 'An API token (never its secret).' });

export const TokenCreatedSchema = z
  .strictObject({
    token: z.string().describe('The secret: shown in this response only, stored as a hash.'),
    record: TokenSchema,
  })
  .meta({ id: 'TokenCreated', description: 'A new API token and its secret.' });

export const TokenListSchema = z
  .strictObject({ items: z.array(TokenSchema).describe('Every token, oldest first.') })
  .meta({ id: 'TokenList', description: 'The API tokens.' });

export const ProgressEventSchema = z
  .strictObject({
    id: z.string().describe("The event's identity: `<requestId>:<cursor>`."),
    batchCursor: z
      .string()
      .optional()
      .describe('In a batch stream only: pass it as `after` (or `Last-Event-ID`) to resume after this event.'),
    requestId: z.uuid().describe('The request.'),
    cursor: z.number().int().describe('1, 2, 3… per request: orders its events and resumes a stream (the SSE `id`).'),
    type: z
      .string()
      .describe(
        'The SSE `event`: request.created, request.started, step.started, step.applying, step.succeeded, ' +
          'step.retrying, step.failed, request.succeeded, request.failed, …',
      ),
    actor: z.string().describe('Who caused it: an actor id, or `system`.'),
    step: z.string().nullable().describe('The step, for step events.'),
    message: z.string().describe('What happened, for people.'),
    data: z.record(z.string(), z.unknown()).describe('What the event recorded.'),
    at: at('it happened'),
  })
  .meta({ id: 'ProgressEvent', description: 'A progress event of a request.' });

export const HealthSchema = z
  .strictObject({ status: z.literal('ok').describe('Always `ok`.') })
  .meta({ id: 'Health', description: 'The process answers.' });

const check = z.enum(['ok', 'unavailable']);
export const ReadySchema = z
  .strictObject({
    status: z.enum(['ready', 'not-ready']).describe('Ready, or not-ready.'),
    checks: z
      .strictObject({
        postgres: check,
        redis: check,
        schema: z
          .enum(['ok', 'behind', 'unknown'])
          .describe('Whether the database is migrated for this version (behind: /readyz is 503; unknown: not asked).'),
        cluster: check,
        draining: z.boolean(),
      })
      .describe('Each dependency, and whether the process is shutting down.'),
  })
  .meta({ id: 'Ready', description: 'Whether the process can serve.' });

export const BatchSchema = z
  .strictObject({
    id: z.uuid().describe('The batch id.'),
    kind: RequestKindSchema,
    requestedBy: z.string().describe('The caller who made the batch.'),
    createdAt: at('the batch was made'),
    status: z
      .enum(BATCH_STATUSES)
      .describe(
        'The aggregate status of the members. While one is active: RUNNING (one RUNNING or QUEUED), else ' +
          'PENDING_APPROVAL, else PLANNED. Once all ended: SUCCEEDED only when all succeeded; PARTIALLY_FAILED ' +
          'when some succeeded and some FAILED; PARTIALLY_SUCCEEDED when some succeeded and the others were ' +
          'CANCELLED or REJECTED; when none succeeded, FAILED, else REJECTED, else CANCELLED.',
      ),
    counts: z
      .record(z.string(), z.number().int())
      .describe('The members by status, e.g. {"SUCCEEDED": 3, "RUNNING": 1}.'),
    requests: z.array(RequestSchema).describe("The members within the caller's scopes."),
  })
  .meta({ id: 'Batch', description: 'Several requests made together, one per target.' });

export const BatchPlansSchema = z
  .strictObject({ plans: z.array(PlanSchema).describe('One plan per target.') })
  .meta({ id: 'BatchPlans', description: 'A dry run of every target of a batch.' });

export const BatchOperationSchema = z
  .strictObject({
    batch: BatchSchema,
    results: z
      .array(
        z
          .strictObject({
            requestId: z.uuid().describe('The member request.'),
            namespace: z.string().describe('Its namespace.'),
            ok: z.boolean().describe('The operation applied to it.'),
            code: z.string().nullable().describe('The error code when this member refused the operation.'),
            message: z.string().nullable().describe('Why it refused, for people.'),
          })
          .describe('The outcome of a batch operation for one member.'),
      )
      .describe('The outcome per member.'),
  })
  .meta({ id: 'BatchOperation', description: 'A batch after an operation, and the outcome per member.' });

export const WebhookSchema = z
  .strictObject({
    id: z.uuid().describe('The webhook id.'),
    url: z.string().describe('The http(s) URL the events are POSTed to.'),
    eventTypes: z.array(z.string()).describe('The event types or patterns: request.succeeded, request.*, *.'),
    description: z.string().nullable().describe('A note for people.'),
    format: z.enum(['json', 'slack']).describe(enumDescription('WebhookFormat')),
    owner: z.string().describe('The actor that created it; deliveries are limited to its scopes.'),
    scopes: z.array(z.string()).describe("The owner's scopes: only events of requests inside them are delivered."),
    createdAt: at('it was created'),
    updatedAt: at('it last changed'),
  })
  .meta({ id: 'Webhook', description: 'A webhook subscription; its secret is never returned.' });

export const WebhookCreatedSchema = z
  .strictObject({
    webhook: WebhookSchema,
    secret: z
      .string()
      .optional()
      .describe('The signing secret, only when the service generated it (shown in this response only).'),
  })
  .meta({ id: 'WebhookCreated', description: 'A new webhook subscription.' });

export const WebhookListSchema = z
  .strictObject({ items: z.array(WebhookSchema).describe('The subscriptions.') })
  .meta({ id: 'WebhookList', description: "The caller's webhook subscriptions." });

export const WebhookDeliverySchema = z
  .strictObject({
    id: z.uuid().describe('The delivery id.'),
    webhookId: z.uuid().describe('The webhook.'),
    requestId: z.uuid().describe('The request the event is about.'),
    cursor: z.number().int().describe('The event cursor within that request.'),
    eventType: z.string().describe('The event type, e.g. request.succeeded.'),
    status: z.enum(['PENDING', 'RETRYING', 'SUCCEEDED', 'FAILED']).describe(enumDescription('WebhookDeliveryStatus')),
    attempts: z.number().int().describe('How many sends were tried.'),
    lastResponseCode: z.number().int().nullable().describe('The HTTP status of the last attempt, if it got one.'),
    lastError: z.string().nullable().describe('Why the last attempt failed, if it did.'),
    nextAttemptAt: at('it is tried next').nullable(),
    deliveredAt: at('the receiver accepted it').nullable(),
    createdAt: at('the delivery was queued'),
    payload: z.unknown().describe('The JSON body sent (with its human-readable `summary`).'),
    history: z
      .array(
        z
          .strictObject({
            attempt: z.number().int().describe('The attempt number: 1 for the first send.'),
            responseCode: z.number().int().nullable().describe('The HTTP status, if the receiver answered.'),
            error: z.string().nullable().describe('Why it failed, if it did.'),
            durationMs: z.number().int().describe('How long it took, in milliseconds.'),
            at: at('it was sent'),
          })
          .describe('One send of a delivery.'),
      )
      .describe('Every attempt, oldest first.'),
  })
  .meta({ id: 'WebhookDelivery', description: 'One event sent (or to be sent) to a webhook.' });

export const WebhookDeliveryPageSchema = z
  .strictObject({ items: z.array(WebhookDeliverySchema).describe('The deliveries, newest first.'), pageInfo })
  .meta({ id: 'WebhookDeliveryPage', description: "One page of a webhook's deliveries." });

// Slack interactions (src/integrations/slack/slack-interactions.service.ts: SlackInteractionAnswer).
export const SlackInteractionAnswerSchema = z
  .strictObject({
    text: z.string().describe('A short line for the person who pressed the button.'),
    requestId: z.uuid().nullable().describe('The request decided on; null when the press was not ours.'),
    status: RequestStatusSchema.nullable().describe('Its status after the decision.'),
  })
  .meta({ id: 'SlackInteractionAnswer', description: 'The answer to a Slack button press.' });

// Namespace status (src/namespaces/namespace-status.service.ts).
const NamespaceStatusSchema = z
  .strictObject({
    name: name('namespace'),
    phase: z.string().nullable().describe('The Kubernetes phase: Active or Terminating.'),
    monitoredBy: z
      .string()
      .nullable()
      .describe('The mesh monitoring the namespace (openservicemesh.io/monitored-by), or null.'),
    sidecarInjection: z
      .string()
      .nullable()
      .describe('The injection annotation as osm-edge reads it: enabled, disabled or invalid; null when unset.'),
    ignored: z.boolean().describe('The `openservicemesh.io/ignore` label is present: osm-edge skips the namespace.'),
    pods: z
      .strictObject({
        total: z.number().int().describe('Pods not finished.'),
        withSidecar: z.number().int().describe('Of those, pods with the osm-edge sidecar.'),
        withoutSidecar: z.number().int().describe('Of those, pods without it.'),
      })
      .nullable()
      .describe('Pods not finished, by sidecar; null when they could not be listed.'),
    podsError: z.string().nullable().describe('Why `pods` is null.'),
    lastRequest: z
      .strictObject({
        id: z.uuid().describe('The request id.'),
        kind: RequestKindSchema,
        status: RequestStatusSchema,
        meshName,
        requestedBy: z.string().describe('The caller who made it.'),
        errorCode: z.string().nullable().describe('Why it failed, if it did.'),
        errorMessage,
        createdAt: at('it was made'),
        finishedAt: at('it finished').nullable(),
      })
      .nullable()
      .describe('Our newest request for this namespace.'),
  })
  .describe('Where a namespace stands: its mesh, injection, sidecar pods and our last request.');

export const NamespaceStatusPageSchema = z
  .strictObject({
    cluster,
    items: z.array(NamespaceStatusSchema).describe('The namespaces, by name.'),
    pageInfo: z
      .strictObject({
        hasNextPage: z.boolean().describe('More namespaces follow.'),
        continue: z.string().nullable().describe('Pass as `continue` for the next page.'),
      })
      .describe('Where the page ends.'),
    apiCalls: z.number().int().describe('Kubernetes API calls this page cost.'),
  })
  .meta({ id: 'NamespaceStatusPage', description: 'One page of the namespaces of a cluster.' });

// Audit export rows (src/audit-export/audit-export.service.ts: ExportRow), one per JSON line or CSV row.
export const AuditExportRowSchema = AuditEventSchema;
