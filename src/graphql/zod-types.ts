// Owns the pairing of GraphQL types with the zod schemas that describe the same data for REST. The words
// live once, on the zod schemas (`.describe()`/`.meta()`): describeSchema() copies them into the GraphQL
// schema Nest builds (types, fields, input values), and test/unit/graphql-zod.spec.ts fails when a paired
// GraphQL type and its zod schema disagree on field names, nullability or list-ness.
import type { GraphQLSchema } from 'graphql';
import { z } from 'zod';
import { CreateTokenSchema } from '../auth/token.service.js';
import { BATCH_REPLAYED_DESCRIPTION } from '../batches/batch.resolver.js';
import { BatchInputSchema } from '../batches/batch.service.js';
import { ARG_DESCRIPTIONS, ENUM_DESCRIPTIONS, ROOT_DESCRIPTIONS } from '../docs/descriptions.js';
import * as R from '../docs/response-schemas.js';
import { ListQuery } from '../onboarding/api/onboarding.controller.js';
import { REPLAYED_DESCRIPTION } from '../onboarding/api/onboarding.resolver.js';
import { OffboardingInputSchema, OnboardingInputSchema } from '../onboarding/onboarding.input.js';
import { NamespaceStatusQuery } from '../namespaces/namespace-status.service.js';
import { CreateWebhookSchema, DeliveryQuerySchema } from '../webhooks/webhook.input.js';
import { graphqlJs } from './graphql-js.js';

type Shape = Record<string, z.ZodType>;
/** A GraphQL field or input field: what describeSchema() fills in. */
type Described = { description?: string | null; args?: readonly { name: string; description?: string | null }[] };

/** The schema inside optional/nullable/default/array/pipe wrappers. */
export function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema as z.ZodType & { unwrap?: () => z.ZodType };
  for (;;) {
    const def = s._zod.def as { innerType?: z.ZodType; element?: z.ZodType; in?: z.ZodType; out?: z.ZodType };
    const next = def.innerType ?? def.element ?? (s._zod.def.type === 'pipe' ? def.in : undefined);
    if (!next) return s;
    s = next;
  }
}

/** The fields of an object schema; of a union of objects, every option's fields. */
export function shapeOf(schema: z.ZodType): Shape {
  const s = unwrap(schema);
  if (s instanceof z.ZodObject) return s.shape;
  if (s instanceof z.ZodUnion) return Object.assign({}, ...(s.options as z.ZodType[]).map((o) => shapeOf(o))) as Shape;
  throw new Error(`not an object schema: ${s._zod.def.type}`);
}

const field = (schema: z.ZodType, name: string): z.ZodType => {
  const f = shapeOf(schema)[name];
  if (!f) throw new Error(`no field ${name}`);
  return f;
};

const requestInput = OnboardingInputSchema;
const plan = R.PlanSchema;
const nsItem = field(R.NamespaceStatusPageSchema, 'items');

/** GraphQL type name → the zod schema of the same data. */
export const GRAPHQL_ZOD_TYPES: Record<string, z.ZodType> = {
  OnboardingInput: requestInput,
  OffboardingInput: OffboardingInputSchema,
  PrerequisitesInput: field(requestInput, 'prerequisites'),
  TrafficPolicyInput: field(requestInput, 'trafficPolicy'),
  SmiInput: field(field(requestInput, 'trafficPolicy'), 'smi'),
  SmiObjectInput: field(field(field(requestInput, 'trafficPolicy'), 'smi'), 'trafficTargets'),
  ApiServerAccessInput: field(requestInput, 'apiServerAccess'),
  AppProtocolInput: field(requestInput, 'appProtocols'),
  RestartInput: field(requestInput, 'restart'),
  VerifyInput: field(requestInput, 'verify'),
  OnboardingRequestFilter: ListQuery.omit({ limit: true, after: true }).describe(ListQuery.description ?? ''),
  CreateApiTokenInput: CreateTokenSchema,
  CreateWebhookInput: CreateWebhookSchema,
  BatchInput: BatchInputSchema,
  BatchTargetInput: field(BatchInputSchema, 'targets'),
  // GraphQL's own field: REST says the same with the Idempotent-Replayed header.
  OnboardingRequest: R.RequestSchema.extend({ replayed: z.boolean().describe(REPLAYED_DESCRIPTION) }).describe(
    R.RequestSchema.description ?? '',
  ),
  StepRunModel: R.StepSchema,
  Approval: field(R.RequestSchema, 'approvals'),
  OnboardingPlan: plan,
  PlannedStepModel: field(plan, 'steps'),
  DiagnosticModel: field(plan, 'diagnostics'),
  StepErrorModel: field(field(plan, 'steps'), 'error'),
  PlanApproval: field(plan, 'approval'),
  AuditEvent: R.AuditEventSchema,
  OnboardingEvent: R.ProgressEventSchema,
  ApiToken: R.TokenSchema,
  CreatedApiToken: R.TokenCreatedSchema,
  Webhook: R.WebhookSchema,
  CreatedWebhook: R.WebhookCreatedSchema,
  WebhookDelivery: R.WebhookDeliverySchema,
  WebhookDeliveryAttempt: field(R.WebhookDeliverySchema, 'history'),
  // GraphQL's own field, as OnboardingRequest's.
  Batch: R.BatchSchema.extend({ replayed: z.boolean().describe(BATCH_REPLAYED_DESCRIPTION) }).describe(
    R.BatchSchema.description ?? '',
  ),
  BatchOperationResult: R.BatchOperationSchema,
  BatchMemberResult: field(R.BatchOperationSchema, 'results'),
  NamespaceStatus: nsItem,
  NamespacePodCounts: field(nsItem, 'pods'),
  NamespaceLastRequest: field(nsItem, 'lastRequest'),
};

/** GraphQL arguments that are fields of a REST query schema: their description is that field's. */
export const GRAPHQL_ZOD_ARGS: Record<string, z.ZodType> = {
  'Query.onboardingRequests.first': ListQuery.shape.limit,
  'Query.onboardingRequests.after': ListQuery.shape.after,
  'Query.webhookDeliveries.first': DeliveryQuerySchema.shape.limit,
  'Query.webhookDeliveries.after': DeliveryQuerySchema.shape.after,
  'Query.webhookDeliveries.status': DeliveryQuerySchema.shape.status,
  'Query.namespaceStatuses.first': NamespaceStatusQuery.shape.limit,
};

/** The first description on a schema or the schemas it wraps. */
export function descriptionOf(schema: z.ZodType): string | undefined {
  let s: z.ZodType | undefined = schema;
  while (s) {
    if (s.description) return s.description;
    const def = s._zod.def as { innerType?: z.ZodType; in?: z.ZodType };
    s = def.innerType ?? (s._zod.def.type === 'pipe' ? def.in : undefined);
  }
  return undefined;
}

/**
 * Nest's `transformSchema`: fills in the descriptions the decorators leave out, from the paired zod
 * schemas (types, fields, input fields), ARG_DESCRIPTIONS (arguments) and ENUM_DESCRIPTIONS (enum values).
 */
export function describeSchema(schema: GraphQLSchema): GraphQLSchema {
  const { isEnumType, isInputObjectType, isObjectType } = graphqlJs;
  for (const [root, text] of Object.entries(ROOT_DESCRIPTIONS)) {
    const type = schema.getType(root);
    if (type && !type.description) type.description = text;
  }
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__')) continue;
    const zod = GRAPHQL_ZOD_TYPES[type.name];
    if (zod && !type.description) type.description = descriptionOf(unwrap(zod)) ?? descriptionOf(zod) ?? null;
    if (isObjectType(type) || isInputObjectType(type)) {
      const shape = zod ? shapeOf(zod) : {};
      const fields: Record<string, Described> = type.getFields();
      for (const [name, f] of Object.entries(fields)) {
        if (!f.description && shape[name]) f.description = descriptionOf(shape[name]);
        for (const arg of f.args ?? []) {
          const key = `${type.name}.${name}.${arg.name}`;
          const zodArg = GRAPHQL_ZOD_ARGS[key];
          arg.description ??= (zodArg && descriptionOf(zodArg)) ?? ARG_DESCRIPTIONS[key] ?? ARG_DESCRIPTIONS[arg.name];
        }
      }
    }
    if (isEnumType(type)) {
      const docs = ENUM_DESCRIPTIONS[type.name];
      if (docs) {
        type.description ??= docs.description;
        for (const v of type.getValues()) v.description ??= docs.values[v.name as never];
      }
    }
  }
  return schema;
}
