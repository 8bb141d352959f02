// Owns webhook subscriptions and their deliveries: the service both roles use, the worker's dispatcher (the
// fan-out from the EventBus and the `webhooks` queue consumer); the API edges come from src/api-edges.ts.
import { DynamicModule, Module } from '@nestjs/common';
import type { ModuleEdges } from '../common/module-edges.js';
import { OidcIdentities } from '../auth/oidc-identities.js';
import { EventBus } from '../events/event-bus.service.js';
import { WebhookDispatcher } from './webhook-dispatcher.service.js';
import { WebhookService } from './webhook.service.js';

@Module({})
export class WebhooksModule {
  /**
   * `api`: REST + GraphQL for subscriptions and deliveries. `worker`: the fan-out from the
   * EventBus (its own subscriber connection) and the `webhooks` queue consumer.
   */
  static register(roles: { api?: ModuleEdges; worker: boolean }): DynamicModule {
    return {
      module: WebhooksModule,
      controllers: roles.api?.controllers ?? [],
      providers: [
        WebhookService,
        ...(roles.api?.providers ?? []),
        ...(roles.worker ? [EventBus, WebhookDispatcher, OidcIdentities] : []),
      ],
      exports: roles.worker ? [WebhookDispatcher] : [],
    };
  }
}
