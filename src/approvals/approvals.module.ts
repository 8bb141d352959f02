// Owns the approval decisions (ApprovalService): who may approve or reject a held request. The routes that
// call it are the requests' own (onboarding/api) and Slack's; the state change is the request lifecycle's,
// found through the onboarding module's exports.
import { Module } from '@nestjs/common';
import { ApprovalService } from './approval.service.js';

@Module({ providers: [ApprovalService], exports: [ApprovalService] })
export class ApprovalsModule {}
