-- CreateTable
CREATE TABLE "batch" (
    "id" UUID NOT NULL,
    "kind" "RequestKind" NOT NULL,
    "requested_by" TEXT NOT NULL,
    "size" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "batch_pkey" PRIMARY KEY ("id")
);
