import { Global, Module } from '@nestjs/common';
import fastifyCookie from '@fastify/cookie';
import { ProtectionModule } from '../protection/protection.module';
import { SESSION_AUTHENTICATOR } from '../protection/session-authenticator';
import { acceptBackchannelLogoutForm, BackchannelLogoutModule } from './backchannel-logout';
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
  imports: [ProtectionModule],
  controllers: [SessionController],
  providers: [
    OidcClient,
    Sessions,
    SessionMetrics,
    { provide: SESSION_AUTHENTICATOR, useExisting: Sessions },
  ],
  // For the back-channel logout's module, loaded beside this one.
  exports: [SESSION_AUTHENTICATOR, OidcClient, Sessions],
})
export class SessionModule {}

/** What the session mode adds to Fastify and to the app, loaded with this module only. */
export { acceptBackchannelLogoutForm, BackchannelLogoutModule, fastifyCookie };
