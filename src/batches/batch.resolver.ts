// Owns the GraphQL edge of batches: their types, requestBatch, planBatch, batch, batchOperation (its comment or reason
// checked by BatchService.each, as REST's) and the batchProgress subscription. REST: batch.controller.ts.
import { Args, Field, ID, InputType, Mutation, ObjectType, Query, Resolver, Subscription } from '@nestjs/graphql';
import { GraphQLJSON } from 'graphql-scalars';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { DomainError, invalidInputMessage } from '../common/domain-error.js';
import { RequestKind } from '../generated/prisma/enums.js';
import { OnboardingEventModel, OnboardingPlanModel, OnboardingRequestModel } from '../onboarding/api/graphql.models.js';
import { presentBatch } from './batch.controller.js';
import { BatchService, type BatchView } from './batch.service.js';
import { parseIdempotencyKey } from '../onboarding/api/shared-inputs.js';

@InputType()
export class BatchTargetInput {
  @Field({ nullable: true }) cluster?: string;
  @Field() namespace!: string;
}

@InputType()
export class BatchInput {
  @Field(() => RequestKind) kind!: RequestKind;
  @Field(() => [BatchTargetInput]) targets!: BatchTargetInput[];
  @Field(() => GraphQLJSON, { nullable: true }) options?: Record<string, unknown>;
}

/** GraphQL's own Batch field (REST says it with the Idempotent-Replayed header); zod-types.ts pairs it. */
export const BATCH_REPLAYED_DESCRIPTION =
  'True when this is the answer to requestBatch whose idempotencyKey matched an earlier identical batch of the ' +
  'same caller: that batch is returned and nothing new was created (REST: the Idempotent-Replayed header). ' +
  'false otherwise.';

@ObjectType('Batch')
export class BatchModel {
  @Field(() => ID) id!: string;
  @Field(() => RequestKind) kind!: RequestKind;
  @Field() requestedBy!: string;
  @Field() createdAt!: string;
  @Field()
  status!: string;
  @Field(() => GraphQLJSON) counts!: Record<string, number>;
  @Field(() => [OnboardingRequestModel]) requests!: OnboardingRequestModel[];
  @Field({ description: BATCH_REPLAYED_DESCRIPTION })
  replayed!: boolean;
}

/** The batch as GraphQL shows it; only requestBatch's answer can be a replay. */
const shown = (b: BatchView, replayed = false) => ({ ...presentBatch(b), replayed });

@ObjectType()
export class BatchMemberResult {
  @Field(() => ID) requestId!: string;
  @Field() namespace!: string;
  @Field() ok!: boolean;
  @Field(() => String, { nullable: true }) code!: string | null;
  @Field(() => String, { nullable: true }) message!: string | null;
}

@ObjectType()
export class BatchOperationResult {
  @Field(() => BatchModel) batch!: BatchModel;
  @Field(() => [BatchMemberResult]) results!: BatchMemberResult[];
}

/** The input as REST's body: `options: null` stays null (refused as REST refuses it), left out is the default. */
const plainInput = (i: BatchInput) => ({
  kind: i.kind,
  targets: i.targets.map((t) => ({ ...t })),
  ...(i.options === undefined ? {} : { options: i.options }),
});

@Resolver()
export class BatchResolver {
  constructor(private readonly batches: BatchService) {}

  @Mutation(() => BatchModel, {
    nullable: true,
    description: 'Onboard or offboard several namespaces together (all validated first, stored at once).',
  })
  async requestBatch(
    @Args('input') input: BatchInput,
    @CurrentActor() actor: Actor,
    @Args('idempotencyKey', {
      nullable: true,
      description:
        'The same key with the same input returns the first batch (its `replayed`: true); with a different input ' +
        '`IDEMPOTENCY_KEY_REUSED`. Keys are per caller.',
    })
    idempotencyKey?: string,
  ) {
    const key = parseIdempotencyKey(idempotencyKey, 'idempotencyKey');
    const { batch, replayed } = await this.batches.create(plainInput(input), actor, key);
    return shown(batch, replayed);
  }

  @Query(() => [OnboardingPlanModel], { description: 'Dry run of every target of a batch.' })
  planBatch(@Args('input') input: BatchInput, @CurrentActor() actor: Actor) {
    return this.batches.plan(plainInput(input), actor);
  }

  @Query(() => BatchModel, { description: 'A batch: aggregate status, counts by status, its requests.' })
  async batch(@Args('id', { type: () => ID }) id: string, @CurrentActor() actor: Actor) {
    return shown(await this.batches.get(id, actor));
  }

  @Mutation(() => BatchOperationResult, {
    nullable: true,
    description: 'Approve, reject, cancel, retry or apply every member of a batch it applies to.',
  })
  async batchOperation(
    @Args('id', { type: () => ID }) id: string,
    @Args('operation') operation: string,
    @CurrentActor() actor: Actor,
    @Args('reason', { nullable: true }) reason?: string,
  ) {
    if (!['approve', 'reject', 'cancel', 'retry', 'apply'].includes(operation)) {
      throw new DomainError('VALIDATION_FAILED', 'operation must be approve, reject, cancel, retry or apply', {
        field: 'operation',
      });
    }
    // An approval's text is its comment (as approveOnboardingRequest's); this mutation's argument is `reason`,
    // so a refused one is named by that argument, not by the body's field.
    // Left out (or null) is no text; anything sent, an empty string included, is checked as REST's body field is.
    const given = reason !== undefined && reason !== null;
    const body = operation === 'approve' ? (given ? { comment: reason } : {}) : given ? { reason } : {};
    try {
      const { batch, results } = await this.batches.each(id, actor, operation as 'approve', body);
      return { batch: shown(batch), results };
    } catch (err) {
      if (!(err instanceof DomainError) || operation !== 'approve' || !err.fields.some((f) => f.field === 'comment'))
        throw err;
      const fields = err.fields.map((f) => (f.field === 'comment' ? { ...f, field: 'reason' } : f));
      throw new DomainError(err.code, invalidInputMessage(fields), { ...err.options, field: undefined, fields });
    }
  }

  @Subscription(() => OnboardingEventModel, {
    description:
      "Every member request's events, none skipped; resume with `after` = the last event's `batchCursor`. " +
      'Completes when all members end.',
    resolve: (event: unknown) => event,
  })
  async batchProgress(
    @Args('batchId', { type: () => ID }) batchId: string,
    @CurrentActor() actor: Actor,
    @Args('after', { nullable: true }) after?: string,
  ) {
    return this.batches.events(batchId, actor, after ?? undefined, { id: 'batchId' });
  }
}
