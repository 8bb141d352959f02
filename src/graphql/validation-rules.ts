// Owns the limits every GraphQL operation is validated against, over HTTP (Apollo) and over
// graphql-ws alike: nesting depth, field cost, aliases and, where it is off, introspection.
import type { GraphQLError, ValidationContext, ValidationRule } from 'graphql';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import type { AppConfig } from '../config/config.js';
import { graphqlJs } from './graphql-js.js';

export const MAX_ALIASES = 20;

// Rejections are reported as validation errors (GRAPHQL_VALIDATION_FAILED), not thrown.
const REPORT = {
  propagateOnRejection: false,
  onReject: [(ctx: ValidationContext | null, error: GraphQLError) => ctx?.reportError(error)],
};

/**
 * `introspection`: include the rule refusing `__schema`/`__type` when introspection is off (Apollo
 * has its own `introspection` switch; the WebSocket server has only these rules).
 */
export function graphqlValidationRules(cfg: AppConfig['graphql'], opts: { introspection: boolean }): ValidationRule[] {
  return [
    maxDepthRule({ n: cfg.maxDepth, ...REPORT }),
    costLimitRule({ maxCost: cfg.maxCost, ...REPORT }),
    maxAliasesRule({ n: MAX_ALIASES, ...REPORT }),
    ...(opts.introspection && !cfg.introspection ? [graphqlJs.NoSchemaIntrospectionCustomRule] : []),
  ];
}
