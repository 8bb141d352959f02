import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../common/domain-error.js';
import { RequestKind, RequestStatus, StepResult, StepStatus } from '../generated/prisma/enums.js';
import { RESTART_MODES, SmiSchema } from '../onboarding/onboarding.input.js';
import { ROLES } from '../auth/actor.js';

// What the REST API answers, as zod schemas: the OpenAPI response schemas are generated from
// these (src/docs/openapi.ts), and test/integration/openapi.spec.ts parses real answers with
// them, strictly (an undocumented field fails the test). They mirror, in order:
// src/onboarding/api/onboarding.presenter.ts, src/onboarding/planner.service.ts,
// src/auth/token.service.ts (presentToken), src/events/progress-event.ts, src/health/*.
// The objects are strict so the tests catch drift; the published schemas drop
// `additionalProperties: false` (clients must tolerate new fields).

const timestamp = z.iso.datetime({ offset: true }).describe('RFC 3339 timestamp (UTC)');
const values = <T extends Record<string, string>>(e: T) => Object.values(e) as [T[keyof T], ...T[keyof T][]];

export const StepStatusSchema = z.enum(values(StepStatus));
export const RequestStatusSchema = z
  .enum(values(RequestStatus))
  .describe(
    'PLANNED (dry run stored, not queued) · PENDING_APPROVAL · QUEUED · RUNNING · SUCCEEDED · FAILED · CANCELLED · REJECTED',
  )
  .meta({ id: 'RequestStatus' });
export const RequestKindSchema = z.enum(values(RequestKind));

export const FieldIssueSchema = z
  .strictObject({
    field: z.string().describe('dotted path of the field, e.g. `restart.deployments` or `namespace`'),
    message: z.string(),
  })
  .meta({ id: 'FieldIssue' });

const errorCodes = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];
export const ErrorCodeSchema = z
  .enum(errorCodes)
  .describe('stable machine-readable error code; see the table in the API description')
  .meta({ id: 'ErrorCode' });

export const ErrorBodySchema = z
  .strictObject({
    error: z.strictObject({
      code: ErrorCodeSchema,
      message: z.string(),
      fields: z.array(FieldIssueSchema).optional().describe('the fields at fault (VALIDATION_FAILED names every one)'),
      hint: z.string().optional(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .meta({ id: 'Error' });

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
  .describe('the request options with every default applied, as the steps read them')
  .meta({ id: 'RequestOptions' });

export const StepSchema = z
  .strictObject({
    name: z.string().describe('step name, e.g. prerequisites, mesh, namespace, restart, verify, namespace-removal'),
    position: z.number().int(),
    status: StepStatusSchema,
    result: z
      .enum(values(StepResult))
      .nullable()
      .describe('CHANGED when the step wrote to the cluster, UNCHANGED when it found nothing to do'),
    attempts: z.number().int(),
    before: z.unknown().describe('the relevant part of the objects before the step (null until it ran)'),
    after: z.unknown().describe('the same part after the step'),
    output: z
      .unknown()
      .describe('step output: the exact writes (`changes`), diagnostics, facts; for a dry run the stored plan'),
    errorCode: z.string().nullable(),
    errorMessage: z.string().nullable(),
    startedAt: timestamp.nullable(),
    finishedAt: timestamp.nullable(),
    durationMs: z.number().int().nullable(),
  })
  .meta({ id: 'Step' });

export const RequestSchema = z
  .strictObject({
    id: z.uuid(),
    kind: RequestKindSchema,
    cluster: z.string(),
    namespace: z.string(),
    meshName: z.string(),
    sidecarInjection: z.enum(['enabled', 'disabled']).nullable().describe('null for offboarding'),
    options: RequestOptionsSchema,
    status: RequestStatusSchema,
    requestedBy: z.string().describe('the authenticated caller, e.g. `token:ci-bot` or `oidc:<subject>`'),
    idempotencyKey: z.string().nullable(),
    errorCode: z
      .string()
      .nullable()
      .describe(
        'why the request failed: an error code from the table (e.g. NAMESPACE_NOT_FOUND, KUBE_FORBIDDEN) or CANCELLED',
      ),
    errorMessage: z.string().nullable(),
    attempt: z.number().int().describe('1, plus one for each retry'),
    batchId: z.uuid().nullable().describe('the batch the request belongs to, if any'),
    approvalsRequired: z.number().int().describe('distinct approvers the approval policy asks for (0 = none)'),
    approvalsGiven: z.number().int().describe('distinct approvals given so far (they stay counted across retries)'),
    approvalRule: z.string().nullable().describe('the approval policy rule that matched'),
    meshWideChanges: z
      .array(z.string())
      .describe('the mesh-wide (MeshConfig) changes this request makes; approvers need a mesh grant'),
    approvals: z.array(
      z.strictObject({
        approver: z.string(),
        decision: z.enum(['approve', 'reject']),
        reason: z.string().nullable(),
        at: timestamp,
      }),
    ),
    lastEventCursor: z
      .number()
      .int()
      .describe('cursor of the latest progress event (resume the event stream after it)'),
    createdAt: timestamp,
    updatedAt: timestamp,
    startedAt: timestamp.nullable(),
    finishedAt: timestamp.nullable(),
    steps: z.array(StepSchema),
  })
  .meta({ id: 'Request' });

export const AcceptedSchema = z
  .strictObject({
    id: z.uuid(),
    status: RequestStatusSchema,
    request: RequestSchema,
    links: z.strictObject({ self: z.string(), audit: z.string(), events: z.string() }),
  })
  .meta({ id: 'Accepted' });

export const RequestPageSchema = z
  .strictObject({
    items: z.array(RequestSchema),
    pageInfo: z.strictObject({
      hasNextPage: z.boolean(),
      endCursor: z.string().nullable().describe('pass as `after` for the next page'),
    }),
  })
  .meta({ id: 'RequestPage' });

export const AuditEventSchema = z
  .strictObject({
    id: z.string().describe('a 64-bit integer, as a string'),
    requestId: z.uuid().nullable(),
    cursor: z.number().int().nullable().describe('the per-request event cursor (same as the event stream)'),
    actor: z.string(),
    action: z
      .string()
      .describe('e.g. request.created, step.applying, step.succeeded, request.succeeded, token.created'),
    cluster: z.string().nullable(),
    namespace: z.string().nullable(),
    target: z.string().nullable(),
    step: z.string().nullable(),
    data: z.unknown(),
    createdAt: timestamp,
  })
  .meta({ id: 'AuditEvent' });

export const AuditPageSchema = z.strictObject({ items: z.array(AuditEventSchema) }).meta({ id: 'AuditPage' });

const DiagnosticSchema = z.strictObject({
  code: z.string(),
  level: z.enum(['error', 'warning', 'info']),
  message: z.string(),
  object: z.string().optional(),
  hint: z.string().optional(),
  accepted: z
    .boolean()
    .optional()
    .describe('an error the request accepted (prerequisites.acceptErrors): reported, not blocking'),
});

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

export const PlanSchema = z
  .strictObject({
    kind: RequestKindSchema,
    cluster: z.string(),
    namespace: z.string(),
    meshName: z.string(),
    options: RequestOptionsSchema,
    steps: z.array(
      z.strictObject({
        name: z.string(),
        title: z.string(),
        changes: z
          .array(ChangeSchema)
          .describe('the exact writes the step would send now; empty when nothing would change'),
        summary: z.string(),
        before: z.unknown(),
        diagnostics: z.array(DiagnosticSchema),
        facts: z.record(z.string(), z.unknown()),
        error: z
          .strictObject({ code: z.string(), message: z.string(), hint: z.string().optional() })
          .nullable()
          .describe('set when the step would refuse, or could not read the cluster'),
      }),
    ),
    diagnostics: z.array(DiagnosticSchema),
    blocked: z.boolean().describe('true when a step would refuse: applying now would fail'),
    approval: z
      .strictObject({
        meshWideChanges: z.array(z.string()).describe('the mesh-wide (MeshConfig) changes the request makes'),
        meshGrant: z.boolean().describe('the caller holds a mesh grant (admin, or scope `<cluster>/mesh:<mesh>`)'),
        outcome: z.enum(['allowed', 'needs-approval', 'forbidden']),
        approvalsRequired: z.number().int(),
        rule: z.string().nullable(),
      })
      .describe('what submitting this request would need before it runs'),
  })
  .meta({ id: 'Plan' });

export const TokenSchema = z
  .strictObject({
    id: z.uuid(),
    name: z.string(),
    prefix: z.string().describe('the first characters of the secret, to recognise it'),
    roles: z.array(z.enum(ROLES)),
    scopes: z.array(z.string()),
    createdBy: z.string(),
    createdAt: timestamp,
    expiresAt: timestamp.nullable(),
    lastUsedAt: timestamp.nullable(),
    revokedAt: timestamp.nullable(),
  })
  .meta({ id: 'Token' });

export const TokenCreatedSchema = z
  .strictObject({
    token: z.string().describe('the secret: shown in this response only, stored as a hash'),
    record: TokenSchema,
  })
  .meta({ id: 'TokenCreated' });

export const TokenListSchema = z.strictObject({ items: z.array(TokenSchema) }).meta({ id: 'TokenList' });

export const ProgressEventSchema = z
  .strictObject({
    id: z.string().describe('the global audit event id (the cursor of a batch stream)'),
    requestId: z.uuid(),
    cursor: z.number().int().describe('1, 2, 3… per request; the SSE `id`'),
    type: z
      .string()
      .describe(
        'the SSE `event`: request.created, step.applying, step.succeeded, request.succeeded, request.failed, …',
      ),
    actor: z.string(),
    step: z.string().nullable(),
    message: z.string(),
    data: z.record(z.string(), z.unknown()),
    at: timestamp,
  })
  .meta({ id: 'ProgressEvent' });

export const HealthSchema = z.strictObject({ status: z.literal('ok') }).meta({ id: 'Health' });

const check = z.enum(['ok', 'unavailable']);
export const ReadySchema = z
  .strictObject({
    status: z.enum(['ready', 'not-ready']),
    checks: z.strictObject({ postgres: check, redis: check, cluster: check, draining: z.boolean() }),
  })
  .meta({ id: 'Ready' });

export const BatchSchema = z
  .strictObject({
    id: z.uuid(),
    kind: RequestKindSchema,
    requestedBy: z.string(),
    createdAt: timestamp,
    status: z.string().describe('aggregate status of the members'),
    counts: z.record(z.string(), z.number().int()).describe('members by status, e.g. {"SUCCEEDED": 3, "RUNNING": 1}'),
    requests: z.array(RequestSchema).describe("the members within the caller's scopes"),
  })
  .meta({ id: 'Batch' });

export const BatchPlansSchema = z.strictObject({ plans: z.array(PlanSchema) }).meta({ id: 'BatchPlans' });

export const BatchOperationSchema = z
  .strictObject({
    batch: BatchSchema,
    results: z.array(
      z.strictObject({
        requestId: z.uuid(),
        namespace: z.string(),
        ok: z.boolean(),
        code: z.string().nullable().describe('the error code when this member refused the operation'),
        message: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: 'BatchOperation' });

// Webhooks (src/webhooks/webhook.service.ts: presentWebhook, presentDelivery).
export const WebhookSchema = z
  .strictObject({
    id: z.uuid(),
    url: z.string(),
    eventTypes: z.array(z.string()).describe('event types or patterns: request.succeeded, request.*, *'),
    description: z.string().nullable(),
    format: z.enum(['json', 'slack']).describe('json: our event document; slack: a Slack incoming-webhook message'),
    owner: z.string().describe('the actor that created it; deliveries are limited to its scopes'),
    scopes: z.array(z.string()),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Webhook' });

export const WebhookCreatedSchema = z
  .strictObject({
    webhook: WebhookSchema,
    secret: z.string().optional().describe('the signing secret, only when the service generated it (shown once)'),
  })
  .meta({ id: 'WebhookCreated' });

export const WebhookListSchema = z.strictObject({ items: z.array(WebhookSchema) }).meta({ id: 'WebhookList' });

export const WebhookDeliverySchema = z
  .strictObject({
    id: z.uuid(),
    webhookId: z.uuid(),
    requestId: z.uuid().nullable(),
    cursor: z.number().int().nullable(),
    eventType: z.string(),
    status: z.enum(['PENDING', 'RETRYING', 'SUCCEEDED', 'FAILED']),
    attempts: z.number().int(),
    lastResponseCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    nextAttemptAt: timestamp.nullable(),
    deliveredAt: timestamp.nullable(),
    createdAt: timestamp,
    payload: z.unknown().describe('the JSON body sent (with its human-readable `summary`)'),
    history: z.array(
      z.strictObject({
        attempt: z.number().int(),
        responseCode: z.number().int().nullable(),
        error: z.string().nullable(),
        durationMs: z.number().int().nullable(),
        at: timestamp,
      }),
    ),
  })
  .meta({ id: 'WebhookDelivery' });

export const WebhookDeliveryPageSchema = z
  .strictObject({
    items: z.array(WebhookDeliverySchema),
    pageInfo: z.strictObject({ hasNextPage: z.boolean(), endCursor: z.string().nullable() }),
  })
  .meta({ id: 'WebhookDeliveryPage' });

// Slack interactions (src/integrations/slack/slack-interactions.service.ts: SlackInteractionAnswer).
export const SlackInteractionAnswerSchema = z
  .strictObject({
    text: z.string().describe('a short line for the person who pressed the button'),
    requestId: z.uuid().nullable().describe('the request decided on; null when the press was not ours'),
    status: RequestStatusSchema.nullable().describe('its status after the decision'),
  })
  .meta({ id: 'SlackInteractionAnswer' });

// Namespace status (src/namespaces/namespace-status.service.ts).
export const NamespaceStatusPageSchema = z
  .strictObject({
    cluster: z.string(),
    items: z.array(
      z.strictObject({
        name: z.string(),
        phase: z.string().nullable(),
        monitoredBy: z
          .string()
          .nullable()
          .describe('the mesh monitoring the namespace (openservicemesh.io/monitored-by), or null'),
        sidecarInjection: z.string().nullable().describe('enabled, disabled, invalid, or null when unset'),
        ignored: z.boolean().describe('openservicemesh.io/ignore is present'),
        pods: z
          .strictObject({ total: z.number().int(), withSidecar: z.number().int(), withoutSidecar: z.number().int() })
          .nullable(),
        podsError: z.string().nullable(),
        lastRequest: z
          .strictObject({
            id: z.uuid(),
            kind: RequestKindSchema,
            status: RequestStatusSchema,
            meshName: z.string(),
            requestedBy: z.string(),
            errorCode: z.string().nullable(),
            errorMessage: z.string().nullable(),
            createdAt: timestamp,
            finishedAt: timestamp.nullable(),
          })
          .nullable(),
      }),
    ),
    pageInfo: z.strictObject({
      hasNextPage: z.boolean(),
      continue: z.string().nullable().describe('pass as `continue` for the next page'),
    }),
    apiCalls: z.number().int().describe('Kubernetes API calls this page cost'),
  })
  .meta({ id: 'NamespaceStatusPage' });

// Audit export rows (src/audit/audit-export.service.ts: ExportRow), one per JSON line or CSV row.
export const AuditExportRowSchema = AuditEventSchema;
