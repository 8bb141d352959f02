// The worker's request runner: claim a request, run its steps with retries, record each transition (row, audit
// event, progress event). Over 400 lines on purpose: the transitions it records (started, retrying, failed,
// succeeded, drifted, applying, finish, cancel, release) read best next to the loop that takes them; the failure
// rules it applies are in step-failure.ts.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnboardingRequest, RequestStatus, StepRun } from '../generated/prisma/client.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { isDependencyUnavailable } from '../common/to-domain-error.js';
import { PrismaService } from '../database/prisma.service.js';
import type { NewAuditEvent } from '../audit/audit.repository.js';
import { EventBus } from '../events/event-bus.service.js';
import { toProgressEvent } from '../events/progress-event.js';
import { ClusterGateway } from '../kubernetes/cluster-gateway.js';
import { MeshDiscoveryService } from '../kubernetes/mesh-discovery.service.js';
import { WORKER_ACTOR } from '../auth/actor.js';
import { MetricsService } from '../observability/metrics.service.js';
import { parseOrigin, withLogContext } from '../observability/log-context.js';
import { inSpan, originContext, SpanKind, SpanStatusCode } from '../observability/tracing.js';
import type { RequestOptions } from './onboarding.input.js';
import {
  applyStep,
  Change,
  EarlierStep,
  runPreflights,
  StepContext,
  StepName,
  StepOutcome,
  StepPlan,
} from './steps/step.js';
import { stepByName } from './steps/step-registry.js';
import { fencedClient, type Fence } from '../kubernetes/fenced-client.js';
import { RunStore, Transition, type StepStart, type WrittenEvent } from './lifecycle/run-store.js';
import { OnboardingService } from './onboarding.service.js';
import { raisedNeed } from './approval-policy.js';
import { backoff, classify, plannedChangesDiffer, type StepFailure, withDeadline } from './step-failure.js';

/**
 * A request this worker claimed, with its step runs as the claim read them (RunStore.load), and its first open
 * step's attempt when the claim's statement started it (CANCEL_REQUESTED: held back).
 */
type Claimed = OnboardingRequest & { steps: StepRun[]; begun?: Begun | typeof CANCEL_REQUESTED };

/** A step's first attempt, started by the statement that recorded the claim or the previous step's success. */
interface Begun {
  attempts: number;
  firstStarted: Date;
}

/**
 * A step that succeeded, and whether the same statement started the next one (CANCEL_REQUESTED: held back) or,
 * for the request's last open step, ended the request (`finished`).
 */
interface Succeeded {
  earlier: EarlierStep;
  next?: Begun | typeof CANCEL_REQUESTED;
  finished?: true;
}

/** A step still to run: not SUCCEEDED or SKIPPED. */
const isOpen = (s: StepRun) => s.status !== 'SUCCEEDED' && s.status !== 'SKIPPED';

/** `succeed`'s `next` for the request's last open step: its success ends the request in the same statement. */
const FINISH = 'finish' as const;

/** One attempt of one step: the request and step rows, the context, and when the step (and this try) began. */
interface StepAttempt {
  request: OnboardingRequest;
  step: StepRun;
  ctx: StepContext;
  /** The step's attempt count including this one. */
  attempts: number;
  /** performance.now() when this attempt began. */
  started: number;
  /** When the step's first attempt began. */
  firstStarted: Date;
  /** This run's try number (1 = first in this run). */
  n: number;
  /** The step to start in the statement that records this one's success (unless shutting down by then). */
  next?: StepRun;
  /** The open steps after this one, whose preflights run before the request's first write (runPreflights). */
  later: StepRun[];
  /**
   * Set when the cluster took, or may have taken, a write of an earlier attempt of this step (one that failed, or one
   * of a run that stopped mid-step): its retries then run despite a cancel, and the step counts as CHANGED.
   */
  wrote: { value: boolean };
  /** The targets an interrupted earlier run of this step set out to write (its `step.applying` events). */
  intended: Change['target'][];
  /** The run's fence (its claim); the attempt adds its own deadline to it. */
  fence: Fence;
}

/**
 * Runs one request: claims it (compare-and-swap on status), then runs its unfinished
 * steps in order. Every transition is a row update plus an audit event in one SQL
 * statement (RunStore), published after commit. Finished steps are never re-applied, so a
 * re-run after a crash resumes where the last one stopped.
 */
@Injectable()
export class RequestRunner {
  private readonly logger = new Logger(RequestRunner.name);
  readonly workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly store: RunStore;

  constructor(
    private readonly prisma: PrismaService,
    private readonly bus: EventBus,
    private readonly gateway: ClusterGateway,
    private readonly mesh: MeshDiscoveryService,
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly onboarding: OnboardingService,
  ) {
    this.store = new RunStore(prisma);
  }

  /** Set on SIGTERM: running requests stop after their current step and go back to QUEUED. */
  private stopping = false;

  stopAfterCurrentStep(): void {
    this.stopping = true;
  }

  async run(requestId: string): Promise<'ran' | 'not-claimed' | 'released' | 'claim-lost'> {
    const request = await this.claim(requestId);
    if (!request) return 'not-claimed';
    // The run's fence (fenced-client.ts): shut when a heartbeat finds the claim gone (another worker took the request
    // over after this one stalled), so the step's work writes nothing more; a write after a stall (no heartbeat for
    // two periods) first checks the claim itself, since the stalled timer may not have fired yet.
    const fence = new AbortController();
    let lastBeat = Date.now();
    const beat = async () => {
      if (await this.store.heartbeat(requestId, this.workerId)) lastBeat = Date.now();
      else fence.abort(new ClaimLostError(requestId, this.workerId));
    };
    const heartbeat = setInterval(() => void beat().catch(() => undefined), this.config.heartbeatMs);
    const runFence: Fence = {
      signal: fence.signal,
      beforeWrite: async () => {
        if (Date.now() - lastBeat > 2 * this.config.heartbeatMs) await beat();
      },
    };
    // The job continues the HTTP call that created the request: its logs carry that call's
    // X-Request-Id, its span is a child of that call's span (both from the stored origin).
    const origin = parseOrigin(request.origin);
    const attributes = {
      'osm_onboarding.request.id': request.id,
      'osm_onboarding.request.kind': request.kind,
      'k8s.cluster.name': request.cluster,
      'k8s.namespace.name': request.namespace,
      'osm_onboarding.worker': this.workerId,
    };
    return withLogContext(
      { requestId: request.id, ...(origin.httpRequestId ? { httpRequestId: origin.httpRequestId } : {}) },
      () =>
        inSpan(
          `onboarding.run ${request.kind.toLowerCase()}`,
          { kind: SpanKind.CONSUMER, attributes, parent: originContext(request.origin) },
          async (span) => {
            this.logger.log(
              `${request.kind.toLowerCase()} of ${request.cluster}/${request.namespace} ` +
                `${request.status === 'RUNNING' && request.startedAt ? 'running' : 'started'} on ${this.workerId}`,
            );
            try {
              const outcome = (await this.execute(request, runFence)) ?? 'ran';
              span.setAttribute('osm_onboarding.run.outcome', outcome);
              return outcome;
            } catch (err) {
              if (!(err instanceof ClaimLostError)) throw err;
              this.logger.warn(err.message);
              span.setAttribute('osm_onboarding.run.outcome', 'claim-lost');
              return 'claim-lost';
            } finally {
              clearInterval(heartbeat);
            }
          },
        ),
    );
  }

  private async claim(requestId: string): Promise<Claimed | null> {
    const loaded = await this.store.load(requestId);
    if (!loaded) return null;
    const { request: current, steps } = loaded;
    const staleBefore = new Date(Date.now() - 3 * this.config.heartbeatMs);
    const claimable =
      current.status === 'QUEUED' ||
      (current.status === 'RUNNING' && (!current.heartbeatAt || current.heartbeatAt < staleBefore));
    if (!claimable) return null;
    if (current.status === 'QUEUED' && (await this.heldByPolicy(current))) return null;
    const resumed = current.status === 'RUNNING';
    const event = this.event(current, resumed ? 'request.resumed' : 'request.started', {
      message: resumed ? `resumed by ${this.workerId} after a stale heartbeat` : `started by ${this.workerId}`,
      worker: this.workerId,
    });
    // Compare-and-swap: only the worker that sees the same status and claim wins (one statement with its event),
    // and the same statement starts the first open step (not while shutting down: the request goes back instead).
    const first = this.stopping ? undefined : steps.find(isOpen);
    let begun: Claimed['begun'];
    let rows: WrittenEvent[];
    if (first) {
      const next = this.nextStart(current, first);
      rows = await this.store.claimAndStart(requestId, this.workerId, current, {
        claimed: event,
        started: next.started,
      });
      begun = rows.length === 2 ? next.begun : CANCEL_REQUESTED;
    } else {
      const row = await this.store.claim(requestId, this.workerId, current, event);
      rows = row ? [row] : [];
    }
    if (rows.length === 0) return null;
    this.bus.send(rows.map(toProgressEvent));
    if (!resumed) this.metrics.queueWait.observe((Date.now() - current.updatedAt.getTime()) / 1000);
    return { ...current, status: 'RUNNING', claimedBy: this.workerId, steps, begun };
  }

  /**
   * A queued request that the approval policy in force here (this worker's APPROVAL_POLICY, MESH_WIDE_CHANGES,
   * MESH_WIDE_APPROVALS) would not let run goes back to PENDING_APPROVAL instead of being claimed (the `hold`
   * transition): a policy tightened after it was approved, during an incident say, reaches it before any cluster
   * call. Its need is judged as an approval judges it (OnboardingService.currentNeed: the submitters' grants as
   * recorded) and raised, never lowered; a mesh-wide change put forward without a grant under MESH_WIDE_CHANGES=refuse
   * waits for an approval that cannot be given while that holds (reject it or cancel it). True when the request is
   * not to be claimed (held here, or by another worker first).
   */
  private async heldByPolicy(current: OnboardingRequest): Promise<boolean> {
    let need: { approvals: number; rule: string | null };
    let refused: DomainError | undefined;
    try {
      need = await this.onboarding.currentNeed(current);
    } catch (err) {
      if (!(err instanceof DomainError) || err.code !== 'MESH_WIDE_CHANGE_FORBIDDEN') throw err;
      refused = err;
      need = { approvals: current.approvalsGiven + 1, rule: current.approvalRule };
    }
    if (!refused && need.approvals <= current.approvalsGiven) return false;
    const { approvals, rule } = raisedNeed(current, need);
    const message = refused
      ? `held before it started: mesh-wide changes put forward without a mesh grant are now refused ` +
        `(MESH_WIDE_CHANGES=refuse); it cannot be approved while that holds: reject it, or its requester cancels it`
      : `held before it started: the approval policy in force asks ${approvals} approval(s) (rule ${rule}), ` +
        `it has ${current.approvalsGiven}`;
    const row = await this.store.hold(
      current.id,
      current,
      { approvals, rule },
      this.event(current, 'request.held', {
        message,
        code: refused ? 'MESH_WIDE_CHANGE_FORBIDDEN' : 'APPROVALS_REQUIRED',
        approvalsRequired: approvals,
        approvalsGiven: current.approvalsGiven,
        rule,
        ...(refused ? { changes: current.meshWideChanges } : {}),
      }),
    );
    if (row) {
      this.bus.send([toProgressEvent(row)]);
      this.logger.warn(`${current.cluster}/${current.namespace}: ${message}`);
    }
    return true;
  }

  private async execute({ steps, begun: claimedWith, ...request }: Claimed, fence: Fence): Promise<'released' | void> {
    const ctx: StepContext = {
      earlier: [],
      seen: {},
      tuning: this.config.tuning,
      request: {
        id: request.id,
        createdAt: request.createdAt,
        kind: request.kind,
        cluster: request.cluster,
        namespace: request.namespace,
        meshName: request.meshName,
        options: request.options as unknown as RequestOptions,
      },
      // Each step attempt calls it through the run's fence and its own deadline (attempt).
      kube: this.gateway.client(request.cluster),
      mesh: this.mesh,
    };
    // The step the claim or the previous step's success already started (or found cancellation requested for).
    let begun: Begun | typeof CANCEL_REQUESTED | undefined = claimedWith;
    for (const [i, step] of steps.entries()) {
      if (isOpen(step)) {
        if (!begun && this.stopping) return this.release(request, step.name);
        const ran =
          begun === CANCEL_REQUESTED
            ? begun
            : await this.runStep(request, step, ctx, { begun, later: steps.slice(i + 1).filter(isOpen), fence });
        if (ran === CANCEL_REQUESTED) {
          // Cancellation takes effect between steps, never in the middle of a write.
          await this.cancel(request, step.name);
          return;
        }
        if ('code' in ran) {
          await this.finish(request, 'FAILED', ran, step.name);
          return;
        }
        ctx.earlier.push(ran.earlier);
        if (ran.finished) return;
        begun = ran.next;
      } else {
        const done = (step.output as { changes?: Change[] } | null)?.changes ?? [];
        const targets = done.map((c) => c.target);
        const { result, finishedAt } = step;
        ctx.earlier.push({ name: step.name as StepName, result, finishedAt, changes: targets });
      }
    }
    await this.finish(request, 'SUCCEEDED');
  }

  /**
   * Runs one step with bounded retries of transient failures; returns what it did, the failure, or
   * CANCEL_REQUESTED when the request's cancellation flag was set before the step started (checked
   * by the step.started statement itself, which then writes nothing). `begun`: its first attempt was
   * started already (with the previous step's success); `next`: the step after it.
   */
  private async runStep(
    request: OnboardingRequest,
    step: StepRun,
    ctx: StepContext,
    { begun, later, fence }: { begun?: Begun; later: StepRun[]; fence: Fence },
  ): Promise<StepFailure | Succeeded | typeof CANCEL_REQUESTED> {
    const next = later[0];
    let attempts = begun?.attempts ?? step.attempts;
    const firstStarted = begun?.firstStarted ?? step.startedAt ?? new Date();
    const wrote = { value: false };
    // A step resumed (its worker died mid-step, or the request was retried): what its earlier attempts set out to
    // write may have reached the cluster though this attempt finds nothing left to do (docs/steps.md).
    const intended = step.attempts > 0 ? await this.store.intents(request.id, step.name) : [];
    if (intended.length) wrote.value = true;
    for (let n = 1; ; n++) {
      if (n > 1 || !begun) {
        attempts += 1;
        const start = this.start(step, attempts, firstStarted);
        // An attempt is held back by a cancellation, a retry's too: once a cancel is accepted, nothing more is
        // written to the cluster (the request ends CANCELLED before this step; a retry runs it again). Unless the
        // cluster took a write of an earlier attempt of this step: then it is tried to its end (or fails), so a
        // cancelled request never leaves a step half applied while its record says it never ran; the cancel takes
        // effect before the next step.
        const began = await this.transition(
          request,
          { step: start.change, unlessCancelRequested: !wrote.value },
          start.event,
        );
        if (!began) return CANCEL_REQUESTED;
      }
      const started = performance.now();
      const attempt = await this.attempt({
        request,
        step,
        ctx,
        attempts,
        started,
        firstStarted,
        n,
        next,
        later,
        wrote,
        intended,
        fence,
      });
      if ('retryIn' in attempt) {
        await new Promise((r) => setTimeout(r, attempt.retryIn));
        continue;
      }
      return attempt;
    }
  }

  /** A step's start: the step-run change and its step.started event. */
  private start(step: StepRun, attempts: number, startedAt: Date) {
    return {
      change: { kind: 'started' as const, stepId: step.id, attempts, startedAt },
      event: {
        action: 'step.started',
        step: step.name,
        data: {
          message: `${stepByName(step.name).title}: started (attempt ${attempts})`,
          attempt: attempts,
          worker: this.workerId,
        },
      },
    };
  }

  /**
   * The start of `step`'s next attempt as a two-event statement writes it (claimAndStart, succeedAndStart), and the
   * attempt it begins.
   */
  private nextStart(request: OnboardingRequest, step: StepRun): { started: StepStart; begun: Begun } {
    const begun = { attempts: step.attempts + 1, firstStarted: step.startedAt ?? new Date() };
    const { change, event } = this.start(step, begun.attempts, begun.firstStarted);
    return { started: { change, event: this.event(request, event.action, event.data, event) }, begun };
  }

  /** One attempt of a step, in its own span and log context: what it did, the failure, or when to retry. */
  private attempt({
    request,
    step,
    ctx,
    attempts,
    started,
    firstStarted,
    n,
    next,
    later,
    wrote,
    intended,
    fence,
  }: StepAttempt): Promise<StepFailure | Succeeded | { retryIn: number }> {
    const attributes = {
      'osm_onboarding.step': step.name,
      'osm_onboarding.step.attempt': attempts,
      'osm_onboarding.request.id': request.id,
    };
    return withLogContext({ step: step.name }, () =>
      inSpan(`onboarding.step ${step.name}`, { attributes }, async (span) => {
        const handler = stepByName(step.name);
        const tally = { calls: 0, writes: 0 };
        // Given up at the deadline: this attempt's work, still running, may call the cluster no more.
        const giveUp = new AbortController();
        const kube = fencedClient(ctx.kube, {
          signal: AbortSignal.any([fence.signal, giveUp.signal]),
          beforeWrite: fence.beforeWrite,
        });
        const attemptCtx: StepContext = { ...ctx, kube };
        try {
          const stored = (step.output as { planned?: { changes?: unknown } } | null)?.planned;
          const { value: applied, calls } = await this.gateway.counting(
            () =>
              withDeadline(
                applyStep(handler, attemptCtx, {
                  planned: stored
                    ? (plan) => this.reportDrift(request, step.name, stored.changes ?? [], plan)
                    : undefined,
                  beforeWrite: async (plan) => {
                    // The request's first write: what a later step would refuse is refused now, before it.
                    if (!ctx.earlier.some((e) => e.result === 'CHANGED'))
                      await runPreflights(
                        later.map((s) => stepByName(s.name)),
                        attemptCtx,
                      );
                    await this.recordIntent(request, step.name, plan);
                  },
                }),
                this.config.steps.timeoutMs,
                step.name,
                giveUp,
              ),
            tally,
          );
          // An earlier attempt of this step wrote (its answer was lost, or it re-planned after a conflict), so this
          // attempt found nothing left to do: the step still changed the cluster, and a restart after it must settle.
          const outcome: StepOutcome =
            wrote.value && applied.result === 'UNCHANGED'
              ? { ...applied, result: 'CHANGED', summary: `${applied.summary} (written by an earlier attempt)` }
              : applied;
          const { finishedAt, begun, finished } = await this.succeed(
            request,
            step,
            { outcome, calls, ms: Math.round(performance.now() - started), started: firstStarted },
            // Shutting down: the next step is not started; the loop releases the request before it. The last
            // step's success ends the request (the loop would finish it next, shutting down or not).
            next ? (this.stopping ? undefined : next) : FINISH,
          );
          this.metrics.steps.observe({ step: step.name, result: outcome.result }, (performance.now() - started) / 1000);
          span.setAttributes({ 'osm_onboarding.step.result': outcome.result, 'osm_onboarding.step.api_calls': calls });
          this.logger.log(
            `step ${step.name}: ${outcome.result === 'CHANGED' ? 'changed' : 'unchanged'} — ${outcome.summary} ` +
              `(${calls} API call(s), ${Math.round(performance.now() - started)} ms)`,
          );
          // What later steps learn this one changed (a restart re-injects after a MeshConfig change): its writes,
          // and those an interrupted earlier run of it set out to make.
          const changes = [...outcome.changes.map((c) => c.target), ...intended];
          const earlier = { name: step.name as StepName, result: outcome.result, finishedAt, changes };
          return { earlier, next: begun, finished };
        } catch (err) {
          // The cluster took a write of this attempt: its retries run despite a cancellation (runStep).
          if (tally.writes > 0) wrote.value = true;
          // Postgres/Redis trouble is ours, not the step's: stop without failing the request; it resumes
          // at this step (job retry or sweeper). A worker that lost its claim stops too.
          if (err instanceof ClaimLostError || (!(err instanceof DomainError) && isDependencyUnavailable(err)))
            throw err;
          const failure = classify(err);
          // Optimistic-concurrency conflicts on shared objects (the MeshConfig) resolve by re-planning
          // and deserve more attempts than an API server that is down.
          const budget =
            failure.code === 'KUBE_CONFLICT'
              ? Math.max(20, this.config.steps.maxAttempts)
              : this.config.steps.maxAttempts;
          if (failure.retryable && n < budget) {
            const delay = Math.max(failure.retryAfterMs ?? 0, backoff(this.config.steps.backoffMs, Math.min(n, 6)));
            await this.transition(
              request,
              {},
              {
                action: 'step.retrying',
                step: step.name,
                data: {
                  message: `${handler.title}: ${failure.message}; retrying in ${delay} ms`,
                  code: failure.code,
                  attempt: attempts,
                },
              },
            );
            span.setAttributes({
              'osm_onboarding.step.result': 'RETRY',
              'osm_onboarding.error.code': String(failure.code),
            });
            this.logger.warn(`step ${step.name}: ${failure.message}; retrying in ${delay} ms`);
            return { retryIn: delay };
          }
          await this.transition(
            request,
            {
              step: {
                kind: 'failed',
                stepId: step.id,
                errorCode: failure.code,
                errorMessage: failure.message,
                output: { ...planOf(step), hint: failure.hint ?? null, ...(failure.details ?? {}) },
                finishedAt: new Date(),
                durationMs: Math.round(performance.now() - started),
              },
            },
            {
              action: 'step.failed',
              step: step.name,
              data: {
                message: `${handler.title}: ${failure.message}`,
                code: failure.code,
                hint: failure.hint ?? null,
                attempt: attempts,
                ...(failure.details ?? {}),
              },
            },
          );
          this.metrics.steps.observe({ step: step.name, result: 'FAILED' }, (performance.now() - started) / 1000);
          span.setAttributes({
            'osm_onboarding.step.result': 'FAILED',
            'osm_onboarding.error.code': String(failure.code),
          });
          span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
          this.logger.warn(`step ${step.name} failed: ${failure.code}: ${failure.message}`);
          return failure;
        }
      }),
    );
  }

  /** A dry run stored this step's plan; say what changed in the cluster since then. */
  private async reportDrift(request: OnboardingRequest, step: string, planned: unknown, plan: StepPlan): Promise<void> {
    if (!plannedChangesDiffer(planned, plan.changes)) return;
    await this.transition(
      request,
      {},
      {
        action: 'step.drifted',
        step,
        data: {
          message:
            `the cluster changed since the plan: ${step} now ` +
            `${plan.changes.length ? `makes ${plan.changes.length} change(s)` : 'has nothing to change'} ` +
            `(planned: ${(planned as unknown[]).length})`,
          planned,
          actual: plan.changes,
        },
      },
    );
  }

  private async recordIntent(request: OnboardingRequest, step: string, plan: StepPlan): Promise<void> {
    await this.transition(
      request,
      {},
      {
        action: 'step.applying',
        step,
        data: { message: plan.summary, changes: plan.changes, before: plan.before ?? null },
      },
    );
  }

  private async succeed(
    request: OnboardingRequest,
    step: StepRun,
    { outcome, calls, ms, started }: { outcome: StepOutcome; calls: number; ms: number; started: Date },
    next: StepRun | typeof FINISH | undefined,
  ): Promise<{ finishedAt: Date; begun?: Begun | typeof CANCEL_REQUESTED; finished?: true }> {
    const title = stepByName(step.name).title;
    const finishedAt = new Date();
    const change = {
      kind: 'succeeded' as const,
      stepId: step.id,
      result: outcome.result,
      before: outcome.before,
      after: outcome.after,
      output: {
        ...planOf(step),
        summary: outcome.summary,
        changes: outcome.changes,
        diagnostics: outcome.diagnostics ?? [],
        facts: outcome.facts ?? {},
        apiCalls: calls,
      },
      finishedAt,
      durationMs: Math.round(finishedAt.getTime() - started.getTime()) || ms,
    };
    const event = {
      action: 'step.succeeded',
      step: step.name,
      target: `namespaces/${request.namespace}`,
      data: {
        message: `${title}: ${outcome.result === 'CHANGED' ? '' : 'unchanged, '}${outcome.summary}`,
        result: outcome.result,
        changes: outcome.changes,
        before: outcome.before ?? null,
        after: outcome.after ?? null,
        apiCalls: calls,
      },
    };
    if (!next) {
      await this.transition(request, { step: change }, event);
      return { finishedAt };
    }
    if (next === FINISH) {
      const end = this.finishEvent(request, 'SUCCEEDED');
      const rows = await this.store.succeedAndFinish(
        request.id,
        this.workerId,
        { change, event: this.event(request, event.action, event.data, event) },
        { finishedAt: new Date(), event: this.event(request, end.action, end.data) },
      );
      if (rows.length === 0) throw new ClaimLostError(request.id, this.workerId);
      this.metrics.requests.inc({ kind: request.kind, status: 'SUCCEEDED' });
      this.bus.send(rows.map(toProgressEvent));
      return { finishedAt, finished: true };
    }
    const start = this.nextStart(request, next);
    const rows = await this.store.succeedAndStart(
      request.id,
      this.workerId,
      { change, event: this.event(request, event.action, event.data, event) },
      start.started,
    );
    if (rows.length === 0) throw new ClaimLostError(request.id, this.workerId);
    this.bus.send(rows.map(toProgressEvent));
    return { finishedAt, begun: rows.length === 2 ? start.begun : CANCEL_REQUESTED };
  }

  private async finish(
    request: OnboardingRequest,
    status: RequestStatus,
    failure?: StepFailure,
    failedStep?: string,
  ): Promise<void> {
    this.metrics.requests.inc({ kind: request.kind, status });
    await this.transition(
      request,
      {
        request: {
          kind: 'finish',
          status,
          finishedAt: new Date(),
          errorCode: failure?.code ?? null,
          errorMessage: failure?.message ?? null,
        },
      },
      this.finishEvent(request, status, failure, failedStep),
    );
  }

  /** The request.succeeded / request.failed event. */
  private finishEvent(request: OnboardingRequest, status: RequestStatus, failure?: StepFailure, failedStep?: string) {
    const what = request.kind === 'ONBOARD' ? 'onboarding' : 'offboarding';
    return {
      action: `request.${status.toLowerCase()}`,
      data: {
        message:
          status === 'SUCCEEDED'
            ? `${what} of ${request.cluster}/${request.namespace} succeeded`
            : `${what} of ${request.cluster}/${request.namespace} ${status.toLowerCase()}` +
              `${failedStep ? ` at step ${failedStep}` : ''}: ${failure?.message ?? ''}`,
        status,
        code: failure?.code ?? null,
        step: failedStep ?? null,
      },
    };
  }

  private async cancel(request: OnboardingRequest, before: string): Promise<void> {
    this.metrics.requests.inc({ kind: request.kind, status: 'CANCELLED' });
    await this.transition(
      request,
      {
        step: { kind: 'cancel-open' },
        request: {
          kind: 'finish',
          status: 'CANCELLED',
          finishedAt: new Date(),
          errorCode: 'CANCELLED',
          errorMessage: `cancelled before step ${before}`,
        },
      },
      {
        action: 'request.cancelled',
        data: { message: `cancelled; stopped before step ${before}`, stoppedBefore: before, status: 'CANCELLED' },
      },
    );
  }

  /** Shutdown: gives the request back (QUEUED, unclaimed) before its next step; another worker resumes it there. */
  private async release(request: OnboardingRequest, before: string): Promise<'released'> {
    await this.transition(
      request,
      { request: { kind: 'release' } },
      {
        action: 'request.released',
        data: {
          message: `worker ${this.workerId} is shutting down; released before step ${before}`,
          stoppedBefore: before,
          worker: this.workerId,
        },
      },
    );
    return 'released';
  }

  /**
   * A row change and its audit event in one statement (RunStore.transition: one round trip, the
   * heartbeat and the fencing check in the same UPDATE); the event is published right after commit.
   * Returns false only when `unlessCancelRequested` found the cancellation flag set (nothing written).
   */
  private async transition(
    request: OnboardingRequest,
    change: Transition,
    event: Omit<NewAuditEvent, 'requestId' | 'actor' | 'cluster' | 'namespace'>,
  ): Promise<boolean> {
    const row = await this.store.transition(
      request.id,
      this.workerId,
      change,
      this.event(request, event.action, event.data ?? {}, event),
    );
    if (row) {
      this.bus.send([toProgressEvent(row)]);
      return true;
    }
    // Nothing written. Fencing: a worker whose heartbeat went stale and whose request another worker
    // took over writes nothing more; otherwise the statement held back because cancellation was requested.
    const state = change.unlessCancelRequested ? await this.store.state(request.id) : undefined;
    if (state?.claimedBy === this.workerId && state.cancelRequested) return false;
    throw new ClaimLostError(request.id, this.workerId);
  }

  private event(
    request: OnboardingRequest,
    action: string,
    data: Record<string, unknown>,
    extra: Partial<NewAuditEvent> = {},
  ): NewAuditEvent {
    return {
      requestId: request.id,
      actor: WORKER_ACTOR,
      action,
      cluster: request.cluster,
      namespace: request.namespace,
      target: extra.target ?? `namespaces/${request.namespace}`,
      step: extra.step,
      data,
    };
  }
}

/** This worker's claim was taken over (its heartbeat went stale); it stops without writing anything more. */
export class ClaimLostError extends Error {
  constructor(requestId: string, workerId: string) {
    super(`request ${requestId}: worker ${workerId} lost its claim (stale heartbeat, taken over); stopping`);
    this.name = 'ClaimLostError';
  }
}

/** runStep's answer when cancellation was requested before the step started. */
const CANCEL_REQUESTED = 'cancel-requested' as const;

const planOf = (step: StepRun) => {
  const planned = (step.output as { planned?: unknown } | null)?.planned;
  return planned ? { planned } : {};
};
