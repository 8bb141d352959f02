// Owns approvals from Slack: a signed `block_actions` interaction (an Approve or Reject button of a
// message built by slack-message.ts) becomes ApprovalService.approve/reject, the same call as the REST
// API, made by the identity SLACK_USER_MAP gives the Slack user. Order of the checks: signing secret
// configured, headers and timestamp window, HMAC over the raw body, replay (Redis, shared by every API
// instance), payload, mapped identity; then ApprovalService applies the usual rules (approver role,
// scope, no self-approval, mesh grant, one decision per approver).
import { Inject, Injectable, Logger } from '@nestjs/common';
import { z } from 'zod';
import { APP_CONFIG } from '../../config/config.module.js';
import type { AppConfig } from '../../config/config.js';
import { ApprovalService } from '../../approvals/approval.service.js';
import type { Actor, Role } from '../../auth/actor.js';
import { DomainError, isOurId } from '../../common/domain-error.js';
import { PrismaService } from '../../database/prisma.service.js';
import { parseInput } from '../../common/parse-input.js';
import { RedisService } from '../../redis/redis.service.js';
import { SLACK_APPROVE_ACTION, SLACK_REJECT_ACTION } from './slack-message.js';
import { checkSlackHeaders, SignedHeaders, SLACK_TOLERANCE_SECONDS, verifySlackSignature } from './slack-signature.js';
import { mappedIdentity, SLACK_USER_ID } from './slack-users.js';

/** Slack's interactivity POST: one form field holding the interaction as JSON. */
export const SlackInteractionFormSchema = z
  .object({
    payload: z
      .string({ error: 'is required' })
      .describe(
        'the interaction as JSON; a `block_actions` payload whose action `osm-onboarding.approve` or ' +
          '`osm-onboarding.reject` has the request id as `value`, pressed by `user.id`',
      ),
  })
  .meta({ id: 'SlackInteractionForm', description: "Slack's interactivity form." });

// The fields we read; Slack sends many more (hence not strict).
const InteractionSchema = z.object({
  type: z.string(),
  user: z.object({
    id: z.string().regex(SLACK_USER_ID, 'must be a Slack user id'),
    username: z.string().max(200).optional(),
  }),
  actions: z.array(z.object({ action_id: z.string().max(255), value: z.string().max(2000).optional() })).default([]),
});

export interface SlackInteractionAnswer {
  /** A short line for the person who pressed the button. */
  text: string;
  requestId: string | null;
  status: string | null;
}

@Injectable()
export class SlackInteractionService {
  private readonly logger = new Logger(SlackInteractionService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly redis: RedisService,
    private readonly prisma: PrismaService,
    private readonly approvals: ApprovalService,
  ) {}

  /** `readBody` yields the raw bytes Slack signed; it is called only once the headers passed. */
  async handle(headers: SignedHeaders, readBody: () => Promise<Buffer>): Promise<SlackInteractionAnswer> {
    const secret = this.config.slack.signingSecret;
    if (!secret) {
      throw new DomainError('SLACK_NOT_CONFIGURED', 'Slack interactions need SLACK_SIGNING_SECRET on this server');
    }
    const { timestamp, signature } = this.refusing(() => checkSlackHeaders(headers, Math.floor(Date.now() / 1000)));
    const raw = await readBody();
    this.refusing(() => verifySlackSignature(secret, timestamp, signature, raw));
    await this.firstSighting(signature);
    return this.act(parseInteraction(raw));
  }

  /** Logs a refused signature check (never the headers' values) and rethrows it. */
  private refusing<T>(check: () => T): T {
    try {
      return check();
    } catch (err) {
      if (err instanceof DomainError) this.logger.warn(`Slack interaction refused: ${err.code}`);
      throw err;
    }
  }

  /**
   * Remembers the signature for as long as its timestamp could still be accepted (the window reaches
   * 5 minutes either side of now), so the same signed request is refused the second time by any instance.
   */
  private async firstSighting(signature: string): Promise<void> {
    const key = `${this.config.queuePrefix}:slack:seen:${signature.slice(3)}`;
    const fresh = await this.redis.client.set(key, '1', 'EX', 2 * SLACK_TOLERANCE_SECONDS + 1, 'NX');
    if (fresh !== 'OK') {
      this.logger.warn('Slack interaction refused: SLACK_REQUEST_REPLAYED');
      throw new DomainError('SLACK_REQUEST_REPLAYED', 'this signed request was already received');
    }
  }

  private async act(payload: z.infer<typeof InteractionSchema>): Promise<SlackInteractionAnswer> {
    const ours = [SLACK_APPROVE_ACTION, SLACK_REJECT_ACTION];
    const index = payload.actions.findIndex((a) => ours.includes(a.action_id));
    // Slack expects a 200 for every interaction it sends; other apps' buttons and types are not ours to act on.
    if (payload.type !== 'block_actions' || index < 0) {
      const text = 'nothing to do: only the Approve and Reject buttons of osm-onboarding act';
      return { text, requestId: null, status: null };
    }
    const action = payload.actions[index];
    const id = action.value ?? '';
    if (!isOurId(id)) {
      throw new DomainError('VALIDATION_FAILED', 'the button value must be a request id', {
        field: `actions.${index}.value`,
      });
    }
    const actor = await this.identityOf(payload.user.id);
    const username = payload.user.username?.replace(/[^\w.-]/g, '').slice(0, 80);
    // Audited on the approval event (comment / reason) next to the mapped identity, its actor.
    const who = `slack:${payload.user.id}${username ? ` (@${username})` : ''}`;
    const approve = action.action_id === SLACK_APPROVE_ACTION;
    const request = approve
      ? await this.approvals.approve(id, actor, { comment: `approved in Slack by ${who}` })
      : await this.approvals.reject(id, actor, { reason: `rejected in Slack by ${who}` });
    this.logger.log(`${approve ? 'approval' : 'rejection'} of request ${id} from Slack by ${who} as ${actor.id}`);
    const verb = approve ? 'approved' : 'rejected';
    return {
      text: `<@${payload.user.id}> ${verb} request ${id} (as ${actor.id}); it is now ${request.status}`,
      requestId: id,
      status: request.status,
    };
  }

  /** The identity SLACK_USER_MAP gives a Slack user, with roles and scopes; refused when there is none. */
  async identityOf(slackUserId: string): Promise<Actor> {
    const entry = mappedIdentity(this.config.slack.users, slackUserId);
    if (entry === undefined) {
      throw new DomainError('SLACK_USER_NOT_MAPPED', `Slack user ${slackUserId} is not in SLACK_USER_MAP`, {
        hint: 'add {"<Slack user id>": "token:<name>"} to SLACK_USER_MAP',
      });
    }
    if (typeof entry !== 'string') {
      const kind = entry.id.startsWith('token:') ? 'token' : 'oidc';
      return { id: entry.id, kind, roles: entry.roles, scopes: entry.scopes };
    }
    const row = await this.prisma.apiToken.findUnique({ where: { name: entry.slice('token:'.length) } });
    if (!row || row.revokedAt || (row.expiresAt && row.expiresAt <= new Date())) {
      throw new DomainError(
        'SLACK_USER_NOT_MAPPED',
        `Slack user ${slackUserId} is mapped to ${entry}, which is revoked, expired or unknown`,
      );
    }
    return { id: entry, kind: 'token', roles: row.roles as Role[], scopes: row.scopes };
  }
}

/** The form field `payload` (JSON) of the signed body. */
function parseInteraction(raw: Buffer) {
  const form = parseInput(SlackInteractionFormSchema, Object.fromEntries(new URLSearchParams(raw.toString('utf8'))));
  let json: unknown;
  try {
    json = JSON.parse(form.payload);
  } catch {
    throw new DomainError('MALFORMED_REQUEST', 'the payload field is not JSON');
  }
  return parseInput(InteractionSchema, json);
}
