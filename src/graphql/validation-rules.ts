// Owns the limits every GraphQL operation is validated against, over HTTP (Apollo) and over
// graphql-ws alike: nesting depth, field cost, aliases and, where it is off, introspection; and what a refusal says.
import type { GraphQLError, ValidationContext, ValidationRule } from 'graphql';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import type { AppConfig } from '../config/config.js';
import { graphqlJs } from './graphql-js.js';

export const MAX_ALIASES = 20;

/** graphql-armor's rules prefix every refusal with this, though nothing is wrong with the document's syntax. */
const ARMOR_PREFIX = 'Syntax Error: ';

// Rejections are reported as validation errors (GRAPHQL_VALIDATION_FAILED), not thrown, and say which limit
// (`Query Cost limit of 5000 exceeded, found 8000.`), without graphql-armor's `Syntax Error: `.
const REPORT = {
  propagateOnRejection: false,
  onReject: [
    (ctx: ValidationContext | null, error: GraphQLError) => {
      const message = error.message.startsWith(ARMOR_PREFIX) ? error.message.slice(ARMOR_PREFIX.length) : error.message;
      ctx?.reportError(new graphqlJs.GraphQLError(message, { nodes: error.nodes, extensions: error.extensions }));
    },
  ],
};

/**
 * `introspection`: include the rule refusing `__schema`/`__type` when introspection is off (Apollo
 * has its own `introspection` switch; the WebSocket server has only these rules).
 */
export function graphqlValidationRules(cfg: AppConfig['graphql'], opts: { introspection: boolean }): ValidationRule[] {
  return [
    maxDepthRule({ n: cfg.maxDepth, ...REPORT }),
    costLimitRule({ maxCost: cfg.maxCost, ...REPORT }),
    // Every alias counts, `__typename` ones too (graphql-armor exempts an alias of `__typename`, or one named so, by
    // default): the limit is the documented 20.
    maxAliasesRule({ n: MAX_ALIASES, allowList: [], ...REPORT }),
    ...(opts.introspection && !cfg.introspection ? [graphqlJs.NoSchemaIntrospectionCustomRule] : []),
  ];
}
