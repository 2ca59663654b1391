import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { UpstreamModule } from '../upstream/upstream.module';
import { ProxiedRoutes } from './proxied-routes';

/** Import it in a feature module to declare @ProxiedRoute() handlers there. */
@Module({
  imports: [DiscoveryModule, UpstreamModule, IdempotencyModule],
  providers: [ProxiedRoutes],
  exports: [UpstreamModule, IdempotencyModule, ProxiedRoutes],
})
export class ProxyModule {}
