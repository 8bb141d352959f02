-- AlterTable
ALTER TABLE "onboarding_request" ADD COLUMN     "approval_rule" TEXT,
ADD COLUMN     "approvals_required" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "batch_id" UUID;

-- CreateTable
CREATE TABLE "approval" (
    "id" UUID NOT NULL,
    "request_id" UUID NOT NULL,
    "approver" TEXT NOT NULL,
    "decision" TEXT NOT NULL,
    "reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "approval_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "onboarding_request_batch_id_idx" ON "onboarding_request"("batch_id");

-- CreateIndex
CREATE UNIQUE INDEX "approval_request_id_approver_key" ON "approval"("request_id", "approver");

-- AddForeignKey
ALTER TABLE "approval" ADD CONSTRAINT "approval_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "onboarding_request"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
