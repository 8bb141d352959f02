// Owns an event's one-line summary: the text (which the Slack format escapes as mrkdwn itself, slack-message.ts) and
// the JSON delivery's `summary`, that text made safe to post as is in a chat: Slack's control characters escaped
// and @-mentions neutralized, whatever a reason, message or actor in it says.
import type { ProgressEvent } from '../events/progress-event.js';
import { escapeMrkdwn } from '../integrations/slack/slack-message.js';

export interface SummaryRequest {
  kind: 'ONBOARD' | 'OFFBOARD';
  cluster: string;
  namespace: string;
  meshName: string;
  steps: { name: string; status: string; result: string | null }[];
  errorCode: string | null;
}

const MAX = 300;

/** U+200D ZERO WIDTH JOINER: after an `@`, the mention no chat reads any more, and the text looks the same. */
const ZWJ = '\u200d';

/** An `@` starting a word (`@here`, `@channel`, `@everyone`, `@all`, `@alice`), not one inside it (`a@b.example`). */
const MENTION = /(^|[^\p{L}\p{N}_.+-])@(?=[\p{L}\p{N}_])/gu;

/**
 * The JSON delivery's `summary`: the event's line, safe to post as is, e.g.
 * "✅ onboarding of prod/team-a into mesh osm succeeded (4 steps, 2 changed)". `&`, `<` and `>` are escaped as Slack
 * wants (`&amp;`, `&lt;`, `&gt;`: no `<!channel>`, no `<https://…|disguised link>`), and an `@` that starts a word is
 * followed by a zero-width joiner (no `@here`, `@channel`, `@everyone`, `@all` or user mention in Mattermost,
 * Discord, Rocket.Chat, Teams…). Markdown (`*`, `_`, `[text](url)`) is left as is. At most MAX characters; an escape
 * is never cut.
 */
export function summarize(event: ProgressEvent, r: SummaryRequest): string {
  return chatSafe(summaryText(event, r));
}

/** `text` (an event's summaryText) as summarize gives it. */
export function chatSafe(text: string): string {
  const safe = escapeMrkdwn(text).replace(MENTION, `$1@${ZWJ}`);
  if (safe.length <= MAX) return safe;
  return `${safe.slice(0, MAX - 1).replace(/&[a-z]*$|@$/, '')}…`;
}

/** The event's line as plain text, at most MAX characters (the Slack format escapes it itself). */
export function summaryText(event: ProgressEvent, r: SummaryRequest): string {
  const what =
    r.kind === 'ONBOARD'
      ? `onboarding of ${r.cluster}/${r.namespace} into mesh ${r.meshName}`
      : `offboarding of ${r.cluster}/${r.namespace} from mesh ${r.meshName}`;
  const d = event.data ?? {};
  const str = (v: unknown) => (typeof v === 'string' && v ? v : null);
  const done = r.steps.filter((s) => s.status === 'SUCCEEDED');
  const changed = done.filter((s) => s.result === 'CHANGED').length;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  let line: string;
  switch (event.type) {
    case 'request.succeeded':
      line = `✅ ${what} succeeded (${plural(r.steps.length, 'step')}, ${changed} changed)`;
      break;
    case 'request.failed': {
      const step = str(d.step);
      const code = str(d.code) ?? r.errorCode;
      line =
        `❌ ${what} failed${step ? ` at step ${step}` : ''}${code ? ` (${code})` : ''}: ` +
        `${done.length}/${plural(r.steps.length, 'step')} done`;
      break;
    }
    case 'step.failed':
      line =
        `⚠️ step ${event.step ?? '?'} of the ${what} failed${str(d.code) ? ` (${str(d.code)})` : ''}: ` +
        `${event.message}`;
      break;
    case 'step.succeeded':
      line =
        `☑️ step ${event.step ?? '?'} of the ${what} ` +
        `${d.result === 'CHANGED' ? 'changed the cluster' : 'found nothing to change'}`;
      break;
    case 'request.cancelled':
      line =
        `🚫 ${what} cancelled by ` +
        `${event.actor}${str(d.stoppedBefore) ? ` before step ${str(d.stoppedBefore)}` : ''}`;
      break;
    case 'request.rejected':
      line = `⛔ ${what} rejected by ${event.actor}${str(d.reason) ? `: ${str(d.reason)}` : ''}`;
      break;
    case 'request.created':
      line = `🆕 ${what} requested by ${event.actor}`;
      break;
    case 'namespace.drifted':
      // The message names the namespace, the mesh and what changed.
      line = `⚠️ ${event.message} (re-apply: POST ${str(d.reapply) ?? "the namespace's reapply"})`;
      break;
    case 'request.started':
    case 'request.resumed':
      line = `▶️ ${what} ${event.type === 'request.started' ? 'started' : 'resumed'}`;
      break;
    default:
      line = `ℹ️ ${what}: ${event.message}`;
  }
  return line.length > MAX ? `${line.slice(0, MAX - 1)}…` : line;
}
