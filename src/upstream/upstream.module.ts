import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { SessionTokenService } from './session-token.service';
import { UpstreamClient } from './upstream.client';

@Module({
  imports: [HttpModule],
  providers: [SessionTokenService, UpstreamClient],
  exports: [SessionTokenService, UpstreamClient],
})
export class UpstreamModule {}
