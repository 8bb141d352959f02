-- CreateEnum
CREATE TYPE "RequestKind" AS ENUM ('ONBOARD', 'OFFBOARD');

-- CreateEnum
CREATE TYPE "RequestStatus" AS ENUM ('PENDING_APPROVAL', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED');

-- CreateEnum
CREATE TYPE "StepStatus" AS ENUM ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED');

-- CreateEnum
CREATE TYPE "StepResult" AS ENUM ('CHANGED', 'UNCHANGED');

-- CreateTable
CREATE TABLE "onboarding_request" (
    "id" UUID NOT NULL,
    "kind" "RequestKind" NOT NULL,
    "cluster" TEXT NOT NULL,
    "namespace" TEXT NOT NULL,
    "mesh_name" TEXT NOT NULL,
    "options" JSONB NOT NULL,
    "status" "RequestStatus" NOT NULL,
    "requested_by" TEXT NOT NULL,
    "idempotency_key" TEXT,
    "body_hash" TEXT,
    "error_code" TEXT,
    "error_message" TEXT,
    "attempt" INTEGER NOT NULL DEFAULT 1,
    "event_seq" INTEGER NOT NULL DEFAULT 0,
    "claimed_by" TEXT,
    "heartbeat_at" TIMESTAMPTZ(3),
    "cancel_requested" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "onboarding_request_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "step_run" (
    "id" UUID NOT NULL,
    "request_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "status" "StepStatus" NOT NULL DEFAULT 'PENDING',
    "result" "StepResult",
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "before" JSONB,
    "after" JSONB,
    "output" JSONB,
    "error_code" TEXT,
    "error_message" TEXT,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "duration_ms" INTEGER,

    CONSTRAINT "step_run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_event" (
    "id" BIGSERIAL NOT NULL,
    "request_id" UUID,
    "seq" INTEGER,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "cluster" TEXT,
    "namespace" TEXT,
    "target" TEXT,
    "step" TEXT,
    "data" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_event_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "onboarding_request_cluster_namespace_created_at_idx" ON "onboarding_request"("cluster", "namespace", "created_at");

-- CreateIndex
CREATE INDEX "onboarding_request_status_created_at_idx" ON "onboarding_request"("status", "created_at");

-- CreateIndex
CREATE INDEX "onboarding_request_created_at_id_idx" ON "onboarding_request"("created_at", "id");

-- CreateIndex
CREATE UNIQUE INDEX "onboarding_request_requested_by_idempotency_key_key" ON "onboarding_request"("requested_by", "idempotency_key");

-- CreateIndex
CREATE UNIQUE INDEX "step_run_request_id_position_key" ON "step_run"("request_id", "position");

-- CreateIndex
CREATE UNIQUE INDEX "step_run_request_id_name_key" ON "step_run"("request_id", "name");

-- CreateIndex
CREATE INDEX "audit_event_created_at_idx" ON "audit_event"("created_at");

-- CreateIndex
CREATE INDEX "audit_event_actor_created_at_idx" ON "audit_event"("actor", "created_at");

-- CreateIndex
CREATE INDEX "audit_event_cluster_namespace_created_at_idx" ON "audit_event"("cluster", "namespace", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "audit_event_request_id_seq_key" ON "audit_event"("request_id", "seq");

-- AddForeignKey
ALTER TABLE "step_run" ADD CONSTRAINT "step_run_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "onboarding_request"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "audit_event" ADD CONSTRAINT "audit_event_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "onboarding_request"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Not expressible in schema.prisma (kept by hand; `prisma migrate diff` does not see them):

-- At most one active request per (cluster, namespace), enforced by the database.
CREATE UNIQUE INDEX "onboarding_request_active_target_key" ON "onboarding_request"("cluster", "namespace")
    WHERE "status" IN ('PENDING_APPROVAL', 'QUEUED', 'RUNNING');

-- The audit trail is append-only: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE FUNCTION "audit_event_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER "audit_event_no_update_delete" BEFORE UPDATE OR DELETE ON "audit_event"
    FOR EACH ROW EXECUTE FUNCTION "audit_event_append_only"();

CREATE TRIGGER "audit_event_no_truncate" BEFORE TRUNCATE ON "audit_event"
    FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_append_only"();
