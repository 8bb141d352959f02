import { Args, Field, Int, ObjectType, Query, Resolver } from '@nestjs/graphql';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { forwardPageInfo, PageInfo } from '../onboarding/api/graphql.models.js';
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
  @Field() kind!: string;
  @Field() status!: string;
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
  })
  monitoredBy!: string | null;
  @Field(() => String, {
    nullable: true,
  })
  sidecarInjection!: string | null;
  @Field() ignored!: boolean;
  @Field(() => NamespacePodCounts, {
    nullable: true,
  })
  pods!: NamespacePodCounts | null;
  @Field(() => String, { nullable: true }) podsError!: string | null;
  @Field(() => NamespaceLastRequest, { nullable: true })
  lastRequest!: NamespaceLastRequest | null;
}

@ObjectType({ description: 'A namespace in a page of namespaces.' })
export class NamespaceStatusEdge {
  @Field({
    description:
      'The namespace name. A list resumes only at a page boundary, so continue with `pageInfo.endCursor`, not ' +
      'with this cursor.',
  })
  cursor!: string;
  @Field(() => NamespaceStatusModel, { description: 'The namespace.' }) node!: NamespaceStatusModel;
}

@ObjectType({ description: 'A page of the namespaces of a cluster, by name (a Relay cursor connection).' })
export class NamespaceStatusConnection {
  @Field({ description: 'The cluster: a kubeconfig context name.' }) cluster!: string;
  @Field(() => [NamespaceStatusEdge], { description: 'The namespaces of this page.' })
  edges!: NamespaceStatusEdge[];
  @Field(() => PageInfo, {
    description:
      'Where the page ends; `endCursor` continues the list (for the caller and cluster it was given to, 10 minutes).',
  })
  pageInfo!: PageInfo;
  @Field(() => Int, { description: 'Kubernetes API calls this page cost.' }) apiCalls!: number;
}

@Resolver()
export class NamespaceStatusResolver {
  constructor(private readonly status: NamespaceStatusService) {}

  @Query(() => NamespaceStatusConnection, {
    description:
      'Namespaces of a cluster read live (paged), with mesh, injection, sidecar pods and our last request; within ' +
      'your scopes.',
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
    const edges = page.items.map((node) => ({ cursor: node.name, node }));
    return {
      cluster: page.cluster,
      edges,
      pageInfo: forwardPageInfo(edges, page.continue !== null, page.continue),
      apiCalls: page.apiCalls,
    };
  }
}
