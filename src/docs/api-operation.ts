// Owns the one decorator that documents a REST handler: `@ApiOperation({...})` names the zod schemas the
// handler reads and answers, its summary, roles, error codes and an example. src/docs/openapi.ts builds
// /docs/openapi.json from these and Nest's own route metadata, so a route is documented where it is served;
// test/integration/openapi.spec.ts fails when a served handler has no @ApiOperation.
import { SetMetadata } from '@nestjs/common';
import type { z } from 'zod';
import type { Role } from '../auth/actor.js';
import type { ErrorCode } from '../common/domain-error.js';
import { AcceptedSchema } from './response-schemas.js';

export const API_OPERATION = 'osm-onboarding:api-operation';

export type ApiTag =
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

export type Media = 'json' | 'sse' | 'html' | 'text' | 'asset' | 'export';
/** A header a route reads; `Last-Event-ID:batch` is Last-Event-ID holding a batch cursor (`b1.…`), not a number. */
export type ApiHeader =
  'Idempotency-Key' | 'Last-Event-ID' | 'Last-Event-ID:batch' | 'X-Slack-Signature' | 'X-Slack-Request-Timestamp';

export interface ApiResponseDoc {
  description: string;
  /** A zod schema named with `.meta({ id })`: it becomes `#/components/schemas/<id>`. */
  schema?: z.ZodType;
  media?: Media;
  headers?: Record<string, string>;
  /** An example answer (required for JSON answers without a schema example). */
  example?: unknown;
}

export interface ApiOperationDoc {
  operationId: string;
  tag: ApiTag;
  summary: string;
  description?: string;
  /** Roles that may call it (admin always may). Omit on `@Public()` handlers. */
  roles?: Role[];
  /** The zod schema the handler parses its body with, named with `.meta({ id })`. */
  body?: z.ZodType;
  bodyRequired?: boolean;
  /** How the body is encoded: JSON (default) or an HTML form (Slack's interactions). */
  bodyMedia?: 'json' | 'form';
  /** A realistic request body (its generated examples would be random); validated by the docs test. */
  example?: Record<string, unknown>;
  /** The query string's zod schema. */
  query?: z.ZodObject;
  headers?: ApiHeader[];
  responses: Record<number, ApiResponseDoc>;
  /** Codes this route answers besides the common ones (see commonErrors in ./openapi.ts). */
  errors: ErrorCode[];
}

/** Documents a REST handler; see the header comment. */
export const ApiOperation = (doc: ApiOperationDoc) => SetMetadata(API_OPERATION, doc);

/** What the request-creating operations answer: 202 with the new request, 200 for an Idempotency-Key replay. */
export function acceptedResponses(what: string): Record<number, ApiResponseDoc> {
  const headers = {
    Location: 'The request: `/v1/onboardings/{id}`.',
    'Idempotent-Replayed': '`true` when an Idempotency-Key matched an earlier identical request.',
  };
  return {
    202: {
      description:
        `The ${what} accepted and queued (or held in PENDING_APPROVAL by the approval policy; ` +
        'stored as PLANNED with `dryRun`).',
      schema: AcceptedSchema,
      headers,
    },
    200: { description: 'An Idempotency-Key replay: the original request.', schema: AcceptedSchema, headers },
  };
}

/** What validating a request's input and its cluster refuses. */
export const VALIDATE_ERRORS: ErrorCode[] = [
  'VALIDATION_FAILED',
  'CLUSTER_NOT_FOUND',
  'NAMESPACE_RESERVED',
  'CLUSTER_UNAVAILABLE',
  'KUBE_FORBIDDEN',
  'KUBE_RESOURCE_NOT_SERVED',
];
/** What the request-time read of the target refuses (request-validator.ts, target-precheck.ts). */
export const TARGET_ERRORS: ErrorCode[] = [
  'NAMESPACE_NOT_FOUND',
  'NAMESPACE_OWNED_BY_OTHER_MESH',
  'DEPLOYMENT_NOT_FOUND',
];
export const ONBOARD_TARGET_ERRORS: ErrorCode[] = [
  ...TARGET_ERRORS,
  'NAMESPACE_IGNORED',
  'NAMESPACE_NOT_INJECTABLE',
  'NAMESPACE_TERMINATING',
  'SERVICE_PORT_NOT_FOUND',
  'SMI_OBJECT_NOT_OWNED',
  'MESH_CONFIG_NOT_FOUND',
];
/** What an approver's decision (approve, reject) refuses. */
export const DECISION_ERRORS: ErrorCode[] = [
  'REQUEST_NOT_FOUND',
  'REQUEST_NOT_PENDING_APPROVAL',
  'SELF_APPROVAL_FORBIDDEN',
  'ALREADY_DECIDED',
  'MESH_GRANT_REQUIRED',
];
