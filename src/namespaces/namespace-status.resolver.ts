import { Args, Field, Int, ObjectType, Query, Resolver } from '@nestjs/graphql';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { PageInfo } from '../onboarding/api/graphql.models.js';
import { withArgNames } from '../common/graphql-args.js';
import { NamespaceStatusService } from './namespace-status.service.js';

@ObjectType()
export class NamespacePodCounts {
  @Field(() => Int) total!: number;
  @Field(() => Int) withSidecar!: number;
  @Field(() => Int) withoutSidecar!: number;
}

@ObjectType()
export class NamespaceLastRequest {
  @Field() id!: string;
  @Field({ description: 'ONBOARD or OFFBOARD' }) kind!: string;
  @Field({ description: 'the request status (its outcome once finished)' }) status!: string;
  @Field() meshName!: string;
  @Field() requestedBy!: string;
  @Field(() => String, { nullable: true }) errorCode!: string | null;
  @Field(() => String, { nullable: true }) errorMessage!: string | null;
  @Field() createdAt!: string;
  @Field(() => String, { nullable: true }) finishedAt!: string | null;
}

@ObjectType('NamespaceStatus')
export class NamespaceStatusModel {
  @Field() name!: string;
  @Field(() => String, { nullable: true }) phase!: string | null;
  @Field(() => String, {
    nullable: true,
    description: 'the mesh monitoring the namespace (openservicemesh.io/monitored-by)',
  })
  monitoredBy!: string | null;
  @Field(() => String, {
    nullable: true,
    description: 'enabled, disabled or invalid; null when the annotation is unset',
  })
  sidecarInjection!: string | null;
  @Field({ description: 'openservicemesh.io/ignore is set' }) ignored!: boolean;
  @Field(() => NamespacePodCounts, {
    nullable: true,
    description: 'unfinished pods; null when they could not be listed',
  })
  pods!: NamespacePodCounts | null;
  @Field(() => String, { nullable: true }) podsError!: string | null;
  @Field(() => NamespaceLastRequest, { nullable: true, description: 'our newest request for this namespace' })
  lastRequest!: NamespaceLastRequest | null;
}

@ObjectType()
export class NamespaceStatusConnection {
  @Field() cluster!: string;
  @Field(() => [NamespaceStatusModel]) nodes!: NamespaceStatusModel[];
  @Field(() => PageInfo, { description: 'endCursor is the Kubernetes continue token' }) pageInfo!: PageInfo;
  @Field(() => Int, { description: 'Kubernetes API calls this page cost' }) apiCalls!: number;
}

@Resolver()
export class NamespaceStatusResolver {
  constructor(private readonly status: NamespaceStatusService) {}

  @Query(() => NamespaceStatusConnection, {
    description:
      'Namespaces of a cluster read live (paged), with mesh, injection, sidecar pods and our last request; within your scopes.',
  })
  async namespaceStatuses(
    @Args('cluster') cluster: string,
    @CurrentActor() actor: Actor,
    @Args('first', { type: () => Int, nullable: true, defaultValue: 20 }) first?: number,
    @Args('after', { nullable: true }) after?: string,
  ): Promise<NamespaceStatusConnection> {
    const page = await withArgNames({ limit: 'first', continue: 'after' }, () =>
      this.status.page(cluster, { limit: first ?? 20, continue: after ?? undefined }, actor),
    );
    return {
      cluster: page.cluster,
      nodes: page.items,
      pageInfo: { hasNextPage: page.continue !== null, endCursor: page.continue },
      apiCalls: page.apiCalls,
    };
  }
}
