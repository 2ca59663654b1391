import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ProtectionModule } from '../protection/protection.module';
import { UpstreamModule } from '../upstream/upstream.module';
import { HealthController } from './health.controller';
import { ShutdownState } from './shutdown-state';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), UpstreamModule, ProtectionModule],
  controllers: [HealthController],
  providers: [ShutdownState],
  exports: [ShutdownState],
})
export class HealthModule {}
