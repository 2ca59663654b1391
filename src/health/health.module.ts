import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ProtectionModule } from '../protection/protection.module';
import { UpstreamModule } from '../upstream/upstream.module';
import { HealthController } from './health.controller';
import { ShutdownState } from './shutdown-state';
import { RedisDurability } from '../redis/redis-durability';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), UpstreamModule, ProtectionModule],
  controllers: [HealthController],
  providers: [ShutdownState, RedisDurability],
  exports: [ShutdownState],
})
export class HealthModule {}
