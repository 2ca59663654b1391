// What a browser does to log in to the BFF in session mode, over plain fetch: a cookie jar and
// the walk through /bff/login, the development provider's login form and /bff/callback. For the
// session-mode tests and `npm run bench -- --session`; loopback only.
import { DEMO_USER } from './dev-oidc-provider.mjs';

/** Node's fetch has no cookie jar: this one keeps name=value pairs of one site, paths ignored. */
export class CookieJar {
  /** @type {Map<string, string>} */
  #cookies = new Map();

  /** @param {Response} response */
  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired) this.#cookies.delete(name);
      else this.#cookies.set(name, pair.slice(at + 1).trim());
    }
  }

  /** @param {string} name */
  get(name) {
    return this.#cookies.get(name);
  }

  /** @param {string} name @param {string} value */
  set(name, value) {
    this.#cookies.set(name, value);
  }

  get header() {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

/**
 * One request without following redirects, sending and keeping the jar's cookies.
 * @param {string | URL} url @param {CookieJar} jar @param {RequestInit} [init]
 */
export async function send(url, jar, init = {}) {
  const headers = new Headers(init.headers);
  if (jar.header !== '') headers.set('cookie', jar.header);
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(response);
  return response;
}

/**
 * A browser's login: /bff/login on the BFF, the provider's login form filled in and posted (and
 * its consent, implied for this client), then the provider's redirect back to /bff/callback.
 * @param {string} bffUrl @param {CookieJar} jar @param {string} [returnTo]
 */
export async function logIn(bffUrl, jar, returnTo = '/docs') {
  const start = await send(`${bffUrl}/bff/login?returnTo=${encodeURIComponent(returnTo)}`, jar);
  if (start.status !== 302) throw new Error(`/bff/login answered ${start.status}`);
  const providerJar = new CookieJar();
  let url = new URL(/** @type {string} */ (start.headers.get('location')));
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
