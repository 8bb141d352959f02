// The flow the actions share: plan (diagnostics into the task log), submit with an idempotency key derived from the
// task, follow every progress event into the task log, cancel the request when the task is cancelled.
import { createHash } from 'node:crypto';
import type { LoggerService } from '@backstage/backend-plugin-api';
import {
  createOsmClient,
  OsmApiError,
  unwrap,
  waitForEnd,
  type OsmClient,
  type OsmRequest,
  type Plan,
  type Schemas,
} from '@osm-onboarding/client';
import type { OsmOnboardingConfig } from './config.js';

export type Kind = 'onboard' | 'offboard';
export type Body = Record<string, unknown>;

/** What the flow needs of Backstage's ActionContext. */
export interface TaskContext {
  logger: LoggerService;
  task: { id: string };
  step?: { id?: string };
  signal?: AbortSignal;
  secrets?: { backstageToken?: string };
  isDryRun?: boolean;
  /** The item of a looping step (`each:`), when the step loops. */
  each?: unknown;
}

export function clientFor(config: OsmOnboardingConfig, ctx: TaskContext): OsmClient {
  const token = config.forwardUserToken ? ctx.secrets?.backstageToken : config.token;
  if (config.forwardUserToken && !token)
    throw new Error('osmOnboarding.forwardUserToken is set but the task carries no Backstage user token');
  return createOsmClient({ baseUrl: config.baseUrl, token, userAgent: 'osm-onboarding-backstage' });
}

/**
 * One key per task step and target: `backstage-<task id>-<step id>-<cluster>-<namespace>`. A retried task (same task
 * id) sends the same key, and the service answers with the request it created the first time instead of creating a
 * second one. A step that loops (`each:`) runs the action once per item with the same task and step ids: the
 * target's cluster (empty: the service's default) and, for a looping step, a digest of the item (`-each-<digest>`)
 * keep the iterations apart, e.g. one namespace onboarded in several clusters. A key over the service's 255
 * characters keeps the task id and digests the rest.
 */
export function idempotencyKey(ctx: TaskContext, target: { cluster?: string; namespace: string }): string {
  const digest = (value: unknown, length: number) =>
    createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, length);
  const each = ctx.each === undefined ? '' : `-each-${digest(ctx.each, 12)}`;
  const step = ctx.step?.id ?? 'osm';
  const key = `backstage-${ctx.task.id}-${step}-${target.cluster ?? ''}-${target.namespace}${each}`;
  if (key.length <= 255) return key;
  return `backstage-${ctx.task.id}-${digest([step, target.cluster ?? '', target.namespace, ctx.each ?? null], 32)}`;
}

export async function plan(client: OsmClient, kind: Kind, body: Body): Promise<Plan> {
  return kind === 'onboard'
    ? unwrap(client.api.POST('/v1/onboardings/plan', { body: body as Schemas['OnboardingInput'] }))
    : unwrap(client.api.POST('/v1/offboardings/plan', { body: body as Schemas['OffboardingInput'] }));
}

/** The plan in the task log: one line per step, its writes, and every diagnostic at its level. */
export function logPlan(logger: LoggerService, p: Plan): void {
  logger.info(`plan: ${p.kind.toLowerCase()} ${p.cluster}/${p.namespace} (mesh ${p.meshName})`);
  for (const s of p.steps) {
    if (s.error)
      logger.error(`${s.name}: ${s.error.code}: ${s.error.message}${s.error.hint ? ` (${s.error.hint})` : ''}`);
    else logger.info(`${s.name}: ${s.summary} (${s.changes.length} write${s.changes.length === 1 ? '' : 's'})`);
    for (const d of s.diagnostics) {
      const line = `${s.name}: ${d.level} ${d.code}: ${d.message}${d.hint ? ` (${d.hint})` : ''}`;
      if (d.level === 'error' && !d.accepted) logger.error(line);
      else if (d.level === 'error' || d.level === 'warning') logger.warn(line);
      else logger.info(line);
    }
  }
  if (p.blocked) logger.error('the plan is blocked: a step would refuse');
}

export interface Submitted {
  request: OsmRequest;
  link: string;
  replayed: boolean;
}

/**
 * The service's root-relative link (`/v1/onboardings/<id>`) under the configured base URL, its path included: a
 * service published under a prefix (`https://portal.example/osm`) is reached at `…/osm/v1/…`. An absolute link is
 * kept as it is.
 */
export function linkUnder(baseUrl: string, link: string): string {
  if (URL.canParse(link)) return link;
  return `${baseUrl}${link.startsWith('/') ? '' : '/'}${link}`;
}

export async function submit(client: OsmClient, kind: Kind, body: Body, key: string): Promise<Submitted> {
  const params = { header: { 'Idempotency-Key': key } };
  const { data, error, response } =
    kind === 'onboard'
      ? await client.api.POST('/v1/onboardings', { body: body as Schemas['OnboardingInput'], params })
      : await client.api.POST('/v1/offboardings', { body: body as Schemas['OffboardingInput'], params });
  if (!data) throw OsmApiError.from(response.status, error);
  return {
    request: data.request,
    link: linkUnder(client.baseUrl, data.links.self),
    replayed: response.headers.get('idempotent-replayed') === 'true',
  };
}

/**
 * Follows the request to its end with every event in the task log. When the task's signal aborts, the request is
 * cancelled and followed until it says so; the task then fails as cancelled.
 */
export async function follow(client: OsmClient, ctx: TaskContext, submitted: Submitted, timeoutMs: number) {
  const id = submitted.request.id;
  let cancelling: Promise<void> | undefined;
  const cancel = () => {
    ctx.logger.warn(`the task was cancelled: cancelling request ${id}`);
    cancelling = unwrap(
      client.api.POST('/v1/onboardings/{id}/cancel', {
        params: { path: { id } },
        body: { reason: `Backstage task ${ctx.task.id} cancelled` },
      }),
    ).then(
      () => undefined,
      (err: unknown) => ctx.logger.warn(`cancelling ${id} failed: ${(err as Error).message}`),
    );
  };
  if (ctx.signal?.aborted) cancel();
  else ctx.signal?.addEventListener('abort', cancel, { once: true });
  try {
    return await waitForEnd(client, id, {
      timeoutMs,
      onEvent: (e) => ctx.logger.info(`${e.type}${e.step ? ` ${e.step}` : ''}: ${e.message}`),
      onReconnect: (n, cursor, why) => ctx.logger.warn(`event stream lost (${why}); resuming after ${cursor} (${n})`),
    });
  } finally {
    ctx.signal?.removeEventListener('abort', cancel);
    await cancelling;
  }
}

/** A request that did not succeed fails the task with its code and message. */
export function assertSucceeded(r: OsmRequest, ctx: TaskContext): void {
  if (r.status === 'SUCCEEDED') return;
  if (r.status === 'CANCELLED' && ctx.signal?.aborted) throw new Error(`request ${r.id} cancelled with the task`);
  throw new Error(`request ${r.id} ${r.status}${r.errorCode ? `: ${r.errorCode}: ${r.errorMessage ?? ''}` : ''}`);
}
