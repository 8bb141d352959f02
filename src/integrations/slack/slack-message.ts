// Owns the Slack incoming-webhook message of a request event (webhook subscriptions with format "slack"):
// Block Kit with the summary line, the target, the steps with their status, a link to the request and,
// while the request waits in PENDING_APPROVAL, Approve/Reject buttons that Slack sends back to
// POST /v1/integrations/slack/interactions (slack-interactions.service.ts reads the same action ids).
import type { ActionsBlock, Button, ContextBlock, KnownBlock, SectionBlock } from '@slack/types';

/** `action_id`s of the buttons; their `value` is the request id. */
export const SLACK_APPROVE_ACTION = 'osm-onboarding.approve';
export const SLACK_REJECT_ACTION = 'osm-onboarding.reject';

/** What an incoming webhook accepts (chat.postMessage's message fields that webhooks honour). */
export interface SlackMessage {
  /** Shown in notifications and where blocks cannot be. */
  text: string;
  blocks: KnownBlock[];
  unfurl_links: boolean;
  unfurl_media: boolean;
}

export interface SlackMessageRequest {
  id: string;
  kind: 'ONBOARD' | 'OFFBOARD';
  cluster: string;
  namespace: string;
  meshName: string;
  status: string;
  approvalsRequired: number;
  approvalsGiven: number;
  steps: { name: string; status: string; result: string | null }[];
}

const STEP_ICONS: Record<string, string> = {
  PENDING: ':white_circle:',
  RUNNING: ':hourglass_flowing_sand:',
  SUCCEEDED: ':white_check_mark:',
  FAILED: ':x:',
  SKIPPED: ':fast_forward:',
  CANCELLED: ':no_entry_sign:',
};

/**
 * Slack's mrkdwn escaping: without it a reason or message containing `<!channel>` or `<https://…|…>`
 * would ping a channel or render a disguised link.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
const mrkdwn = (text: string) => ({ type: 'mrkdwn' as const, text: clip(text, 3000) });

export function slackMessage(r: SlackMessageRequest, summary: string, publicBaseUrl?: string): SlackMessage {
  const pending = r.status === 'PENDING_APPROVAL';
  const status = pending ? `${r.status} (${r.approvalsGiven}/${r.approvalsRequired} approvals)` : r.status;
  const blocks: KnownBlock[] = [
    { type: 'section', text: mrkdwn(escapeMrkdwn(summary)) } satisfies SectionBlock,
    {
      type: 'section',
      fields: [
        mrkdwn(`*Cluster*\n${escapeMrkdwn(r.cluster)}`),
        mrkdwn(`*Namespace*\n${escapeMrkdwn(r.namespace)}`),
        mrkdwn(`*Mesh*\n${escapeMrkdwn(r.meshName)}`),
        mrkdwn(`*Status*\n${status}`),
      ],
    } satisfies SectionBlock,
  ];
  if (r.steps.length > 0) {
    const lines = r.steps.map((s) => {
      const result = s.result === 'CHANGED' ? ' · changed' : s.result === 'UNCHANGED' ? ' · unchanged' : '';
      return `${STEP_ICONS[s.status] ?? ':grey_question:'} \`${s.name}\` ${s.status.toLowerCase()}${result}`;
    });
    blocks.push({ type: 'section', text: mrkdwn(`*Steps*\n${lines.join('\n')}`) } satisfies SectionBlock);
  }
  const kind = r.kind === 'ONBOARD' ? 'Onboarding' : 'Offboarding';
  const link = publicBaseUrl
    ? `<${publicBaseUrl}/v1/onboardings/${r.id}|${kind} request ${r.id}>`
    : `${kind} request \`${r.id}\``;
  blocks.push({ type: 'context', elements: [mrkdwn(link)] } satisfies ContextBlock);
  if (pending) {
    const what = `${r.kind === 'ONBOARD' ? 'onboarding' : 'offboarding'} of ${r.cluster}/${r.namespace}`;
    const approve: Button = {
      type: 'button',
      action_id: SLACK_APPROVE_ACTION,
      value: r.id,
      style: 'primary',
      text: { type: 'plain_text', text: 'Approve', emoji: true },
    };
    const reject: Button = {
      type: 'button',
      action_id: SLACK_REJECT_ACTION,
      value: r.id,
      style: 'danger',
      text: { type: 'plain_text', text: 'Reject', emoji: true },
      // One press ends the request: ask first.
      confirm: {
        title: { type: 'plain_text', text: 'Reject this request?' },
        text: { type: 'plain_text', text: clip(`The ${what} will be rejected ("rejected in Slack").`, 300) },
        confirm: { type: 'plain_text', text: 'Reject' },
        deny: { type: 'plain_text', text: 'Cancel' },
        style: 'danger',
      },
    };
    const block_id = `osm-onboarding.approval.${r.id}`;
    blocks.push({ type: 'actions', block_id, elements: [approve, reject] } satisfies ActionsBlock);
  }
  // The top-level text is mrkdwn too (notifications, screen readers).
  return { text: clip(escapeMrkdwn(summary), 3000), blocks, unfurl_links: false, unfurl_media: false };
}
