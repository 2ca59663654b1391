import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { SessionTokenService } from './session-token.service';
import { UpstreamBreaker } from './upstream-breaker';
import { UpstreamClient } from './upstream.client';

@Module({
  imports: [HttpModule],
  providers: [SessionTokenService, UpstreamBreaker, UpstreamClient],
  exports: [SessionTokenService, UpstreamBreaker, UpstreamClient],
})
export class UpstreamModule {}
