// Owns the Slack integration's API side: the interactivity endpoint (approvals from Slack). Slack's
// message format for webhooks is built by the webhook dispatcher (src/webhooks) with slack-message.ts.
import { Module } from '@nestjs/common';
import { ApprovalsModule } from '../../approvals/approvals.module.js';
import { SlackInteractionsController } from './slack-interactions.controller.js';
import { SlackInteractionService } from './slack-interactions.service.js';

@Module({
  imports: [ApprovalsModule],
  controllers: [SlackInteractionsController],
  providers: [SlackInteractionService],
})
export class SlackModule {}
