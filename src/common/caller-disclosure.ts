// Owns the injection token through which code below auth/ asks whether the current caller is an admin (the
// cluster gateway names the known clusters to admins only). auth/ provides it from its per-call caller slot
// (auth/caller-context.ts); where no one provides it (the worker, tools, tests that build a gateway by hand),
// the answer is no.

/** `() => boolean`: is the caller of the current HTTP call or GraphQL operation an admin? */
export const CALLER_IS_ADMIN = Symbol('CALLER_IS_ADMIN');
export type CallerIsAdmin = () => boolean;
