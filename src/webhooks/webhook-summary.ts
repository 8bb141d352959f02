import type { ProgressEvent } from '../events/progress-event.js';

export interface SummaryRequest {
  kind: 'ONBOARD' | 'OFFBOARD';
  cluster: string;
  namespace: string;
  meshName: string;
  steps: { name: string; status: string; result: string | null }[];
  errorCode: string | null;
}

const MAX = 300;

/**
 * One line a chat bot can post as is, e.g.
 * "✅ onboarding of prod/team-a into mesh osm succeeded (4 steps, 2 changed)".
 */
export function summarize(event: ProgressEvent, r: SummaryRequest): string {
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
