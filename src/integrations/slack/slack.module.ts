// Owns the Slack integration's API side: the interactivity endpoint (approvals from Slack). Slack's
// message format for webhooks is built by the webhook dispatcher (src/webhooks) with slack-message.ts.
// ApprovalService comes from the global ApprovalsModule.
import { Module } from '@nestjs/common';
import { SlackInteractionsController } from './slack-interactions.controller.js';
import { SlackInteractionService } from './slack-interactions.service.js';

@Module({
  controllers: [SlackInteractionsController],
  providers: [SlackInteractionService],
})
export class SlackModule {}
