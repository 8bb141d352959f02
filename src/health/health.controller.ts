// Owns /healthz and /readyz (public). /readyz is 503 while the process drains, and while the database's schema is
// behind this build; the dependencies it reports (Postgres, Redis, the clusters) are shared by every replica, so
// they are reported, not required (dependency-checks.ts says why).
import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import { send, type HttpReply } from '../common/http-reply.js';
import { PrismaService } from '../database/prisma.service.js';
import { RedisService } from '../redis/redis.service.js';
import { ClusterGateway } from '../kubernetes/cluster-gateway.js';
import { Public } from '../auth/auth.guard.js';
import { ApiOperation } from '../docs/api-operation.js';
import * as R from '../docs/response-schemas.js';
import { check, storeChecks } from './dependency-checks.js';

@Public()
@Controller()
export class HealthController {
  private draining = false;

  constructor(
    private readonly prisma: PrismaService,
    private readonly redis: RedisService,
    private readonly gateway: ClusterGateway,
  ) {}

  /** Liveness: the process answers. */
  @ApiOperation({
    operationId: 'healthz',
    tag: 'operations',
    summary: 'Liveness',
    responses: { 200: { description: 'the process answers', schema: R.HealthSchema } },
    errors: [],
  })
  @Get('healthz')
  @HttpCode(200)
  healthz() {
    return { status: 'ok' };
  }

  /**
   * Readiness: the process serves until it drains. Postgres, Redis and the clusters (at least one answers) are
   * reported in the body, not required: during their outage every replica stays in the Service and answers each
   * call that needs them with `503 DEPENDENCY_UNAVAILABLE` + `Retry-After`.
   */
  @ApiOperation({
    operationId: 'readyz',
    tag: 'operations',
    summary: 'Readiness: 503 while draining or while the schema is behind; reports Postgres, Redis and the clusters',
    responses: {
      200: { description: 'ready (also while a shared dependency is down: see `checks`)', schema: R.ReadySchema },
      503: {
        description: 'not ready: the process is draining (shutting down), or the database is not migrated for it',
        schema: R.ReadySchema,
      },
    },
    errors: [],
  })
  @Get('readyz')
  async readyz(@Res() res: HttpReply) {
    const clusters = this.gateway.clusterNames();
    const [stores, cluster] = await Promise.all([
      storeChecks(this.prisma, this.redis),
      check(() => Promise.any(clusters.map((c) => this.gateway.client(c).listNamespaces({ limit: 1 })))),
    ]);
    const ready = !this.draining && stores.schema !== 'behind';
    send(res, {
      status: ready ? 200 : 503,
      body: { status: ready ? 'ready' : 'not-ready', checks: { ...stores, cluster, draining: this.draining } },
    });
  }

  markDraining(): void {
    this.draining = true;
  }
}
