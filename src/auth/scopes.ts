import { DomainError, shownId } from '../common/domain-error.js';
import type { Actor, Role } from './actor.js';

// A scope is `<cluster-glob>/<namespace-glob>`, e.g. `prod/team-a-*`, `*/*`; `*` matches any run of characters.
// `<cluster-glob>/mesh:<mesh-glob>` is a mesh-level grant: it allows the mesh-wide changes of requests
// (MeshConfig edits, src/mesh/mesh-wide.ts) in that mesh, and no namespace (a namespace has no `:`).
export { SCOPE_MESSAGE, SCOPE_PATTERN } from '../common/roles.js';

const MESH_GRANT = 'mesh:';

function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

/** `*` matches any run of characters; everything else literally. */
export const globMatch = (glob: string, value: string) => globToRegExp(glob).test(value);

/** `globMatch(glob, …)` with the pattern compiled once, for matching many values. */
export function globMatcher(glob: string): (value: string) => boolean {
  const re = globToRegExp(glob);
  return (value) => re.test(value);
}

/** The namespace globs of the actor's scopes in `cluster` (mesh grants, `<cluster>/mesh:<mesh>`, left out). */
export const namespaceGlobs = (actor: Actor, cluster: string): string[] =>
  actor.scopes
    .map((scope) => scope.split('/'))
    .filter(([c, n]) => n !== undefined && !n.startsWith(MESH_GRANT) && globMatch(c, cluster))
    .map(([, n]) => n);

export function inScope(actor: Actor, cluster: string, namespace: string): boolean {
  return actor.roles.includes('admin') || scopesInclude(actor.scopes, cluster, namespace);
}

/** Whether `<cluster>/<namespace>` is in one of `scopes` (inScope for a scope list; a mesh grant names none). */
export function scopesInclude(scopes: readonly string[], cluster: string, namespace: string): boolean {
  return scopes.some((scope) => {
    const [c, n] = scope.split('/');
    return globMatch(c, cluster) && globMatch(n ?? '', namespace);
  });
}

/** Whether the actor may change mesh `mesh` of `cluster` as a whole: admins, and holders of `<cluster>/mesh:<mesh>`. */
export function hasMeshGrant(actor: Actor, cluster: string, mesh: string): boolean {
  if (actor.roles.includes('admin')) return true;
  return actor.scopes.some((scope) => {
    const [c, n] = scope.split('/');
    return n?.startsWith(MESH_GRANT) === true && globMatch(c, cluster) && globMatch(n.slice(MESH_GRANT.length), mesh);
  });
}

export function hasRole(actor: Actor, ...roles: Role[]): boolean {
  return actor.roles.includes('admin') || roles.some((r) => actor.roles.includes(r));
}

export function assertRole(actor: Actor, ...roles: Role[]): void {
  if (!hasRole(actor, ...roles)) {
    throw new DomainError('FORBIDDEN', `${actor.id} lacks the role for this operation (needs ${roles.join(' or ')})`);
  }
}

/**
 * Refuses a stored request outside the caller's scopes as an unknown one (the same code, message and field), so an
 * id learnt elsewhere does not confirm that the request exists, and names nothing of its target (the cluster, a
 * kubeconfig context name, is shown to admins only; the namespace is not the caller's to learn).
 */
export function assertRequestInScope(actor: Actor, request: { id: string; cluster: string; namespace: string }): void {
  if (!inScope(actor, request.cluster, request.namespace)) throw requestNotFound(request.id);
}

/** An unknown request id, and one the caller may not see. */
export const requestNotFound = (id: string) =>
  new DomainError('REQUEST_NOT_FOUND', `onboarding request ${shownId(id)} not found`, { field: 'id' });

/** Refuses, before anything is stored or enqueued, a target outside the caller's scopes. */
export function assertScope(actor: Actor, cluster: string, namespace: string): void {
  if (!inScope(actor, cluster, namespace)) {
    throw new DomainError('FORBIDDEN', `${actor.id} may not act on ${cluster}/${namespace} (outside its scopes)`, {
      field: 'namespace',
    });
  }
}
