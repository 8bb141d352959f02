// Owns the GraphQL edge of requests: the mutations, queries and the onboardingProgress subscription that mirror
// onboarding.controller.ts's REST routes, with the inputs both take checked by the same schemas (shared-inputs.ts).
import { Args, ID, Int, Mutation, Parent, Query, ResolveField, Resolver, Subscription } from '@nestjs/graphql';
import type { Actor } from '../../auth/actor.js';
import { CurrentActor } from '../../auth/auth.guard.js';
import { withArgNames, withoutNulls } from '../../common/graphql-args.js';
import { parseInput } from '../../common/parse-input.js';
import { ProgressService } from '../../events/progress.service.js';
import { encodeCursor } from '../onboarding.repository.js';
import { OnboardingService } from '../onboarding.service.js';
import {
  AuditEventModel,
  forwardPageInfo,
  OffboardingInput,
  OnboardingEventModel,
  OnboardingInput,
  OnboardingPlanModel,
  OnboardingRequestConnection,
  OnboardingRequestFilter,
  OnboardingRequestModel,
} from './graphql.models.js';
import { presentAuditEvent, presentRequest } from './onboarding.presenter.js';
import {
  CancelSchema,
  cursorOf,
  GraphqlAuditQuery,
  parseIdempotencyKey,
  ProgressCursor,
  RequestFilterSchema,
  RequestPageSchema,
} from './shared-inputs.js';

/** GraphQL's `Idempotent-Replayed` header: a typed client sees it in the mutation's own result. */
export const REPLAYED_DESCRIPTION =
  'True when this is the answer to requestOnboarding, requestOffboarding or reapplyOnboarding whose ' +
  'idempotencyKey matched an earlier identical request of the same caller: that earlier request is returned ' +
  'and nothing new was created (REST: the Idempotent-Replayed header). false otherwise, and in every query.';

@Resolver(() => OnboardingRequestModel)
export class OnboardingResolver {
  constructor(
    private readonly onboarding: OnboardingService,
    private readonly progress: ProgressService,
  ) {}

  @Mutation(() => OnboardingRequestModel, {
    nullable: true,
    description: 'Queue the onboarding of a namespace; returns the stored request.',
  })
  async requestOnboarding(
    @Args('input') input: OnboardingInput,
    @CurrentActor() actor: Actor,
    @Args('idempotencyKey', { nullable: true }) idempotencyKey?: string,
  ) {
    const key = parseIdempotencyKey(idempotencyKey, 'idempotencyKey');
    const { request, replayed } = await this.onboarding.requestOnboarding(plain(input), actor, key);
    return { ...presentRequest(request), replayed };
  }

  @Mutation(() => OnboardingRequestModel, {
    nullable: true,
    description: 'Queue the removal of a namespace from its mesh.',
  })
  async requestOffboarding(
    @Args('input') input: OffboardingInput,
    @CurrentActor() actor: Actor,
    @Args('idempotencyKey', { nullable: true }) idempotencyKey?: string,
  ) {
    const key = parseIdempotencyKey(idempotencyKey, 'idempotencyKey');
    const { request, replayed } = await this.onboarding.requestOffboarding(plain(input), actor, key);
    return { ...presentRequest(request), replayed };
  }

  @Query(() => OnboardingPlanModel, {
    description: "Dry run: every step's exact writes and the diagnostics; writes nothing.",
  })
  planOnboarding(@Args('input') input: OnboardingInput, @CurrentActor() actor: Actor) {
    return this.onboarding.plan('ONBOARD', plain(input), actor);
  }

  @Query(() => OnboardingPlanModel, { description: 'Dry run of an offboarding.' })
  planOffboarding(@Args('input') input: OffboardingInput, @CurrentActor() actor: Actor) {
    return this.onboarding.plan('OFFBOARD', plain(input), actor);
  }

  @Mutation(() => OnboardingRequestModel, {
    nullable: true,
    description: 'Queue a request stored by a dry run (status PLANNED).',
  })
  async applyPlannedRequest(@Args('id', { type: () => ID }) id: string, @CurrentActor() actor: Actor) {
    return presentRequest(await this.onboarding.applyPlanned(id, actor));
  }

  @Mutation(() => OnboardingRequestModel, {
    nullable: true,
    description: 'Cancel: a waiting request ends now; a running one stops before its next step or attempt.',
  })
  async cancelOnboardingRequest(
    @Args('id', { type: () => ID }) id: string,
    @CurrentActor() actor: Actor,
    @Args('reason', { nullable: true }) reason?: string,
  ) {
    const cancellation = parseInput(CancelSchema, reason === undefined || reason === null ? {} : { reason });
    return presentRequest(await this.onboarding.cancel(id, actor, cancellation.reason));
  }

  @Mutation(() => OnboardingRequestModel, {
    nullable: true,
    description: 'Retry a FAILED or CANCELLED request from its first unfinished step.',
  })
  async retryOnboardingRequest(@Args('id', { type: () => ID }) id: string, @CurrentActor() actor: Actor) {
    return presentRequest(await this.onboarding.retry(id, actor));
  }

  @Query(() => OnboardingRequestModel, { description: 'A request with its steps.' })
  async onboardingRequest(@Args('id', { type: () => ID }) id: string, @CurrentActor() actor: Actor) {
    return presentRequest(await this.onboarding.read(id, actor));
  }

  @Query(() => OnboardingRequestConnection, { description: 'Requests within your scopes, newest first.' })
  async onboardingRequests(
    @CurrentActor() actor: Actor,
    @Args('filter', { nullable: true }) filter?: OnboardingRequestFilter,
    @Args('first', { type: () => Int, nullable: true, defaultValue: 20 }) first?: number,
    @Args('after', { nullable: true }) after?: string,
  ): Promise<OnboardingRequestConnection> {
    // The REST query's rules (an empty value is refused, not a filter that matches nothing), naming `filter.<field>`.
    const checked = parseInput(RequestFilterSchema, withoutNulls(filter ?? {}), { field: 'filter' });
    // REST's `limit` and `after` rules; null is the argument left out (`first` then its default).
    const { limit, after: cursor } = await withArgNames({ limit: 'first' }, () =>
      Promise.resolve().then(() =>
        parseInput(RequestPageSchema, { limit: first ?? undefined, after: after ?? undefined }),
      ),
    );
    const page = await this.onboarding.list(checked, limit, cursor, actor);
    const edges = page.items.map((r) => ({
      cursor: encodeCursor(r),
      node: presentRequest(r) as OnboardingRequestModel,
    }));
    return { edges, pageInfo: forwardPageInfo(edges, page.hasNextPage, page.endCursor) };
  }

  @Query(() => [AuditEventModel], {
    description:
      "A page of a request's audit trail, in cursor order: the events after `after` (0: from the start), at most " +
      '`first` (100 unless given, at most 1000). Fewer than `first` events: the trail ends here; else ask again ' +
      "with `after` = the last event's `cursor`.",
  })
  async auditEvents(
    @Args('requestId', { type: () => ID }) requestId: string,
    @CurrentActor() actor: Actor,
    @Args('after', {
      type: () => Int,
      nullable: true,
      description: 'The events after this cursor (0: from the start).',
    })
    after?: number | null,
    @Args('first', { type: () => Int, nullable: true, description: 'How many events at most (1 to 1000; 100).' })
    first?: number | null,
  ) {
    // REST's `after` and `limit` rules; null is the argument left out.
    const page = await withArgNames({ limit: 'first' }, () =>
      Promise.resolve().then(() =>
        parseInput(GraphqlAuditQuery, { after: after ?? undefined, limit: first ?? undefined }),
      ),
    );
    // The services name the request `id` (REST's path parameter); here it is the `requestId` argument.
    const events = await withArgNames({ id: 'requestId' }, () => this.onboarding.auditEvents(requestId, actor, page));
    return events.items.map(presentAuditEvent);
  }

  /** Set by the mutations that take an `idempotencyKey`; every other answer is not a replay. */
  @ResolveField(() => Boolean, { description: REPLAYED_DESCRIPTION })
  replayed(@Parent() request: { replayed?: boolean }): boolean {
    return request.replayed === true;
  }

  @Subscription(() => OnboardingEventModel, {
    description:
      'Replays the events after `after` (a cursor), then streams live ones; completes when the request ends.',
    resolve: (event: unknown) => event,
  })
  async onboardingProgress(
    @Args('requestId', { type: () => ID }) requestId: string,
    @Args('after', { type: () => Int, nullable: true, defaultValue: 0 }) after: number,
    @CurrentActor() actor: Actor,
  ) {
    const cursor = parseInput(ProgressCursor, after ?? 0, { field: 'after' }); // null: left out, from the start
    const request = await withArgNames({ id: 'requestId' }, () => this.onboarding.read(requestId, actor));
    return this.progress.open(requestId, cursorOf(request, cursor, 'after'), actor.id);
  }
}

// GraphQL input objects arrive as class instances (nested too) with absent fields undefined;
// validation wants plain data, as REST gives it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- fed to zod parsing, which types the result
function plain(input: unknown): any {
  if (Array.isArray(input)) return input.map(plain);
  if (input === null || typeof input !== 'object' || input.constructor === Object) return input;
  return Object.fromEntries(
    Object.entries(input)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, plain(v)]),
  );
}
