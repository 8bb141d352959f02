// Owns SLACK_USER_MAP's shape (integrations/slack/slack-users.ts looks people up in it): who a Slack user is in
// this service when they press Approve or Reject.
// A Slack user is mapped to an identity that carries roles and scopes, so the usual approval rules
// hold (approver role, scope, no self-approval, mesh grant). Two forms per Slack user id:
//   "U0123ABCD": "token:alice"            the API token `alice` as it stands at the press (its roles and
//                                         scopes from the database; a revoked or expired token maps no one)
//   "U0456EFGH": {"id": "oidc:bob", "roles": ["approver"], "scopes": ["prod/*", "prod/mesh:osm"]}
//                                         an identity given in full (e.g. the OIDC subject bob requests as)
// The id is what self-approval compares with `requestedBy`: map people to the identity they request with.
import { z } from 'zod';
import { ROLES, SCOPE_MESSAGE, SCOPE_PATTERN, type Role } from '../common/roles.js';

/** Slack user ids: `U…`, or `W…` on Enterprise Grid. */
export const SLACK_USER_ID = /^[UW][A-Z0-9]{2,31}$/;
const TOKEN_REF = /^token:[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$/;

const IdentitySchema = z.strictObject({
  id: z
    .string()
    .max(200)
    .regex(/^(token|oidc):\S+$/, 'must be token:<name> or oidc:<subject> (the identity the person requests with)'),
  roles: z.array(z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` })).min(1, 'needs at least one role'),
  scopes: z.array(z.string().regex(SCOPE_PATTERN, SCOPE_MESSAGE)).default([]),
});

export const SlackUserMapSchema = z.record(
  z.string().regex(SLACK_USER_ID, 'keys must be Slack user ids (U0123ABCD)'),
  z.union([z.string().regex(TOKEN_REF, 'must be token:<name>'), IdentitySchema], {
    error: 'must be "token:<name>" or {"id", "roles", "scopes"}',
  }),
);

export type SlackIdentity = string | { id: string; roles: Role[]; scopes: string[] };
export type SlackUserMap = Record<string, SlackIdentity>;
