import { randomBytes } from 'node:crypto';
import { startDevProvider, DEMO_USER, DevProvider } from '../../scripts/dev-oidc-provider.mjs';
import { RunningBff, startBff } from './bff';
import { freePort } from './free-port';
import { LogCapture } from './log-capture';

export { DEMO_USER };
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

/** Node's fetch has no cookie jar: this one keeps name=value pairs of one site, paths ignored. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(at + 1).trim());
    }
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  set(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  get header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

/** One request without following redirects, sending and keeping the jar's cookies. */
export async function send(url: string | URL, jar: CookieJar, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  if (jar.header !== '') headers.set('cookie', jar.header);
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(response);
  return response;
}

export interface Login {
  /** The BFF's answer to /bff/login. */
  readonly start: Response;
  /** The BFF's answer to /bff/callback. */
  readonly callback: Response;
}

/**
 * A browser's login: /bff/login on the BFF, the provider's login form filled in and posted (and
 * its consent, implied for this client), then the provider's redirect back to /bff/callback.
 */
export async function logIn(bffUrl: string, jar: CookieJar, returnTo = '/docs'): Promise<Login> {
  const start = await send(`${bffUrl}/bff/login?returnTo=${encodeURIComponent(returnTo)}`, jar);
  if (start.status !== 302) throw new Error(`/bff/login answered ${start.status}`);
  const providerJar = new CookieJar();
  let url = new URL(start.headers.get('location') as string);
  for (let step = 0; step < 10; step += 1) {
    if (url.href.startsWith(`${bffUrl}/bff/callback`)) {
      return { start, callback: await send(url, jar) };
    }
    let answer = await send(url, providerJar);
    if (answer.status === 200) {
      const page = await answer.text();
      const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1];
      if (action === undefined) throw new Error(`no login form at ${url.href}`);
      answer = await send(new URL(action, url), providerJar, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ login: DEMO_USER.login, password: DEMO_USER.password }),
      });
    }
    const location = answer.headers.get('location');
    if (location === null) throw new Error(`the provider answered ${answer.status} at ${url.href}`);
    url = new URL(location, url);
  }
  throw new Error('too many redirects during the login');
}
