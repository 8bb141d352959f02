// Owns the API's words that are not a field of a zod schema: what each enum value means and what each
// GraphQL argument / REST path parameter is. The zod enum schemas (./response-schemas.ts) are described
// from ENUM_DESCRIPTIONS, GraphQL enum values and arguments get them through describeSchema()
// (src/graphql/zod-types.ts), and the OpenAPI path parameters take PARAM_DESCRIPTIONS.

interface EnumDoc<V extends string> {
  description: string;
  values: Record<V, string>;
}

const REQUEST_STATUS = {
  PLANNED: 'A dry run stored with its plan; nothing is queued until it is applied.',
  PENDING_APPROVAL: 'Held by the approval policy until enough approvers approve it.',
  QUEUED: 'Waiting for a worker.',
  RUNNING: 'A worker is running its steps.',
  SUCCEEDED: 'Every step finished.',
  FAILED: 'A step failed; see `errorCode` (it can be retried).',
  CANCELLED: 'Cancelled before it finished (it can be retried).',
  REJECTED: 'An approver rejected it.',
};

export const ENUM_DESCRIPTIONS: Record<string, EnumDoc<string>> = {
  RequestKind: {
    description: 'What a request does to its namespace.',
    values: {
      ONBOARD: 'Add the namespace to a mesh (`osm namespace add`) with the chosen steps.',
      OFFBOARD: 'Take the namespace out of its mesh (`osm namespace remove`).',
    },
  },
  RequestStatus: { description: 'Where a request stands in its lifecycle.', values: REQUEST_STATUS },
  StepStatus: {
    description: 'Where one step of a request stands.',
    values: {
      PENDING: 'Not started yet.',
      RUNNING: 'Running now.',
      SUCCEEDED: 'Finished (see `result`).',
      FAILED: 'Failed; the request fails with it.',
      SKIPPED: 'Not run: the request does not ask for it.',
      CANCELLED: 'Not run: the request was cancelled first.',
    },
  },
  StepResult: {
    description: 'What a finished step did to the cluster.',
    values: {
      CHANGED: 'The step wrote to the cluster.',
      UNCHANGED: 'The cluster was already in the desired state; nothing was written.',
    },
  },
  SidecarInjection: {
    description: "The namespace's sidecar injection setting (`openservicemesh.io/sidecar-injection`).",
    values: {
      enabled: 'New pods get the osm-edge sidecar.',
      disabled: 'Pods are not injected (`--disable-sidecar-injection`).',
    },
  },
  WebhookDeliveryStatus: {
    description: 'Where one webhook delivery stands.',
    values: {
      PENDING: 'Not sent yet.',
      RETRYING: 'A send failed; it is retried with backoff.',
      SUCCEEDED: 'The receiver answered 2xx.',
      FAILED: 'Every attempt failed; no more retries.',
    },
  },
  WebhookFormat: {
    description: 'What each delivery of a webhook carries.',
    values: {
      json: 'Our signed event document.',
      slack: 'A Slack incoming-webhook message (Block Kit).',
    },
  },
};

/** An enum's description with each value's meaning, for the OpenAPI schemas (which have no per-value text). */
export function enumDescription(name: keyof typeof ENUM_DESCRIPTIONS): string {
  const doc = ENUM_DESCRIPTIONS[name];
  const values = Object.entries(doc.values).map(([v, text]) => `\`${v}\`: ${text}`);
  return `${doc.description} ${values.join(' ')}`;
}

/** Path parameters (REST) and arguments (GraphQL) of the same meaning. */
export const PARAM_DESCRIPTIONS = {
  id: 'The id of the request (of the token, batch or webhook under /v1/tokens, /v1/batches, /v1/webhooks).',
  cluster: 'A cluster: a kubeconfig context name.',
  namespace: 'The namespace.',
  op: 'The operation.',
  file: 'A file name.',
  idempotencyKey:
    'The same key with the same input returns the first request; with a different input `IDEMPOTENCY_KEY_REUSED`. ' +
    'Keys are per caller.',
};

/**
 * GraphQL arguments: `Type.field.arg` for one field, or the argument name alone for every field that has it.
 */
export const ARG_DESCRIPTIONS: Record<string, string> = {
  id: 'The id of the request.',
  input: 'What to do; validated like the REST body of the same operation.',
  idempotencyKey: PARAM_DESCRIPTIONS.idempotencyKey,
  reason: 'Why; recorded with the decision.',
  'Mutation.approveOnboardingRequest.comment': 'A comment recorded with the approval.',
  'Mutation.cancelOnboardingRequest.reason': 'Why the request is cancelled; recorded in its audit trail.',
  'Mutation.batchOperation.id': 'The id of the batch.',
  'Mutation.batchOperation.operation': 'approve, reject, cancel, retry or apply.',
  'Mutation.batchOperation.reason': 'The reason (reject, cancel) or comment (approve).',
  'Mutation.deleteWebhook.id': 'The id of the webhook.',
  'Mutation.revokeApiToken.id': 'The id of the token.',
  'Mutation.reapplyOnboarding.cluster': PARAM_DESCRIPTIONS.cluster,
  'Mutation.reapplyOnboarding.namespace': 'The namespace whose last successful onboarding is queued again.',
  'Mutation.reapplyOnboarding.restart': 'Replaces the stored restart options.',
  'Mutation.reapplyOnboarding.dryRun': 'Store the request as PLANNED with its plan instead of queueing it.',
  'Query.auditEvents.requestId': 'The id of the request.',
  'Query.batch.id': 'The id of the batch.',
  'Query.namespaceStatuses.cluster': PARAM_DESCRIPTIONS.cluster,
  'Query.namespaceStatuses.after': 'The Kubernetes continue token: `pageInfo.endCursor` of the previous page.',
  'Query.onboardingRequests.filter': 'Only the requests that match every field given.',
  'Query.webhook.id': 'The id of the webhook.',
  'Query.webhookDeliveries.webhookId': 'The id of the webhook.',
  'Subscription.batchProgress.batchId': 'The id of the batch.',
  'Subscription.batchProgress.after':
    'Resume after this event: its `batchCursor` (an older global event id is accepted from admins).',
  'Subscription.onboardingProgress.requestId': 'The id of the request.',
  'Subscription.onboardingProgress.after': 'Resume after this cursor (0: from the first event).',
};

/** The GraphQL root types. */
export const ROOT_DESCRIPTIONS = {
  Query: 'Reads: requests, plans (dry runs), batches, audit events, namespaces, webhooks and API tokens.',
  Mutation: 'Writes: onboard, offboard, decide, cancel and retry requests; batches, webhooks and API tokens.',
  Subscription: 'Progress events of a request or a batch, replayed from a cursor and then live.',
};
