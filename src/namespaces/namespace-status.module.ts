import { Module } from '@nestjs/common';
import { NamespaceStatusController } from './namespace-status.controller.js';
import { NamespaceStatusResolver } from './namespace-status.resolver.js';
import { NamespaceStatusService } from './namespace-status.service.js';

/** API role only: `GET /v1/clusters/:cluster/namespaces` and the `namespaceStatuses` query. */
@Module({ controllers: [NamespaceStatusController], providers: [NamespaceStatusService, NamespaceStatusResolver] })
export class NamespaceStatusModule {}
