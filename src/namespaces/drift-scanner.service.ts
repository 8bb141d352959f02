// The periodic drift scan (worker role): compares each namespace whose last successful request was an
// onboarding with the live namespace, and records a `namespace.drifted` audit event once per drift. The
// event belongs to that last successful request (its next cursor), so it reaches the request's progress
// stream (SSE / GraphQL replay), the EventBus and the webhooks like any other event of that request.
import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { V1Namespace } from '@kubernetes/client-node';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { AuditRepository } from '../audit/audit.repository.js';
import { PrismaService } from '../database/prisma.service.js';
import { EventBus } from '../events/event-bus.service.js';
import { toProgressEvent } from '../events/progress-event.js';
import { ClusterGateway } from '../kubernetes/cluster-gateway.js';
import type { ClusterClient } from '../kubernetes/cluster-client.js';
import { KubeError } from '../kubernetes/kube-error.js';
import { MeshDiscoveryService } from '../kubernetes/mesh-discovery.service.js';
import { CRD } from '../mesh/osm.js';
import { API_SERVER_EGRESS_NAME } from '../mesh/ownership.js';
import { RedisService } from '../redis/redis.service.js';
import type { RequestOptions } from '../onboarding/onboarding.input.js';
import { exclusionList } from '../mesh/mesh-config.js';
import { discoverApiServer } from '../onboarding/steps/kit/api-server.js';
import { getOptional } from '../onboarding/steps/kit/custom-objects.js';
import { readMeshConfig } from '../onboarding/steps/kit/mesh-config.js';
import { describeDrift, driftFingerprint, DriftChange, MeshFacts, namespaceDrift } from './drift.js';

export const DRIFT_ACTOR = 'system:drift-scan';
export const DRIFT_EVENT = 'namespace.drifted';

/** Deletes the lock only if it is still ours (it may have expired and been taken by another replica). */
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/** Namespaces checked at once within a pass (each check is 1-2 rate-limited calls). */
const CONCURRENCY = 4;

interface Candidate {
  id: string;
  cluster: string;
  namespace: string;
  meshName: string;
  options: RequestOptions;
}

export interface ScanResult {
  /** Namespaces compared with the cluster. */
  checked: number;
  /** Drifts recorded now (new, or different from the one recorded before). */
  recorded: number;
  /** Drifted as already recorded: nothing written. */
  unchanged: number;
  /** Namespaces not compared this pass (cluster unknown or unreachable). */
  skipped: number;
  /** False when another replica holds the scan, or one ran within the interval. */
  ran: boolean;
}

/**
 * One scanner at a time across replicas: a pass takes a Redis lock (released at its end) and a pacing key
 * that expires after DRIFT_SCAN_INTERVAL_MS, so the replicas together run about one pass per interval and
 * never two at once. A pass checks at most DRIFT_SCAN_BATCH_SIZE namespaces, continuing where the last one
 * stopped (the cursor is in Redis too); every Kubernetes call goes through the cluster's shared rate limit.
 */
@Injectable()
export class DriftScanner implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(DriftScanner.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<ScanResult>;

  constructor(
    private readonly prisma: PrismaService,
    private readonly redis: RedisService,
    private readonly gateway: ClusterGateway,
    private readonly mesh: MeshDiscoveryService,
    private readonly audit: AuditRepository,
    private readonly bus: EventBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private key(name: string): string {
    return `${this.config.queuePrefix}:drift-scan:${name}`;
  }

  onApplicationBootstrap(): void {
    const { intervalMs } = this.config.driftScan;
    if (this.config.role === 'api' || intervalMs <= 0) return;
    this.timer = setInterval(() => void this.tick(), Math.max(1000, Math.floor(intervalMs / 4)));
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** A pass if this replica may run one now (lock free, interval elapsed); never throws. */
  async tick(): Promise<ScanResult> {
    try {
      return await this.scan();
    } catch (err) {
      this.logger.warn(`drift scan failed: ${(err as Error).message}`);
      return { checked: 0, recorded: 0, unchanged: 0, skipped: 0, ran: false };
    }
  }

  /** `force` ignores the pacing key (tests, or an operator's "scan now"); the lock still applies. */
  async scan(force = false): Promise<ScanResult> {
    if (this.running) return this.running; // one pass per process at a time
    this.running = this.locked(force).finally(() => (this.running = undefined));
    return this.running;
  }

  private async locked(force: boolean): Promise<ScanResult> {
    const none: ScanResult = { checked: 0, recorded: 0, unchanged: 0, skipped: 0, ran: false };
    const { intervalMs } = this.config.driftScan;
    const token = randomBytes(8).toString('hex');
    // The lock outlives any pass (each stops starting checks after the interval, or a minute).
    const lockMs = 2 * Math.max(intervalMs, 60_000);
    if ((await this.redis.client.set(this.key('lock'), token, 'PX', lockMs, 'NX')) !== 'OK') return none;
    try {
      if (!force && intervalMs > 0) {
        if ((await this.redis.client.set(this.key('pace'), token, 'PX', intervalMs, 'NX')) !== 'OK') return none;
      }
      return { ...(await this.pass(Date.now() + Math.max(intervalMs, 60_000))), ran: true };
    } finally {
      await this.redis.client.eval(RELEASE, 1, this.key('lock'), token).catch(() => undefined);
    }
  }

  private async pass(deadline: number): Promise<ScanResult> {
    const result: ScanResult = { checked: 0, recorded: 0, unchanged: 0, skipped: 0, ran: true };
    await this.forgetSuperseded();
    const raw = await this.redis.client.get(this.key('cursor'));
    const after = raw ? (JSON.parse(raw) as { cluster: string; namespace: string }) : { cluster: '', namespace: '' };
    const batch = this.config.driftScan.batchSize;
    const candidates = await this.candidates(after, batch);
    const facts = new Map<string, Promise<Omit<MeshFacts, 'egressPresent'>>>();
    let next = 0;
    const lanes = Array.from({ length: Math.min(CONCURRENCY, candidates.length) }, async () => {
      while (next < candidates.length && Date.now() < deadline) {
        const c = candidates[next++];
        const outcome = await this.check(c, facts);
        result[outcome] += 1;
        if (outcome !== 'skipped') result.checked += 1;
      }
    });
    await Promise.all(lanes);
    // Stopped at the deadline: continue after the last one checked. A full batch: after it. A short one
    // reached the end: start over.
    const last = next < candidates.length ? candidates[next - 1] : candidates.at(-1);
    if ((candidates.length === batch || next < candidates.length) && last) {
      const cursor = JSON.stringify({ cluster: last.cluster, namespace: last.namespace });
      await this.redis.client.set(this.key('cursor'), cursor);
    } else {
      await this.redis.client.del(this.key('cursor'));
    }
    if (result.recorded) this.logger.warn(`drift scan: ${result.recorded} namespace(s) drifted from their onboarding`);
    return result;
  }

  /**
   * The newest successful request per target after `after`, in (cluster, namespace) order, when it is an
   * onboarding and no request for the target is active (a running request is changing it right now).
   */
  private candidates(after: { cluster: string; namespace: string }, limit: number): Promise<Candidate[]> {
    return this.prisma.$queryRaw<Candidate[]>`
      WITH last AS (
        SELECT DISTINCT ON (cluster, namespace)
               id::text AS id, cluster, namespace, kind, mesh_name AS "meshName", options
          FROM onboarding_request
         WHERE status = 'SUCCEEDED' AND (cluster, namespace) > (${after.cluster}, ${after.namespace})
         ORDER BY cluster, namespace, created_at DESC, id DESC
      )
      SELECT id, cluster, namespace, "meshName", options FROM last
       WHERE kind = 'ONBOARD'
         AND NOT EXISTS (SELECT 1 FROM onboarding_request a
                          WHERE a.cluster = last.cluster AND a.namespace = last.namespace
                            AND a.status IN ('PENDING_APPROVAL', 'QUEUED', 'RUNNING'))
       ORDER BY cluster, namespace
       LIMIT ${limit}`;
  }

  /** Recorded drifts whose request is no longer the target's newest success (re-applied, offboarded). */
  private async forgetSuperseded(): Promise<void> {
    await this.prisma.$executeRaw`
      DELETE FROM namespace_drift d
       WHERE d.request_id <> (SELECT r.id FROM onboarding_request r
                               WHERE r.cluster = d.cluster AND r.namespace = d.namespace AND r.status = 'SUCCEEDED'
                               ORDER BY r.created_at DESC, r.id DESC LIMIT 1)`;
  }

  private async check(
    c: Candidate,
    facts: Map<string, Promise<Omit<MeshFacts, 'egressPresent'>>>,
  ): Promise<'recorded' | 'unchanged' | 'skipped'> {
    let kube: ClusterClient;
    try {
      kube = this.gateway.client(c.cluster);
    } catch {
      return 'skipped'; // the context left the kubeconfig
    }
    let ns: V1Namespace | null;
    try {
      ns = await kube.getNamespace(c.namespace);
    } catch (err) {
      if (!(err instanceof KubeError)) throw err;
      if (err.reason !== 'NOT_FOUND') return 'skipped';
      ns = null;
    }
    const access = c.options.apiServerAccess;
    let mesh: MeshFacts = { exclusionListed: null, egressPolicyEnabled: null, egressPresent: null };
    if (ns && access) {
      const key = `${c.cluster}\u0000${c.meshName}`;
      if (!facts.has(key)) facts.set(key, this.meshFacts(kube, c));
      mesh = { ...(await facts.get(key)!), egressPresent: null };
      if (access.method === 'egress') {
        mesh.egressPresent = await getOptional(kube, CRD.egress, c.namespace, API_SERVER_EGRESS_NAME).then(
          (e) => e !== null,
          () => null,
        );
      }
    }
    const changes = namespaceDrift(ns, c, mesh);
    if (changes.length === 0) {
      await this.prisma.namespaceDrift.deleteMany({ where: { cluster: c.cluster, namespace: c.namespace } });
      return 'unchanged';
    }
    return (await this.record(c, changes)) ? 'recorded' : 'unchanged';
  }

  /** The MeshConfig facts of one mesh, read once per pass; null where a read failed (not compared). */
  private async meshFacts(kube: ClusterClient, c: Candidate): Promise<Omit<MeshFacts, 'egressPresent'>> {
    try {
      const info = await this.mesh.discover(c.cluster, c.meshName);
      const [mc, api] = await Promise.all([readMeshConfig(kube, info.controlPlaneNamespace), discoverApiServer(kube)]);
      const flags = mc.spec?.featureFlags as { enableEgressPolicy?: unknown } | undefined;
      return {
        exclusionListed: { cidr: api.cidr, listed: (exclusionList(mc) ?? []).includes(api.cidr) },
        egressPolicyEnabled: flags?.enableEgressPolicy === true,
      };
    } catch (err) {
      this.logger.debug(`drift scan: mesh ${c.meshName} in ${c.cluster} not compared: ${(err as Error).message}`);
      return { exclusionListed: null, egressPolicyEnabled: null };
    }
  }

  /**
   * Stores the drift and its event in one transaction, unless the same drift is recorded already or the
   * target moved on meanwhile (a newer request). Returns whether an event was written.
   */
  private async record(c: Candidate, changes: DriftChange[]): Promise<boolean> {
    const fingerprint = driftFingerprint(changes);
    const summary = describeDrift(changes);
    const target = `${c.cluster}/${c.namespace}`;
    const message = `namespace ${target} drifted from its onboarding into mesh ${c.meshName}: ${summary}`;
    const event = await this.prisma.$transaction(async (tx) => {
      const newest = await tx.$queryRaw<{ id: string; status: string }[]>`
        SELECT id::text AS id, status::text AS status FROM onboarding_request
         WHERE cluster = ${c.cluster} AND namespace = ${c.namespace}
           AND status IN ('SUCCEEDED', 'PENDING_APPROVAL', 'QUEUED', 'RUNNING')
         ORDER BY created_at DESC, id DESC LIMIT 1
           FOR UPDATE`;
      if (newest[0]?.id !== c.id || newest[0].status !== 'SUCCEEDED') return null;
      const stored = await tx.$queryRaw<{ cluster: string }[]>`
        INSERT INTO namespace_drift (cluster, namespace, request_id, fingerprint, changes)
        VALUES (${c.cluster}, ${c.namespace}, ${c.id}::uuid, ${fingerprint}, ${JSON.stringify(changes)}::jsonb)
        ON CONFLICT (cluster, namespace) DO UPDATE
           SET request_id = EXCLUDED.request_id, fingerprint = EXCLUDED.fingerprint, changes = EXCLUDED.changes,
               detected_at = CURRENT_TIMESTAMP, event_id = NULL
         WHERE namespace_drift.fingerprint <> EXCLUDED.fingerprint OR namespace_drift.request_id <> EXCLUDED.request_id
        RETURNING cluster`;
      if (stored.length === 0) return null; // this very drift was recorded before
      const row = await this.audit.append(tx, {
        requestId: c.id,
        actor: DRIFT_ACTOR,
        action: DRIFT_EVENT,
        cluster: c.cluster,
        namespace: c.namespace,
        target: `namespaces/${c.namespace}`,
        data: {
          message,
          changes,
          fingerprint,
          lastSuccessfulRequestId: c.id,
          reapply: `/v1/namespaces/${encodeURIComponent(c.cluster)}/${c.namespace}/reapply`,
        },
      });
      await tx.namespaceDrift.update({
        where: { cluster_namespace: { cluster: c.cluster, namespace: c.namespace } },
        data: { eventId: row.id },
      });
      return row;
    });
    if (!event) return false;
    await this.bus.publish([toProgressEvent(event)]);
    return true;
  }
}
