// The audit trail's one provider: every module that records an event injects this AuditRepository.
import { Global, Module } from '@nestjs/common';
import { AuditRepository } from './audit.repository.js';

@Global()
@Module({ providers: [AuditRepository], exports: [AuditRepository] })
export class AuditModule {}
