import { Global, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { MetricsService } from './metrics.service.js';
import { flushTracing } from './tracing.js';

/** Spans still buffered go out before the process exits. */
@Injectable()
class TracingFlush implements OnApplicationShutdown {
  async onApplicationShutdown(): Promise<void> {
    await flushTracing();
  }
}

@Global()
@Module({ providers: [MetricsService, TracingFlush], exports: [MetricsService] })
export class ObservabilityModule {}
