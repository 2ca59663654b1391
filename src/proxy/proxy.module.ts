import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { ProtectionModule } from '../protection/protection.module';
import { UpstreamModule } from '../upstream/upstream.module';
import { ProxiedRoutes } from './proxied-routes';

/** Import it in a feature module to declare @ProxiedRoute() handlers there. */
@Module({
  imports: [DiscoveryModule, UpstreamModule, IdempotencyModule, ProtectionModule],
  providers: [ProxiedRoutes],
  exports: [UpstreamModule, IdempotencyModule, ProtectionModule, ProxiedRoutes],
})
export class ProxyModule {}
