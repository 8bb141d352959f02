// Owns the shapes of who may do what that configuration checks as well as auth/: the role names and the scope
// pattern. Plain data, no behaviour: auth/ decides what they allow (actor.ts, scopes.ts re-export them).

/** The roles an identity may hold, from least to most. */
export const ROLES = ['viewer', 'requester', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * A scope: `<cluster-glob>/<namespace-glob>`, or `<cluster-glob>/mesh:<mesh-glob>` (see auth/scopes.ts). A cluster is
 * a kubeconfig context (any name without `/` or whitespace); a namespace or mesh glob is what can match an RFC 1123
 * label (lowercase letters, digits, `-`) with `*` wildcards, so a scope that could never match one is refused.
 */
export const SCOPE_PATTERN = /^[^/\s]+\/(?:mesh:)?[a-z0-9*-]+$/;

/** What a refused scope is told. */
export const SCOPE_MESSAGE =
  'must be <cluster>/<namespace> or <cluster>/mesh:<mesh>, with optional * wildcards; a namespace or mesh is ' +
  'lowercase letters, digits and -';
