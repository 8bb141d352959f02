import { Controller, Get, Param, Query } from '@nestjs/common';
import type { Actor } from '../auth/actor.js';
import { CurrentActor } from '../auth/auth.guard.js';
import { NamespaceStatusService } from './namespace-status.service.js';

@Controller('v1/clusters')
export class NamespaceStatusController {
  constructor(private readonly status: NamespaceStatusService) {}

  /** `?limit=20&continue=<token>`: live namespace state joined with our last request; viewer and up, within scopes. */
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
