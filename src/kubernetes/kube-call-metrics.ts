// Feeds every Kubernetes API call the gateway makes into the Prometheus histogram; the arrow runs from the
// gateway to observability/, so metrics need not know the gateway.
import { Injectable, OnModuleInit } from '@nestjs/common';
import { MetricsService } from '../observability/metrics.service.js';
import { ClusterGateway } from './cluster-gateway.js';

@Injectable()
export class KubeCallMetrics implements OnModuleInit {
  constructor(
    private readonly gateway: ClusterGateway,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.gateway.onCall((record) => this.metrics.observeKubeCall(record));
  }
}
