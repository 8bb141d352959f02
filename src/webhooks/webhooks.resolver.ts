import {
  Args,
  Field,
  ID,
  InputType,
  Int,
  Mutation,
  ObjectType,
  Query,
  registerEnumType,
  Resolver,
} from '@nestjs/graphql';
import { GraphQLJSON } from 'graphql-scalars';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { forwardPageInfo, PageInfo } from '../onboarding/api/graphql.models.js';
import { encodeCursor } from '../onboarding/onboarding.repository.js';
import { withArgNames, withoutNulls } from '../common/graphql-args.js';
import { WebhookDeliveryStatus, WebhookFormat } from '../generated/prisma/enums.js';
import { WebhookService } from './webhook.service.js';

registerEnumType(WebhookDeliveryStatus, { name: 'WebhookDeliveryStatus' });
registerEnumType(WebhookFormat, {
  name: 'WebhookFormat',
});

@InputType()
export class CreateWebhookInput {
  @Field() url!: string;
  @Field(() => [String])
  eventTypes!: string[];
  @Field({ nullable: true })
  secret?: string;
  @Field({ nullable: true }) description?: string;
  @Field(() => WebhookFormat, { nullable: true })
  format?: WebhookFormat;
}

@ObjectType('Webhook')
export class WebhookModel {
  @Field(() => ID) id!: string;
  @Field() url!: string;
  @Field(() => [String]) eventTypes!: string[];
  @Field(() => String, { nullable: true }) description!: string | null;
  @Field(() => WebhookFormat) format!: WebhookFormat;
  @Field() owner!: string;
  @Field(() => [String])
  scopes!: string[];
  @Field() createdAt!: string;
  @Field() updatedAt!: string;
}

@ObjectType()
export class CreatedWebhook {
  @Field(() => WebhookModel) webhook!: WebhookModel;
  @Field(() => String, {
    nullable: true,
  })
  secret!: string | null;
}

@ObjectType('WebhookDeliveryAttempt')
export class WebhookDeliveryAttemptModel {
  @Field(() => Int) attempt!: number;
  @Field(() => Int, { nullable: true }) responseCode!: number | null;
  @Field(() => String, { nullable: true }) error!: string | null;
  @Field(() => Int) durationMs!: number;
  @Field() at!: string;
}

@ObjectType('WebhookDelivery')
export class WebhookDeliveryModel {
  @Field(() => ID) id!: string;
  @Field(() => ID) webhookId!: string;
  @Field(() => ID) requestId!: string;
  @Field(() => Int) cursor!: number;
  @Field() eventType!: string;
  @Field(() => WebhookDeliveryStatus) status!: WebhookDeliveryStatus;
  @Field(() => Int) attempts!: number;
  @Field(() => Int, { nullable: true }) lastResponseCode!: number | null;
  @Field(() => String, { nullable: true }) lastError!: string | null;
  @Field(() => String, { nullable: true }) nextAttemptAt!: string | null;
  @Field(() => String, { nullable: true }) deliveredAt!: string | null;
  @Field() createdAt!: string;
  @Field(() => GraphQLJSON) payload!: unknown;
  @Field(() => [WebhookDeliveryAttemptModel]) history!: WebhookDeliveryAttemptModel[];
}

@ObjectType({ description: 'A delivery in a page of deliveries.' })
export class WebhookDeliveryEdge {
  @Field({ description: 'Pass as `after` to continue after this delivery.' }) cursor!: string;
  @Field(() => WebhookDeliveryModel, { description: 'The delivery.' }) node!: WebhookDeliveryModel;
}

@ObjectType({ description: "A page of a webhook's deliveries, newest first (a Relay cursor connection)." })
export class WebhookDeliveryConnection {
  @Field(() => [WebhookDeliveryEdge], { description: 'The deliveries of this page, each with its cursor.' })
  edges!: WebhookDeliveryEdge[];
  @Field(() => PageInfo, { description: 'Where the page ends.' }) pageInfo!: PageInfo;
}

@Resolver()
export class WebhooksResolver {
  constructor(private readonly service: WebhookService) {}

  @Mutation(() => CreatedWebhook, {
    nullable: true,
    description: 'Requester/admin: register a webhook for events of requests in your scopes.',
  })
  createWebhook(@Args('input') input: CreateWebhookInput, @CurrentActor() actor: Actor) {
    return this.service.create(withoutNulls({ ...input }), actor);
  }

  @Query(() => [WebhookModel], { description: 'Your webhooks (admins: all).' })
  webhooks(@CurrentActor() actor: Actor) {
    return this.service.list(actor);
  }

  @Query(() => WebhookModel, { description: 'A webhook subscription (never its secret).' })
  webhook(@Args('id', { type: () => ID }) id: string, @CurrentActor() actor: Actor) {
    return this.service.read(id, actor);
  }

  @Mutation(() => WebhookModel, {
    nullable: true,
    description: 'Delete a webhook (and its delivery history).',
  })
  deleteWebhook(@Args('id', { type: () => ID }) id: string, @CurrentActor() actor: Actor) {
    return this.service.delete(id, actor);
  }

  @Query(() => WebhookDeliveryConnection, { description: "A webhook's deliveries, newest first, with every attempt." })
  async webhookDeliveries(
    @Args('webhookId', { type: () => ID }) webhookId: string,
    @CurrentActor() actor: Actor,
    @Args('status', { type: () => WebhookDeliveryStatus, nullable: true }) status?: WebhookDeliveryStatus,
    @Args('first', { type: () => Int, nullable: true, defaultValue: 20 }) first?: number,
    @Args('after', { nullable: true }) after?: string,
  ): Promise<WebhookDeliveryConnection> {
    const page = await withArgNames({ limit: 'first' }, () =>
      this.service.deliveries(
        webhookId,
        { status: status ?? undefined, limit: first ?? 20, after: after ?? undefined },
        actor,
      ),
    );
    const edges = (page.items as WebhookDeliveryModel[]).map((node) => ({
      cursor: encodeCursor({ id: node.id, createdAt: new Date(node.createdAt) }),
      node,
    }));
    return { edges, pageInfo: forwardPageInfo(edges, page.pageInfo.hasNextPage, page.pageInfo.endCursor) };
  }
}
