// Outlier detection over the gateway's calls, per cluster, in the spirit of Envoy's outlier detection (its hosts are
// our clusters): a cluster whose calls fail (429, 5xx, no answer) in a share of CLUSTER_OUTLIER_FAILURE_SHARE or more,
// or whose quick calls take CLUSTER_OUTLIER_LATENCY_FACTOR times as long as the other clusters' or more (the 25th
// percentile of its call times against the median of the others', and MIN_EXTRA_MS more at least), over the last
// WINDOW_S seconds, is an outlier. The 25th percentile, not the mean: a busy worker adds its event-loop wait to
// every call it makes, and a cluster's long lists to some of its calls; neither says that the cluster is slow, and
// the quicker quarter of its calls shows the least of both (in bench/fairness.ts, a cluster answering in 100 ms
// among ones answering in 10 ms, on a busy worker: 1.6–2.8× the others' mean, 2.9–4.9× their 25th percentile).
// An outlier stays one for HOLD_MS at least (Envoy's ejection time), then until it is clearly well (RECOVERY).
// The worker's slot budget (queue/cluster-share.ts) serves an outlier last while a cluster that is not one has
// work: its retries, timeouts and slow calls then cost the others neither slots nor much of the worker's CPU.
// A verdict needs MIN_CALLS calls in the window; with fewer, the last verdict holds (an outlier held to one slot
// still makes enough calls to be judged again, and a cluster alone at work gets its whole budget back anyway).
// Watches are left out: they last by design. Only the worker role listens (the API's prechecks are few, and their
// verdict would be of no use there).
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { MetricsService } from '../observability/metrics.service.js';
import type { KubeCallRecord } from './cluster-client.js';
import { ClusterGateway } from './cluster-gateway.js';

/** The window the verdicts read, in one-second buckets. */
export const WINDOW_S = 5;
/** Calls in the window below which a cluster's verdict is not changed. */
export const MIN_CALLS = 10;
/** A latency outlier is this much slower than the others at least, whatever the factor. */
export const MIN_EXTRA_MS = 25;
/** An outlier recovers below this share of the bounds that made it one ... */
export const RECOVERY = 2 / 3;
/** ... and not before it has been one this long (a verdict from a few dozen calls is noisy: 20 % of failures read
 * 4 % in 23 calls now and then). */
export const HOLD_MS = 10_000;
/** How long verdicts are reused before they are computed again. */
const VERDICT_TTL_MS = 250;
/** Call times are counted in bins a quarter of an octave wide (±9 %), up to 2^20 ms. */
const BINS = 80;
const binOf = (ms: number): number => Math.min(BINS - 1, Math.floor(4 * Math.log2(1 + Math.max(0, ms))));
const msOf = (bin: number): number => 2 ** ((bin + 0.5) / 4) - 1;

interface Bucket {
  second: number;
  calls: number;
  failures: number;
  bins: Uint32Array;
}

/** A cluster's calls over the window. */
export interface ClusterCalls {
  calls: number;
  failureShare: number;
  /** The 25th percentile of the calls' times (0 without calls). */
  p25Ms: number;
}

/** A call the API server did not serve: throttled, failed on its side, or unanswered (timeout, reset, refused). */
const failed = (status: number | 'error'): boolean => status === 'error' || status === 429 || status >= 500;

@Injectable()
export class ClusterHealth implements OnModuleInit {
  private readonly logger = new Logger(ClusterHealth.name);
  private readonly buckets = new Map<string, Bucket[]>();
  /** Outliers now, and since when. */
  private readonly outlying = new Map<string, number>();
  private judgedAt = -Infinity;

  constructor(
    private readonly gateway: ClusterGateway,
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    if (this.config.role === 'api' || !this.config.clusterOutliers.enabled) return;
    this.gateway.onCall((r) => this.record(r));
  }

  record(r: Pick<KubeCallRecord, 'cluster' | 'verb' | 'status' | 'ms'>, now = Date.now()): void {
    if (r.verb === 'watch') return;
    const second = Math.floor(now / 1000);
    let ring = this.buckets.get(r.cluster);
    if (!ring) {
      ring = Array.from({ length: WINDOW_S }, () => ({
        second: -1,
        calls: 0,
        failures: 0,
        bins: new Uint32Array(BINS),
      }));
      this.buckets.set(r.cluster, ring);
    }
    const b = ring[second % WINDOW_S];
    if (b.second !== second) {
      Object.assign(b, { second, calls: 0, failures: 0 });
      b.bins.fill(0);
    }
    b.calls += 1;
    b.bins[binOf(r.ms)] += 1;
    if (failed(r.status)) b.failures += 1;
  }

  /** Whether the cluster is an outlier now (always false when CLUSTER_OUTLIER_DETECTION is off). */
  isOutlier(cluster: string, now = Date.now()): boolean {
    if (!this.config.clusterOutliers.enabled) return false;
    if (now - this.judgedAt >= VERDICT_TTL_MS) this.judge(now);
    return this.outlying.has(cluster);
  }

  /** A cluster's calls over the window ending at `now`. */
  window(cluster: string, now = Date.now()): ClusterCalls {
    const from = Math.floor(now / 1000) - WINDOW_S + 1;
    let calls = 0;
    let failures = 0;
    const bins = new Uint32Array(BINS);
    for (const b of this.buckets.get(cluster) ?? []) {
      if (b.second < from) continue;
      calls += b.calls;
      failures += b.failures;
      for (let i = 0; i < BINS; i++) bins[i] += b.bins[i];
    }
    let p25Ms = 0;
    for (let i = 0, seen = 0; i < BINS && calls; i++) {
      seen += bins[i];
      if (seen >= calls / 4) {
        p25Ms = msOf(i);
        break;
      }
    }
    return { calls, failureShare: calls ? failures / calls : 0, p25Ms };
  }

  private judge(now: number): void {
    this.judgedAt = now;
    const { failureShare, latencyFactor } = this.config.clusterOutliers;
    const seen = [...this.buckets.keys()].map((cluster) => ({ cluster, ...this.window(cluster, now) }));
    const judged = seen.filter((c) => c.calls >= MIN_CALLS);
    for (const c of judged) {
      const since = this.outlying.get(c.cluster);
      if (since !== undefined && now - since < HOLD_MS) continue;
      // An outlier stays one until it is clearly well: below 2/3 of either bound (a cluster near a bound would
      // otherwise flip, and each flip hands it its whole budget for a while).
      const bound = this.outlying.has(c.cluster) ? RECOVERY : 1;
      const reference = median(judged.filter((o) => o !== c).map((o) => o.p25Ms));
      const slow =
        reference !== undefined && c.p25Ms >= bound * latencyFactor * reference && c.p25Ms >= reference + MIN_EXTRA_MS;
      const reason =
        c.failureShare >= bound * failureShare
          ? `${Math.round(100 * c.failureShare)} % of its ${c.calls} calls failed`
          : slow
            ? `a quarter of its calls took ${c.p25Ms.toFixed(0)} ms or less, against the other clusters' ` +
              `${reference.toFixed(0)} ms`
            : undefined;
      this.settle(c.cluster, reason, now);
    }
  }

  private settle(cluster: string, reason: string | undefined, now: number): void {
    const was = this.outlying.has(cluster);
    if (Boolean(reason) === was) return;
    if (reason) {
      this.outlying.set(cluster, now);
      this.logger.warn(
        `cluster ${cluster} is an outlier (${reason} in the last ${WINDOW_S} s): ` +
          `it gets ${this.config.clusterOutliers.budget} slot(s) per worker while other clusters have work`,
      );
    } else {
      this.outlying.delete(cluster);
      this.logger.log(`cluster ${cluster} is no longer an outlier: its whole budget is back`);
    }
    this.metrics.clusterOutlier.set({ cluster }, reason ? 1 : 0);
  }
}

function median(values: number[]): number | undefined {
  if (!values.length) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
