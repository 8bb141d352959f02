import { DynamicModule, Module } from '@nestjs/common';
import { OidcIdentities } from '../auth/oidc-identities.js';
import { EventBus } from '../events/event-bus.service.js';
import { WebhookDispatcher } from './webhook-dispatcher.service.js';
import { WebhookService } from './webhook.service.js';
import { WebhooksController } from './webhooks.controller.js';
import { WebhooksResolver } from './webhooks.resolver.js';

@Module({})
export class WebhooksModule {
  /**
   * `api`: REST + GraphQL for subscriptions and deliveries. `worker`: the fan-out from the
   * EventBus (its own subscriber connection) and the `webhooks` queue consumer.
   */
  static register(roles: { api: boolean; worker: boolean }): DynamicModule {
    return {
      module: WebhooksModule,
      controllers: roles.api ? [WebhooksController] : [],
      providers: [
        WebhookService,
        ...(roles.api ? [WebhooksResolver] : []),
        ...(roles.worker ? [EventBus, WebhookDispatcher, OidcIdentities] : []),
      ],
      exports: roles.worker ? [WebhookDispatcher] : [],
    };
  }
}
