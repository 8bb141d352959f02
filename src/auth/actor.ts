// Owns the Actor: who is asking, derived from credentials at the edge (never from a request body).
import type { Role } from '../common/roles.js';
export { ROLES, type Role } from '../common/roles.js';

/** Who is asking. Derived from credentials at the edge, never from a request body. */
export interface Actor {
  /** `token:<name>`, `oidc:<subject>`, `anonymous` (AUTH_MODE=none) or `system:*`. */
  id: string;
  kind: 'anonymous' | 'token' | 'oidc' | 'system';
  roles: Role[];
  /** `<cluster>/<namespace>` patterns; `*` matches any run of characters. */
  scopes: string[];
}

/** Used only with AUTH_MODE=none (local development): may do everything. */
export const ANONYMOUS: Actor = { id: 'anonymous', kind: 'anonymous', roles: ['admin'], scopes: ['*/*'] };
export const WORKER_ACTOR = 'system:worker';
export const SWEEPER_ACTOR = 'system:sweeper';
