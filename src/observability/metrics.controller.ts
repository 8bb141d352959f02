// Owns /metrics: the Prometheus exposition (public).
import { Controller, Get, Res } from '@nestjs/common';
import { send, type HttpReply } from '../common/http-reply.js';
import { MetricsService } from './metrics.service.js';
import { Public } from '../auth/auth.guard.js';
import { ApiOperation } from '../docs/api-operation.js';

@Public()
@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @ApiOperation({
    operationId: 'metrics',
    tag: 'operations',
    summary: 'Prometheus metrics',
    responses: { 200: { description: 'Prometheus text exposition format', media: 'text' } },
    errors: [],
  })
  @Get('metrics')
  async scrape(@Res() res: HttpReply) {
    const body = await this.metrics.registry.metrics();
    send(res, { status: 200, type: this.metrics.registry.contentType, body });
  }
}
