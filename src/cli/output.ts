// Printing outcomes and following requests to their end: error messages with the fields at fault, one summary line
// per request, and the concurrent follow of several requests' event streams (live view or plain lines).
import { followEvents, TERMINAL_STATUSES } from '@osm-onboarding/client';
import { call, printJson, type Ctx, type Request } from './context.js';
import { CliError, EXIT, toCliError } from './errors.js';
import { flagFor } from './options.js';
import { applyEvent, eventLine, LiveView, syncTrack, trackOf, type Style } from './render.js';

export function oneOrItems<T>(items: T[]): T | { items: T[] } {
  return items.length === 1 ? items[0] : { items };
}

export function formatError(err: CliError, st: Style): string {
  const lines = [`${st.red('error:')} ${err.status ? `${err.message} (HTTP ${err.status})` : err.message}`];
  for (const f of err.body?.fields ?? []) {
    const flag = flagFor(f.field);
    // A field whose message is the error's own is named with its option, without repeating the message.
    const says = f.message === err.body?.message ? '' : `: ${f.message}`;
    lines.push(`  ${st.bold(f.field)}${flag && flag !== f.field ? st.dim(` (${flag})`) : ''}${says}`);
  }
  if (err.body?.hint) lines.push(`  hint: ${err.body.hint}`);
  else if (err.hint) lines.push(`  hint: ${err.hint}`);
  const active = err.body?.details?.activeRequestId;
  if (typeof active === 'string') lines.push(`  active request: ${active} (osm-onboarding status ${active})`);
  if (err.exitCode === EXIT.AUTH && err.body?.code === 'UNAUTHENTICATED')
    lines.push('  hint: pass --token or set OSM_ONBOARDING_TOKEN');
  return lines.join('\n') + '\n';
}

export function summaryLine(r: Request): string {
  const err = r.errorCode && r.status !== 'SUCCEEDED' ? ` ${r.errorCode}: ${r.errorMessage ?? ''}` : '';
  return `${r.id} ${r.kind === 'OFFBOARD' ? 'offboard' : 'onboard'} ${r.cluster}/${r.namespace} ${r.status}${err}`;
}

// --------------------------------------------------------------------------------------------
// Following requests to their end.

/**
 * Follows the requests' event streams (concurrently) until each has ended, showing a live
 * view on a terminal or one line per event otherwise; returns their final state.
 */
export async function follow(
  ctx: Ctx,
  requests: Request[],
  timeoutSec?: number,
  fromCurrent = false,
): Promise<Request[]> {
  const tracks = requests.map(trackOf);
  const live = ctx.tty && !ctx.json ? new LiveView(ctx.io.stdout, tracks, ctx.st) : undefined;
  const abort = new AbortController();
  let timedOut = false;
  let interrupted = false;
  const timer = timeoutSec ? setTimeout(() => ((timedOut = true), abort.abort()), timeoutSec * 1000) : undefined;
  const unhook = ctx.io.onInterrupt?.(() => ((interrupted = true), abort.abort()));
  const say = (line: string) => (live ? live.note(line) : !ctx.json && ctx.io.stderr.write(line + '\n'));
  live?.start();
  try {
    await Promise.all(
      tracks.map(async (t) => {
        const events = followEvents(ctx.client, t.id, {
          signal: abort.signal,
          // After an action (retry, approve, apply), from the action's own event on.
          after: fromCurrent ? Math.max(0, (requests.find((r) => r.id === t.id)?.lastEventCursor ?? 1) - 1) : 0,
          // Ended when its status is final and nothing is after the cursor (the client's default check).
          onReconnect: (n, cursor, reason) =>
            say(
              ctx.est.yellow(
                `${t.namespace}: event stream lost (${reason}); resuming after event ${cursor} (attempt ${n})`,
              ),
            ),
        });
        for await (const e of events) {
          applyEvent(t, e);
          if (!live && !ctx.json) ctx.io.stdout.write(eventLine(t, e) + '\n');
        }
      }),
    );
  } catch (err) {
    live?.stop();
    throw toCliError(err);
  } finally {
    if (timer) clearTimeout(timer);
    unhook?.();
  }
  const finals = await Promise.all(tracks.map((t) => current(ctx, t.id)));
  finals.forEach((r, i) => syncTrack(tracks[i], r));
  live?.stop();
  if (interrupted || timedOut) {
    const pending = finals.filter((r) => !TERMINAL_STATUSES.has(r.status));
    if (pending.length) {
      const why = interrupted ? 'stopped following' : `gave up waiting after ${timeoutSec}s`;
      throw new CliError(
        `${why}; still going on: ${pending.map((r) => `${r.id} (${r.status})`).join(', ')} — ` +
          'see: osm-onboarding status <id> --follow',
        interrupted ? 130 : EXIT.FAILED,
      );
    }
  }
  return finals;
}

/** The request as it is now. */
export function current(ctx: Ctx, id: string): Promise<Request> {
  return call(ctx.client.api.GET('/v1/onboardings/{id}', { params: { path: { id } } }));
}

/** Prints the outcome of created/followed requests and gives the exit code. */
export function finish(ctx: Ctx, requests: Request[], waited: boolean): number {
  if (ctx.json) printJson(ctx, oneOrItems(requests));
  else if (!ctx.tty || !waited) for (const r of requests) ctx.io.stdout.write(summaryLine(r) + '\n');
  else {
    for (const r of requests.filter((x) => x.status !== 'SUCCEEDED')) {
      const failed = r.steps.find((s) => s.status === 'FAILED');
      const hint = (failed?.output as { hint?: string } | null)?.hint;
      if (hint) ctx.io.stdout.write(ctx.st.dim(`${r.namespace}: hint: ${hint}`) + '\n');
    }
  }
  if (!waited) return EXIT.OK;
  return requests.every((r) => r.status === 'SUCCEEDED') ? EXIT.OK : EXIT.FAILED;
}
