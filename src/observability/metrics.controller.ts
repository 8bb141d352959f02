// Owns /metrics: the Prometheus exposition (public, or behind METRICS_TOKEN: metrics-access.ts).
import { Controller, Get, Headers, Inject, Res } from '@nestjs/common';
import { DomainError } from '../common/domain-error.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { metricsAllowed } from './metrics-access.js';
import { send, type HttpReply } from '../common/http-reply.js';
import { MetricsService } from './metrics.service.js';
import { Public } from '../auth/auth.guard.js';
import { ApiOperation } from '../docs/api-operation.js';

@Public()
@Controller()
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @ApiOperation({
    operationId: 'metrics',
    tag: 'operations',
    summary: 'Prometheus metrics',
    responses: { 200: { description: 'Prometheus text exposition format', media: 'text' } },
    errors: ['UNAUTHENTICATED'],
  })
  @Get('metrics')
  async scrape(@Res() res: HttpReply, @Headers('authorization') authorization?: string) {
    if (!metricsAllowed(authorization, this.config.metricsToken)) {
      throw new DomainError('UNAUTHENTICATED', 'the metrics need the METRICS_TOKEN as a bearer token');
    }
    const body = await this.metrics.registry.metrics();
    send(res, { status: 200, type: this.metrics.registry.contentType, body });
  }
}
