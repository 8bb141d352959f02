// Owns what a cluster name (a kubeconfig context name) may be as input: one rule for every edge that takes one (a
// REST body or path, a GraphQL input or argument), checked by the request schemas (onboarding.input.ts) and, for a
// name that is not a known context, by ClusterGateway.resolve, so an unknown cluster is repeated only when it is one.
import { z } from 'zod';

export const clusterName = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(253, 'must be no more than 253 characters')
  .regex(/^[^\s]+$/, 'must not contain whitespace');
