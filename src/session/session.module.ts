import { Global, Module } from '@nestjs/common';
import fastifyCookie from '@fastify/cookie';
import { SESSION_AUTHENTICATOR } from '../protection/session-authenticator';
import {
  acceptBackchannelLogoutForm,
  BackchannelLogout,
  BackchannelLogoutController,
} from './backchannel-logout';
import { OidcClient } from './oidc-client';
import { SessionMetrics } from './session-metrics';
import { SessionController } from './session.controller';
import { Sessions } from './sessions';

/**
 * The session mode (`AUTH_MODE=session`, RFC 10017): the BFF is the OAuth client and the browser
 * holds only a cookie. Global, so that CallerGuard finds the session authenticator.
 */
@Global()
@Module({
  controllers: [SessionController, BackchannelLogoutController],
  providers: [
    OidcClient,
    Sessions,
    SessionMetrics,
    BackchannelLogout,
    { provide: SESSION_AUTHENTICATOR, useExisting: Sessions },
  ],
  exports: [SESSION_AUTHENTICATOR],
})
export class SessionModule {}

/** What the session mode registers on Fastify, loaded with this module only. */
export { acceptBackchannelLogoutForm, fastifyCookie };
