// Owns GET /v1/clusters/:cluster/namespaces: live namespace status, paged.
import { Controller, Get, Param, Query } from '@nestjs/common';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { NamespaceStatusService } from './namespace-status.service.js';
import { ApiOperation } from '../docs/api-operation.js';
import * as R from '../docs/response-schemas.js';
import { NamespaceStatusQuery } from './namespace-status.service.js';

@Controller('v1/clusters')
export class NamespaceStatusController {
  constructor(private readonly status: NamespaceStatusService) {}

  /** `?limit=20&continue=<token>`: live namespace state joined with our last request; viewer and up, within scopes. */
  @ApiOperation({
    operationId: 'namespaceStatus',
    tag: 'namespaces',
    summary: 'Where each namespace of a cluster stands',
    description:
      'Read live from the cluster (paged with Kubernetes `limit`/`continue`; `continue` is a token of ours, for the ' +
      'caller and cluster it was given to, 10 minutes) and joined with our last request per ' +
      'namespace: the mesh it is monitored by, the injection setting, pods with and without the sidecar. Non-admin ' +
      'callers see the namespaces within their scopes.',
    roles: ['viewer', 'requester', 'approver'],
    query: NamespaceStatusQuery,
    responses: { 200: { description: 'one page', schema: R.NamespaceStatusPageSchema } },
    errors: ['VALIDATION_FAILED', 'CLUSTER_NOT_FOUND', 'CLUSTER_UNAVAILABLE', 'KUBE_FORBIDDEN'],
  })
  @Get(':cluster/namespaces')
  async list(@Param('cluster') cluster: string, @Query() query: unknown, @CurrentActor() actor: Actor) {
    const page = await this.status.page(cluster, query ?? {}, actor);
    return {
      cluster: page.cluster,
      items: page.items,
      pageInfo: { hasNextPage: page.continue !== null, continue: page.continue },
      apiCalls: page.apiCalls,
    };
  }
}
