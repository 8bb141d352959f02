// Owns the GraphQL types of requests, plans and events (code-first classes). Their descriptions come from
// the zod schemas of the same data (src/graphql/zod-types.ts pairs them and a unit test checks that fields,
// nullability and list-ness agree); only the GraphQL-only types (connections, edges, PageInfo) say their own.
// Option values such as "ip-exclusion" or "tcp-server-first" are not valid GraphQL enum names, so they are
// strings here, validated by the same zod schema as REST (src/onboarding/onboarding.input.ts).
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { IntOrString } from '../../common/int-or-string.scalar.js';
import { RequestKind, RequestStatus, StepResult, StepStatus } from '../../generated/prisma/enums.js';

export enum SidecarInjection {
  enabled = 'enabled',
  disabled = 'disabled',
}

registerEnumType(RequestKind, { name: 'RequestKind' });
registerEnumType(RequestStatus, { name: 'RequestStatus' });
registerEnumType(StepStatus, { name: 'StepStatus' });
registerEnumType(StepResult, { name: 'StepResult' });
registerEnumType(SidecarInjection, { name: 'SidecarInjection' });

@InputType()
export class PrerequisitesInput {
  @Field({ nullable: true }) enabled?: boolean;
  @Field(() => [String], { nullable: true })
  acceptErrors?: string[];
}

@InputType()
export class SmiObjectInput {
  @Field() name!: string;
  @Field(() => GraphQLJSON) spec!: unknown;
}

@InputType()
export class SmiInput {
  @Field(() => [SmiObjectInput], { nullable: true })
  trafficTargets?: SmiObjectInput[];
  @Field(() => [SmiObjectInput], { nullable: true })
  httpRouteGroups?: SmiObjectInput[];
  @Field(() => [SmiObjectInput], { nullable: true })
  tcpRoutes?: SmiObjectInput[];
  @Field(() => [SmiObjectInput], { nullable: true })
  trafficSplits?: SmiObjectInput[];
}

@InputType()
export class TrafficPolicyInput {
  @Field() mode!: string;
  @Field(() => SmiInput, { nullable: true }) smi?: SmiInput;
  @Field({
    nullable: true,
  })
  switchMeshToSmi?: boolean;
}

@InputType()
export class ApiServerAccessInput {
  @Field() method!: string;
  @Field(() => [String], { nullable: true })
  serviceAccounts?: string[];
}

@InputType()
export class AppProtocolInput {
  @Field() service!: string;
  @Field(() => IntOrString)
  port!: number | string;
  @Field() appProtocol!: string;
}

@InputType()
export class RestartInput {
  @Field()
  mode!: string;
  @Field(() => [String], { nullable: true }) deployments?: string[];
  @Field(() => Int, { nullable: true }) maxConcurrent?: number;
}

@InputType()
export class VerifyInput {
  @Field(() => Int) timeoutSeconds!: number;
}

@InputType()
export class OnboardingInput {
  @Field({ nullable: true })
  cluster?: string;
  @Field()
  namespace!: string;
  @Field({ nullable: true })
  meshName?: string;
  @Field(() => SidecarInjection, { nullable: true })
  sidecarInjection?: SidecarInjection;
  @Field({
    nullable: true,
  })
  dryRun?: boolean;
  @Field(() => PrerequisitesInput, { nullable: true }) prerequisites?: PrerequisitesInput;
  @Field(() => TrafficPolicyInput, { nullable: true }) trafficPolicy?: TrafficPolicyInput;
  @Field(() => ApiServerAccessInput, { nullable: true }) apiServerAccess?: ApiServerAccessInput;
  @Field(() => [AppProtocolInput], { nullable: true }) appProtocols?: AppProtocolInput[];
  @Field(() => RestartInput, { nullable: true }) restart?: RestartInput;
  @Field(() => VerifyInput, { nullable: true }) verify?: VerifyInput;
  @Field({ nullable: true }) metrics?: boolean;
}

@InputType()
export class OffboardingInput {
  @Field({ nullable: true })
  cluster?: string;
  @Field()
  namespace!: string;
  @Field({ nullable: true })
  meshName?: string;
  @Field({ nullable: true }) dryRun?: boolean;
  @Field(() => RestartInput, { nullable: true }) restart?: RestartInput;
  @Field({ nullable: true })
  deleteOwnedPolicies?: boolean;
  @Field({
    nullable: true,
  })
  removeApiServerExclusion?: boolean;
}

@ObjectType()
export class DiagnosticModel {
  @Field() code!: string;
  @Field() level!: string;
  @Field() message!: string;
  @Field(() => String, { nullable: true }) object?: string | null;
  @Field(() => String, { nullable: true }) hint?: string | null;
  @Field(() => Boolean, { nullable: true }) accepted?: boolean | null;
}

@ObjectType()
export class StepErrorModel {
  @Field() code!: string;
  @Field() message!: string;
  @Field(() => String, { nullable: true }) hint?: string | null;
}

@ObjectType()
export class PlannedStepModel {
  @Field() name!: string;
  @Field() title!: string;
  @Field(() => GraphQLJSON)
  changes!: unknown;
  @Field() summary!: string;
  @Field(() => GraphQLJSON, { nullable: true }) before!: unknown;
  @Field(() => [DiagnosticModel]) diagnostics!: DiagnosticModel[];
  @Field(() => GraphQLJSON) facts!: unknown;
  @Field(() => StepErrorModel, { nullable: true }) error!: StepErrorModel | null;
}

@ObjectType('PlanApproval')
export class PlanApprovalModel {
  @Field(() => [String])
  meshWideChanges!: string[];
  @Field() meshGrant!: boolean;
  @Field()
  outcome!: string;
  @Field(() => Int) approvalsRequired!: number;
  @Field(() => String, { nullable: true }) rule!: string | null;
}

@ObjectType('OnboardingPlan')
export class OnboardingPlanModel {
  @Field(() => RequestKind) kind!: RequestKind;
  @Field() cluster!: string;
  @Field() namespace!: string;
  @Field() meshName!: string;
  @Field(() => GraphQLJSON) options!: unknown;
  @Field(() => [PlannedStepModel]) steps!: PlannedStepModel[];
  @Field(() => [DiagnosticModel]) diagnostics!: DiagnosticModel[];
  @Field() blocked!: boolean;
  @Field(() => PlanApprovalModel)
  approval!: PlanApprovalModel;
}

@InputType()
export class OnboardingRequestFilter {
  @Field({ nullable: true }) cluster?: string;
  @Field({ nullable: true }) namespace?: string;
  @Field({ nullable: true }) meshName?: string;
  @Field(() => RequestKind, { nullable: true }) kind?: RequestKind;
  @Field(() => RequestStatus, { nullable: true }) status?: RequestStatus;
  @Field({ nullable: true }) requestedBy?: string;
}

@ObjectType()
export class StepRunModel {
  @Field() name!: string;
  @Field(() => Int) position!: number;
  @Field(() => StepStatus) status!: StepStatus;
  @Field(() => StepResult, { nullable: true }) result!: StepResult | null;
  @Field(() => Int) attempts!: number;
  @Field(() => GraphQLJSON, { nullable: true })
  before!: unknown;
  @Field(() => GraphQLJSON, { nullable: true }) after!: unknown;
  @Field(() => GraphQLJSON, { nullable: true })
  output!: unknown;
  @Field(() => String, { nullable: true }) errorCode!: string | null;
  @Field(() => String, { nullable: true }) errorMessage!: string | null;
  @Field(() => String, { nullable: true }) startedAt!: string | null;
  @Field(() => String, { nullable: true }) finishedAt!: string | null;
  @Field(() => Int, { nullable: true }) durationMs!: number | null;
}

@ObjectType('Approval')
export class ApprovalModel {
  @Field() approver!: string;
  @Field() decision!: string;
  @Field(() => String, { nullable: true }) reason!: string | null;
  @Field() at!: string;
}

@ObjectType('OnboardingRequest')
export class OnboardingRequestModel {
  @Field(() => ID) id!: string;
  @Field(() => RequestKind) kind!: RequestKind;
  @Field() cluster!: string;
  @Field() namespace!: string;
  @Field() meshName!: string;
  @Field(() => SidecarInjection, { nullable: true }) sidecarInjection!: SidecarInjection | null;
  @Field(() => GraphQLJSON) options!: unknown;
  @Field(() => RequestStatus) status!: RequestStatus;
  @Field() requestedBy!: string;
  @Field(() => String, { nullable: true }) idempotencyKey!: string | null;
  @Field(() => String, { nullable: true }) errorCode!: string | null;
  @Field(() => String, { nullable: true }) errorMessage!: string | null;
  @Field(() => Int) attempt!: number;
  @Field(() => String, { nullable: true }) batchId!: string | null;
  @Field(() => Int)
  approvalsRequired!: number;
  @Field(() => Int)
  approvalsGiven!: number;
  @Field(() => String, { nullable: true }) approvalRule!: string | null;
  @Field(() => [String])
  meshWideChanges!: string[];
  @Field(() => [ApprovalModel]) approvals!: ApprovalModel[];
  @Field(() => Int) lastEventCursor!: number;
  @Field() createdAt!: string;
  @Field() updatedAt!: string;
  @Field(() => String, { nullable: true }) startedAt!: string | null;
  @Field(() => String, { nullable: true }) finishedAt!: string | null;
  @Field(() => [StepRunModel]) steps!: StepRunModel[];
}

@ObjectType({ description: 'A request in a page of requests.' })
export class OnboardingRequestEdge {
  @Field({ description: 'Pass as `after` to continue after this request.' }) cursor!: string;
  @Field(() => OnboardingRequestModel, { description: 'The request.' }) node!: OnboardingRequestModel;
}

@ObjectType({ description: 'Where a page of a connection starts and ends (Relay cursor connections).' })
export class PageInfo {
  @Field({ description: 'More items follow: pass `endCursor` as `after` for them.' }) hasNextPage!: boolean;
  @Field({ description: 'Always false: pages are read forward only (`first`/`after`).' }) hasPreviousPage!: boolean;
  @Field(() => String, { nullable: true, description: 'The cursor of the first edge; null when there is none.' })
  startCursor!: string | null;
  @Field(() => String, { nullable: true, description: 'The cursor to continue after; null when there is none.' })
  endCursor!: string | null;
}

/** PageInfo of a forward-only page: its edges, and whether more follow. */
export function forwardPageInfo(
  edges: { cursor: string }[],
  hasNextPage: boolean,
  endCursor = edges.at(-1)?.cursor ?? null,
): PageInfo {
  return { hasNextPage, hasPreviousPage: false, startCursor: edges[0]?.cursor ?? null, endCursor };
}

@ObjectType({ description: 'A page of requests, newest first (a Relay cursor connection).' })
export class OnboardingRequestConnection {
  @Field(() => [OnboardingRequestEdge], { description: 'The requests of this page, each with its cursor.' })
  edges!: OnboardingRequestEdge[];
  @Field(() => PageInfo, { description: 'Where the page ends.' }) pageInfo!: PageInfo;
}

@ObjectType('AuditEvent')
export class AuditEventModel {
  @Field(() => ID) id!: string;
  @Field(() => String, { nullable: true }) requestId!: string | null;
  @Field(() => Int, { nullable: true }) cursor!: number | null;
  @Field() actor!: string;
  @Field() action!: string;
  @Field(() => String, { nullable: true }) cluster!: string | null;
  @Field(() => String, { nullable: true }) namespace!: string | null;
  @Field(() => String, { nullable: true }) target!: string | null;
  @Field(() => String, { nullable: true }) step!: string | null;
  @Field(() => GraphQLJSON) data!: unknown;
  @Field() createdAt!: string;
}

@ObjectType('OnboardingEvent')
export class OnboardingEventModel {
  @Field(() => ID) id!: string;
  @Field(() => String, { nullable: true }) batchCursor?: string | null;
  @Field(() => ID) requestId!: string;
  @Field(() => Int) cursor!: number;
  @Field()
  type!: string;
  @Field() actor!: string;
  @Field(() => String, { nullable: true }) step!: string | null;
  @Field() message!: string;
  @Field(() => GraphQLJSON) data!: unknown;
  @Field() at!: string;
}
