// Owns /healthz and /readyz (public).
import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import { send, type HttpReply } from '../common/http-reply.js';
import { PrismaService } from '../database/prisma.service.js';
import { RedisService } from '../redis/redis.service.js';
import { ClusterGateway } from '../kubernetes/cluster-gateway.js';
import { Public } from '../auth/auth.guard.js';
import { ApiOperation } from '../docs/api-operation.js';
import * as R from '../docs/response-schemas.js';

const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms))]);

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

  /** Readiness: Postgres, Redis and at least one cluster answer, and we are not shutting down. */
  @ApiOperation({
    operationId: 'readyz',
    tag: 'operations',
    summary: 'Readiness: Postgres, Redis and at least one cluster answer',
    responses: {
      200: { description: 'ready', schema: R.ReadySchema },
      503: { description: 'not ready (a dependency is down, or the process is draining)', schema: R.ReadySchema },
    },
    errors: [],
  })
  @Get('readyz')
  async readyz(@Res() res: HttpReply) {
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await withTimeout(fn(), 2000);
        return 'ok';
      } catch {
        return 'unavailable';
      }
    };
    const clusters = this.gateway.clusterNames();
    const [postgres, redis, cluster] = await Promise.all([
      check(() => this.prisma.$queryRaw`SELECT 1`),
      check(() => this.redis.client.ping()),
      check(() => Promise.any(clusters.map((c) => this.gateway.client(c).listNamespaces({ limit: 1 })))),
    ]);
    const ready = !this.draining && postgres === 'ok' && redis === 'ok' && cluster === 'ok';
    send(res, {
      status: ready ? 200 : 503,
      body: { status: ready ? 'ready' : 'not-ready', checks: { postgres, redis, cluster, draining: this.draining } },
    });
  }

  markDraining(): void {
    this.draining = true;
  }
}
