import { randomUUID } from 'node:crypto';
import { startDevProvider, type DevProvider } from '../../scripts/dev-oidc-provider.mjs';
import { CLIENT_ID, CLIENT_SECRET, DEMO_USER } from './session-login';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** The parts of oidc-provider that make its logout tokens: its ID token model and its clients. */
interface OidcProvider {
  Client: {
    find(id: string): Promise<{ backchannelLogout(sub: string, sid: string): Promise<void> }>;
  };
  IdToken: new (
    claims: { sub: string },
    options: { client: object; ctx: undefined },
  ) => {
    mask: unknown;
    set(claim: string, value: unknown): void;
    issue(options: { use: 'logout' }): Promise<string>;
  };
}

export interface LogoutProvider extends DevProvider {
  /** The provider's session id (`sid`) of each login, in order, as its authorization codes carry it. */
  readonly sids: string[];
  /**
   * A logout token made and signed by the provider as its own back-channel logout makes them
   * (oidc-provider's Client#backchannelLogout), for `clientId`; `events: false` leaves the event
   * out, `nonce` adds one.
   */
  logoutToken(
    claims?: { sid?: string; nonce?: string; events?: boolean },
    clientId?: string,
  ): Promise<string>;
  /**
   * The provider's own back-channel logout of `sid` (what its end-session endpoint runs): it
   * makes the token and posts it to the BFF; rejects unless the BFF answers 200.
   */
  logOutAtProvider(sid: string): Promise<void>;
}

/** A development provider that knows the BFF at `bffUrl` with its back-channel logout URI. */
export async function startLogoutProvider(
  bffUrl: string,
  others: { clientId: string; clientSecret: string; redirectUris: string[] }[] = [],
): Promise<LogoutProvider> {
  const dev = await startDevProvider({
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUris: [`${bffUrl}/bff/callback`],
        postLogoutRedirectUris: [`${bffUrl}/`],
        backchannelLogoutUri: `${bffUrl}/bff/backchannel-logout`,
      },
      ...others,
    ],
  });
  const sids: string[] = [];
  dev.provider.on('authorization_code.saved', (code) => sids.push((code as { sid: string }).sid));
  const provider = dev.provider as unknown as OidcProvider;
  return {
    ...dev,
    sids,
    async logoutToken(claims = {}, clientId = CLIENT_ID) {
      const client = await provider.Client.find(clientId);
      const token = new provider.IdToken({ sub: DEMO_USER.sub }, { client, ctx: undefined });
      token.mask = { sub: null };
      if (claims.events !== false) token.set('events', { [BACKCHANNEL_LOGOUT_EVENT]: {} });
      token.set('jti', randomUUID());
      if (claims.sid !== undefined) token.set('sid', claims.sid);
      if (claims.nonce !== undefined) token.set('nonce', claims.nonce);
      return token.issue({ use: 'logout' });
    },
    async logOutAtProvider(sid) {
      await (await provider.Client.find(CLIENT_ID)).backchannelLogout(DEMO_USER.sub, sid);
    },
  };
}

/** What the provider does with a logout token: a form POST to the BFF's back-channel URI. */
export const postLogout = (bffUrl: string, token: string) =>
  fetch(`${bffUrl}/bff/backchannel-logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: token }),
  });
