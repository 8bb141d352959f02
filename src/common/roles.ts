// Owns the shapes of who may do what that configuration checks as well as auth/: the role names and the scope
// pattern. Plain data, no behaviour: auth/ decides what they allow (actor.ts, scopes.ts re-export them).

/** The roles an identity may hold, from least to most. */
export const ROLES = ['viewer', 'requester', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A scope: `<cluster-glob>/<namespace-glob>`, or `<cluster-glob>/mesh:<mesh-glob>` (see auth/scopes.ts). */
export const SCOPE_PATTERN = /^[^/\s]+\/[^/\s]+$/;
