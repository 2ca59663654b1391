import { HttpService } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { Axios } from 'axios';
import { SessionTokenService } from './session-token.service';
import { UpstreamBreaker } from './upstream-breaker';
import { UpstreamClient } from './upstream.client';

/**
 * HttpService over a bare axios instance that only the upstream client uses. axios deep-merges an
 * instance's defaults into every request's config, and `axios.create()` (HttpModule) would bring the
 * global ones: a header map per HTTP method, env, transitional options, which cost about as much
 * as the rest of axios' work per request. UpstreamClient sets the few defaults its call needs.
 * The cast: @nestjs/axios is an ES module and sees axios' ESM typings, this CommonJS build its
 * CommonJS ones; they describe the same class.
 */
const httpService = {
  provide: HttpService,
  useFactory: () =>
    new HttpService(
      new Axios({ headers: {} }) as unknown as ConstructorParameters<typeof HttpService>[0],
    ),
};

@Module({
  providers: [httpService, SessionTokenService, UpstreamBreaker, UpstreamClient],
  exports: [SessionTokenService, UpstreamBreaker, UpstreamClient],
})
export class UpstreamModule {}
