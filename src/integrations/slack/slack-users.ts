// Owns looking a Slack user up in SLACK_USER_MAP (its shape and meaning: config/slack-user-map.schema.ts).
import type { SlackIdentity, SlackUserMap } from '../../config/slack-user-map.schema.js';
export { SLACK_USER_ID, type SlackIdentity, type SlackUserMap } from '../../config/slack-user-map.schema.js';

/** The configured identity of a Slack user, or undefined (own properties only). */
export function mappedIdentity(users: SlackUserMap, slackUserId: string): SlackIdentity | undefined {
  return Object.hasOwn(users, slackUserId) ? users[slackUserId] : undefined;
}
