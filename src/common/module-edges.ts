// The API-only part of a feature module (its REST controllers and GraphQL resolvers), handed to the module's
// register() by the API's composition root (src/api-edges.ts), so a worker process never loads them.
import type { Provider, Type } from '@nestjs/common';

export interface ModuleEdges {
  controllers: Type<unknown>[];
  providers: Provider[];
}
