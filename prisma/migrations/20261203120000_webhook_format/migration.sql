-- A webhook subscription's payload format: `json` (our event document, the default and what every
-- existing subscription keeps) or `slack` (a Slack incoming-webhook message, src/integrations/slack).
-- Written by hand as `prisma migrate dev` would generate it (the schema engine cannot run here).

-- CreateEnum
CREATE TYPE "WebhookFormat" AS ENUM ('json', 'slack');

-- AlterTable
ALTER TABLE "webhook_subscription" ADD COLUMN "format" "WebhookFormat" NOT NULL DEFAULT 'json';
