/** Node's fetch has no cookie jar: this one keeps name=value pairs of one site, paths ignored. */
export declare class CookieJar {
  store(response: Response): void;
  get(name: string): string | undefined;
  set(name: string, value: string): void;
  /** The Cookie header this jar sends. */
  readonly header: string;
}

/** One request without following redirects, sending and keeping the jar's cookies. */
export declare function send(
  url: string | URL,
  jar: CookieJar,
  init?: RequestInit,
): Promise<Response>;

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
export declare function logIn(bffUrl: string, jar: CookieJar, returnTo?: string): Promise<Login>;
