import { z } from 'zod';
import { decimalInteger } from '../common/decimal-integer.js';

// An optional field sent as null is one left out, on REST as on GraphQL (whose nullable input fields take null).

// `request.succeeded`, `step.failed`, `request.*` (every request event), or `*` (everything).
export const EVENT_TYPE_PATTERN = /^(\*|[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*(\.\*)?)$/;

/**
 * Every event type a webhook can receive: the audit actions of a request's trail (the lifecycle's transitions in
 * onboarding/lifecycle/transitions.ts, the runner's step events, a re-apply's and the drift scanner's). A subscription
 * names one of these, a prefix of some (`request.*`) or `*`; anything else could never fire and is refused.
 */
export const WEBHOOK_EVENT_TYPES = [
  'request.created',
  'request.planned',
  'request.queued',
  'request.pending-approval',
  'approval.recorded',
  'request.approved',
  'request.rejected',
  'request.cancelled',
  'request.cancel-requested',
  'request.retried',
  'request.held',
  'request.reapply',
  'request.started',
  'request.resumed',
  'request.released',
  'request.succeeded',
  'request.failed',
  'step.started',
  'step.applying',
  'step.retrying',
  'step.drifted',
  'step.succeeded',
  'step.failed',
  'namespace.drifted',
] as const;

/** The message of an event type no event has; the refusal's hint lists WEBHOOK_EVENT_TYPES. */
export const UNKNOWN_EVENT_TYPE = 'is not an event type this service sends, a prefix of them (request.*) or *';

/** `*`, a known type, or `<prefix>.*` where some known type starts with `<prefix>.`. */
export function isKnownEventType(pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return WEBHOOK_EVENT_TYPES.some((t) => t.startsWith(pattern.slice(0, -1)));
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(pattern);
}

export const WEBHOOK_FORMATS = ['json', 'slack'] as const;

export const CreateWebhookSchema = z
  .strictObject({
    url: z
      .string({ error: 'must be a string' })
      .min(1, 'must not be empty')
      .max(2048, 'must be no more than 2048 characters')
      .describe('The http(s) URL the events are POSTed to.'),
    eventTypes: z
      .array(
        z
          .string({ error: 'must be a string' })
          .max(100, 'must be no more than 100 characters')
          .regex(EVENT_TYPE_PATTERN, 'must be an event type (request.succeeded), a prefix (request.*) or *')
          .refine(isKnownEventType, UNKNOWN_EVENT_TYPE),
        {
          error: 'must be a list of event types',
        },
      )
      .min(1, 'needs at least one event type')
      .max(20, 'at most 20 event types')
      .describe('Event types (request.succeeded), prefixes (request.*) or *.'),
    secret: z
      .string({ error: 'must be a string' })
      .min(16, 'must be at least 16 characters')
      .max(256, 'must be no more than 256 characters')
      .nullish()
      .describe('The signing secret (16+ characters); omitted = generated and returned once.'),
    description: z
      .string({ error: 'must be a string' })
      .max(200, 'must be no more than 200 characters')
      .nullish()
      .describe('A note for people.'),
    // `slack`: each delivery is a Slack incoming-webhook message (Block Kit) instead of our JSON event.
    format: z
      .enum(WEBHOOK_FORMATS, { error: `must be one of ${WEBHOOK_FORMATS.join(', ')}` })
      .nullable()
      .default('json')
      .describe('What each delivery carries: `json` (default), our signed event document; `slack`, a Slack message.'),
  })
  .meta({ id: 'CreateWebhookInput', description: 'A new webhook subscription.' });

export type CreateWebhook = z.infer<typeof CreateWebhookSchema>;

export const DELIVERY_STATUSES = ['PENDING', 'RETRYING', 'SUCCEEDED', 'FAILED'] as const;

export const DeliveryQuerySchema = z.strictObject({
  status: z
    .enum(DELIVERY_STATUSES, { error: `must be one of ${DELIVERY_STATUSES.join(', ')}` })
    .optional()
    .describe('Only the deliveries in this status.'),
  // As text, decimal digits only (not Number()'s '', 1e2, 0x10); GraphQL's `first` passes the same schema.
  limit: decimalInteger(
    z
      .number({ error: 'must be a number' })
      .int('must be an integer')
      .min(1, 'must be at least 1')
      .max(100, 'must be at most 100')
      .default(20),
  ).describe('How many deliveries to return (1 to 100).'),
  after: z.string().min(1).optional().describe('The cursor to continue after: `pageInfo.endCursor`.'),
});

export function eventTypeMatches(pattern: string, type: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}
