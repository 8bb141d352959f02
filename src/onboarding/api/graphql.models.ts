import { Field, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { RequestKind, RequestStatus, StepResult, StepStatus } from '../../generated/prisma/enums.js';

export enum SidecarInjection {
  enabled = 'enabled',
  disabled = 'disabled',
}

registerEnumType(RequestKind, { name: 'RequestKind' });
registerEnumType(RequestStatus, { name: 'RequestStatus' });
registerEnumType(StepStatus, { name: 'StepStatus' });
registerEnumType(StepResult, { name: 'StepResult', description: 'CHANGED when the step wrote to the cluster, UNCHANGED when it was already in the desired state' });
registerEnumType(SidecarInjection, { name: 'SidecarInjection' });

@InputType({ description: 'Add a namespace to an osm-edge mesh (osm namespace add).' })
export class OnboardingInput {
  @Field({ nullable: true, description: 'kubeconfig context; omitted = the current context' })
  cluster?: string;
  @Field()
  namespace!: string;
  @Field({ nullable: true, description: 'defaults to "osm"' })
  meshName?: string;
  @Field(() => SidecarInjection, { nullable: true, description: 'defaults to enabled' })
  sidecarInjection?: SidecarInjection;
}

@InputType({ description: 'Remove a namespace from an osm-edge mesh (osm namespace remove).' })
export class OffboardingInput {
  @Field({ nullable: true })
  cluster?: string;
  @Field()
  namespace!: string;
  @Field({ nullable: true })
  meshName?: string;
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
  @Field(() => GraphQLJSON, { nullable: true, description: 'the relevant part of the object before the step wrote' }) before!: unknown;
  @Field(() => GraphQLJSON, { nullable: true }) after!: unknown;
  @Field(() => GraphQLJSON, { nullable: true, description: 'summary, exact changes sent, diagnostics, API calls' }) output!: unknown;
  @Field(() => String, { nullable: true }) errorCode!: string | null;
  @Field(() => String, { nullable: true }) errorMessage!: string | null;
  @Field(() => String, { nullable: true }) startedAt!: string | null;
  @Field(() => String, { nullable: true }) finishedAt!: string | null;
  @Field(() => Int, { nullable: true }) durationMs!: number | null;
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

@ObjectType('OnboardingEvent', { description: 'A progress event; `cursor` orders a request\'s events and resumes a subscription.' })
export class OnboardingEventModel {
  @Field(() => ID) requestId!: string;
  @Field(() => Int) cursor!: number;
  @Field({ description: 'request.created, request.started, step.started, step.applying, step.succeeded, step.retrying, step.failed, request.succeeded, request.failed, ...' })
  type!: string;
  @Field() actor!: string;
  @Field(() => String, { nullable: true }) step!: string | null;
  @Field() message!: string;
  @Field(() => GraphQLJSON) data!: unknown;
  @Field() at!: string;
}
