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
registerEnumType(StepResult, {
  name: 'StepResult',
  description: 'CHANGED when the step wrote to the cluster, UNCHANGED when it was already in the desired state',
});
registerEnumType(SidecarInjection, { name: 'SidecarInjection' });

// Option fields mirror the REST body one to one. Values such as "ip-exclusion" or
// "tcp-server-first" are not valid GraphQL enum names, so they are strings here, validated
// by the same schema as REST (src/onboarding/onboarding.input.ts).
@InputType()
export class PrerequisitesInput {
  @Field({ nullable: true, description: 'run the application-requirements checks (default true)' }) enabled?: boolean;
  @Field(() => [String], { nullable: true, description: 'error diagnostic codes to accept explicitly (recorded)' })
  acceptErrors?: string[];
}

@InputType()
export class SmiObjectInput {
  @Field() name!: string;
  @Field(() => GraphQLJSON, { description: 'the spec of the served SMI version' }) spec!: unknown;
}

@InputType()
export class SmiInput {
  @Field(() => [SmiObjectInput], { nullable: true, description: 'access.smi-spec.io/v1alpha3' })
  trafficTargets?: SmiObjectInput[];
  @Field(() => [SmiObjectInput], { nullable: true, description: 'specs.smi-spec.io/v1alpha4' })
  httpRouteGroups?: SmiObjectInput[];
  @Field(() => [SmiObjectInput], { nullable: true, description: 'specs.smi-spec.io/v1alpha4' })
  tcpRoutes?: SmiObjectInput[];
  @Field(() => [SmiObjectInput], { nullable: true, description: 'split.smi-spec.io/v1alpha4' })
  trafficSplits?: SmiObjectInput[];
}

@InputType()
export class TrafficPolicyInput {
  @Field({ description: '"permissive" (mesh-wide!) or "smi"' }) mode!: string;
  @Field(() => SmiInput, { nullable: true }) smi?: SmiInput;
  @Field({
    nullable: true,
    description: 'mode smi: also switch the whole mesh to SMI mode (permissive off; mesh-wide, needs a mesh grant)',
  })
  switchMeshToSmi?: boolean;
}

@InputType()
export class ApiServerAccessInput {
  @Field({ description: '"ip-exclusion" or "egress"' }) method!: string;
  @Field(() => [String], { nullable: true, description: 'ServiceAccounts allowed to reach the API server (egress)' })
  serviceAccounts?: string[];
}

@InputType()
export class AppProtocolInput {
  @Field() service!: string;
  @Field(() => IntOrString, { description: 'the Service port: its name ("http") or its number (8080)' })
  port!: number | string;
  @Field({ description: 'http, tcp, tcp-server-first or grpc' }) appProtocol!: string;
}

@InputType()
export class RestartInput {
  @Field({
    description:
      '"none"; "all" (every Deployment, as kubectl rollout restart); "selected" (the named ones); ' +
      '"needed" (only those whose pods lack or keep a sidecar, or must pick up a changed exclusion list)',
  })
  mode!: string;
  @Field(() => [String], { nullable: true }) deployments?: string[];
  @Field(() => Int, { nullable: true, description: 'Deployments rolled at once (default 5)' }) maxConcurrent?: number;
}

@InputType()
export class VerifyInput {
  @Field(() => Int) timeoutSeconds!: number;
}

@InputType({ description: "Add a namespace to an osm-edge mesh (osm namespace add), with the guide's other steps." })
export class OnboardingInput {
  @Field({ nullable: true, description: 'kubeconfig context; omitted = the current context' })
  cluster?: string;
  @Field()
  namespace!: string;
  @Field({ nullable: true, description: 'defaults to "osm"' })
  meshName?: string;
  @Field(() => SidecarInjection, { nullable: true, description: 'defaults to enabled' })
  sidecarInjection?: SidecarInjection;
  @Field({
    nullable: true,
    description: 'store the plan (status PLANNED) and write nothing; apply it later with applyPlannedRequest',
  })
  dryRun?: boolean;
  @Field(() => PrerequisitesInput, { nullable: true }) prerequisites?: PrerequisitesInput;
  @Field(() => TrafficPolicyInput, { nullable: true }) trafficPolicy?: TrafficPolicyInput;
  @Field(() => ApiServerAccessInput, { nullable: true }) apiServerAccess?: ApiServerAccessInput;
  @Field(() => [AppProtocolInput], { nullable: true }) appProtocols?: AppProtocolInput[];
  @Field(() => RestartInput, { nullable: true }) restart?: RestartInput;
  @Field(() => VerifyInput, { nullable: true }) verify?: VerifyInput;
  @Field({ nullable: true, description: 'osm metrics enable' }) metrics?: boolean;
}

@InputType({
  description:
    'Remove a namespace from an osm-edge mesh (osm namespace remove), optionally restarting so sidecars go away.',
})
export class OffboardingInput {
  @Field({ nullable: true })
  cluster?: string;
  @Field()
  namespace!: string;
  @Field({ nullable: true })
  meshName?: string;
  @Field({ nullable: true }) dryRun?: boolean;
  @Field(() => RestartInput, { nullable: true }) restart?: RestartInput;
  @Field({ nullable: true, description: 'delete the Egress and SMI objects this service created in the namespace' })
  deleteOwnedPolicies?: boolean;
  @Field({
    nullable: true,
    description: 'remove the API server CIDR from the exclusion list when no other onboarded namespace needs it',
  })
  removeApiServerExclusion?: boolean;
}

@ObjectType()
export class DiagnosticModel {
  @Field() code!: string;
  @Field({ description: 'error, warning or info' }) level!: string;
  @Field() message!: string;
  @Field(() => String, { nullable: true }) object?: string | null;
  @Field(() => String, { nullable: true }) hint?: string | null;
  @Field(() => Boolean, { nullable: true, description: 'an error the caller accepted explicitly' }) accepted?:
    boolean | null;
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
  @Field(() => GraphQLJSON, {
    description: 'each write: action, target object, patchType, body — exactly as it would be sent',
  })
  changes!: unknown;
  @Field() summary!: string;
  @Field(() => GraphQLJSON, { nullable: true }) before!: unknown;
  @Field(() => [DiagnosticModel]) diagnostics!: DiagnosticModel[];
  @Field(() => GraphQLJSON) facts!: unknown;
  @Field(() => StepErrorModel, { nullable: true, description: 'the step would refuse' }) error!: StepErrorModel | null;
}

@ObjectType('PlanApproval')
export class PlanApprovalModel {
  @Field(() => [String], { description: 'the mesh-wide (MeshConfig) changes the request makes' })
  meshWideChanges!: string[];
  @Field({ description: 'the caller holds a mesh grant (admin, or scope <cluster>/mesh:<mesh>)' }) meshGrant!: boolean;
  @Field({
    description: 'allowed | needs-approval | forbidden (mesh-wide change without a grant, MESH_WIDE_CHANGES=refuse)',
  })
  outcome!: string;
  @Field(() => Int, { description: 'distinct approvals it would wait for' }) approvalsRequired!: number;
  @Field(() => String, { nullable: true, description: 'the approval rule(s) that apply' }) rule!: string | null;
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
  @Field({ description: 'a step would refuse: applying now would fail' }) blocked!: boolean;
  @Field(() => PlanApprovalModel, { description: 'what submitting this request would need before it runs' })
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
  @Field(() => GraphQLJSON, { nullable: true, description: 'the relevant part of the object before the step wrote' })
  before!: unknown;
  @Field(() => GraphQLJSON, { nullable: true }) after!: unknown;
  @Field(() => GraphQLJSON, { nullable: true, description: 'summary, exact changes sent, diagnostics, API calls' })
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
  @Field({ description: 'approve or reject' }) decision!: string;
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
  @Field(() => Int, { description: 'distinct approvers the approval policy requires (0 = none)' })
  approvalsRequired!: number;
  @Field(() => Int, { description: 'distinct approvals given so far (they stay counted across retries)' })
  approvalsGiven!: number;
  @Field(() => String, { nullable: true, description: 'the approval rule that applies' }) approvalRule!: string | null;
  @Field(() => [String], {
    description: 'the mesh-wide (MeshConfig) changes this request makes; approvers need a mesh grant',
  })
  meshWideChanges!: string[];
  @Field(() => [ApprovalModel]) approvals!: ApprovalModel[];
  @Field(() => Int, { description: 'cursor of the latest progress event' }) lastEventCursor!: number;
  @Field() createdAt!: string;
  @Field() updatedAt!: string;
  @Field(() => String, { nullable: true }) startedAt!: string | null;
  @Field(() => String, { nullable: true }) finishedAt!: string | null;
  @Field(() => [StepRunModel]) steps!: StepRunModel[];
}

@ObjectType()
export class OnboardingRequestEdge {
  @Field() cursor!: string;
  @Field(() => OnboardingRequestModel) node!: OnboardingRequestModel;
}

@ObjectType()
export class PageInfo {
  @Field() hasNextPage!: boolean;
  @Field(() => String, { nullable: true }) endCursor!: string | null;
}

@ObjectType()
export class OnboardingRequestConnection {
  @Field(() => [OnboardingRequestEdge]) edges!: OnboardingRequestEdge[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
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

@ObjectType('OnboardingEvent', {
  description: "A progress event; `cursor` orders a request's events and resumes a subscription.",
})
export class OnboardingEventModel {
  @Field(() => ID, { description: 'global, increasing event id (its identity; ids are not taken in commit order)' })
  id!: string;
  @Field(() => String, {
    nullable: true,
    description: 'in batchProgress only: pass it as `after` to resume after this event',
  })
  batchCursor?: string | null;
  @Field(() => ID) requestId!: string;
  @Field(() => Int) cursor!: number;
  @Field({
    description:
      'request.created, request.started, step.started, step.applying, step.succeeded, step.retrying, step.failed, request.succeeded, request.failed, ...',
  })
  type!: string;
  @Field() actor!: string;
  @Field(() => String, { nullable: true }) step!: string | null;
  @Field() message!: string;
  @Field(() => GraphQLJSON) data!: unknown;
  @Field() at!: string;
}
