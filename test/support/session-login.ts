import { randomBytes } from 'node:crypto';
import { startDevProvider, DEMO_USER, DevProvider } from '../../scripts/dev-oidc-provider.mjs';
import { RunningBff, startBff } from './bff';
import { freePort } from './free-port';
import { LogCapture } from './log-capture';

export { DEMO_USER };
export { CookieJar, logIn, send, type Login } from '../../scripts/browser-login.mjs';
export const CLIENT_ID = 'interventions-bff';
export const CLIENT_SECRET = 'dev-client-secret-for-tests-only';
export const SESSION_KEY = randomBytes(32).toString('base64');

/** A development provider that knows the BFF at `bffUrl` as its client. */
export function startProvider(bffUrl: string, accessTokenTtlS?: number): Promise<DevProvider> {
  return startDevProvider({
    accessTokenTtlS,
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUris: [`${bffUrl}/bff/callback`],
        postLogoutRedirectUris: [`${bffUrl}/`],
      },
    ],
  });
}

/** The BFF's session-mode environment for this provider, listening at `bffUrl`. */
export function sessionEnv(issuer: string, bffUrl: string): Record<string, string> {
  return {
    AUTH_MODE: 'session',
    OIDC_ISSUER_URL: issuer,
    OIDC_CLIENT_ID: CLIENT_ID,
    OIDC_CLIENT_SECRET: CLIENT_SECRET,
    OIDC_ALLOW_INSECURE_HTTP: 'true',
    // The default and `email`, which the provider needs before it tells the user's address.
    OIDC_SCOPES: 'openid profile email offline_access',
    SESSION_KEYS: SESSION_KEY,
    PUBLIC_BASE_URL: bffUrl,
  };
}

export interface SessionBff<P extends DevProvider> {
  /** The BFF's public URL, the one its provider redirects to. */
  readonly url: string;
  readonly provider: P;
  readonly bff: RunningBff;
  /** Closes the BFF, then its provider. */
  close(): Promise<void>;
}

/**
 * One BFF in session mode relaying to `upstreamUrl`, on a port chosen first (its redirect URI must
 * be known to the provider before either starts), with a provider that knows it as its client.
 */
export async function startSessionBff<P extends DevProvider = DevProvider>(
  upstreamUrl: string,
  options: {
    env?: Record<string, string>;
    logs?: LogCapture;
    provider?: (bffUrl: string) => Promise<P>;
  } = {},
): Promise<SessionBff<P>> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const provider = (await (options.provider ?? startProvider)(url)) as P;
  const env = {
    ...sessionEnv(provider.issuer, url),
    UPSTREAM_BASE_URL: upstreamUrl,
    PORT: String(port),
    ...options.env,
  };
  const bff = await startBff(env, options.logs).catch(async (error: unknown) => {
    await provider.close();
    throw error;
  });
  return {
    url,
    provider,
    bff,
    close: async () => {
      await bff.close();
      await provider.close();
    },
  };
}
