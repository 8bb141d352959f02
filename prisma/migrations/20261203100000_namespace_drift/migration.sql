-- Drift of onboarded namespaces (src/namespaces/drift-scanner.service.ts). One row per namespace that the
-- drift scan found changed since its last successful onboarding (`request_id`): what changed and its
-- fingerprint, so a drift is recorded (audit event `namespace.drifted`, attached to that request) once,
-- not on every pass. The row goes when the namespace is back as onboarded or a newer request succeeded.
CREATE TABLE "namespace_drift" (
    "cluster" TEXT NOT NULL,
    "namespace" TEXT NOT NULL,
    "request_id" UUID NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "changes" JSONB NOT NULL,
    "event_id" BIGINT,
    "detected_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "namespace_drift_pkey" PRIMARY KEY ("cluster", "namespace")
);

ALTER TABLE "namespace_drift" ADD CONSTRAINT "namespace_drift_request_id_fkey"
    FOREIGN KEY ("request_id") REFERENCES "onboarding_request"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- The scan pages through the newest successful request per target, in (cluster, namespace) order.
CREATE INDEX "onboarding_request_succeeded_target_idx"
    ON "onboarding_request"("cluster", "namespace", "created_at" DESC)
    WHERE "status" = 'SUCCEEDED';
