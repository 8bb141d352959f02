-- A batch's Idempotency-Key (POST /v1/batches, GraphQL requestBatch(idempotencyKey:)) and the hash of the body it
-- was sent with, as a request has them: the same caller sending the same key again gets that batch back (with
-- another body: IDEMPOTENCY_KEY_REUSED). Existing batches have none.
-- Written by hand as `prisma migrate dev` would generate it (the schema engine cannot run here).

-- AlterTable
ALTER TABLE "batch" ADD COLUMN "idempotency_key" TEXT,
ADD COLUMN "body_hash" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "batch_requested_by_idempotency_key_key" ON "batch"("requested_by", "idempotency_key");
