export declare const DEMO_USER: Readonly<{
  login: string;
  password: string;
  sub: string;
  name: string;
  email: string;
}>;

export interface DevClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUris: readonly string[];
  readonly postLogoutRedirectUris?: readonly string[];
  /** Where the provider posts its logout tokens (OpenID Connect Back-Channel Logout 1.0). */
  readonly backchannelLogoutUri?: string;
}

export interface DevProvider {
  readonly issuer: string;
  /** The oidc-provider instance: tests listen to its events and slow its endpoints down. */
  readonly provider: {
    on(event: string, listener: (...args: unknown[]) => void): unknown;
    /** A Koa middleware run before the provider's own. */
    use(middleware: (ctx: { path: string }, next: () => Promise<void>) => Promise<void>): unknown;
  };
  close(): Promise<void>;
  /** Stops listening (the provider cannot be reached) and keeps its state... */
  pause(): Promise<void>;
  /** ...until it listens again at the same address. */
  resume(): Promise<void>;
}

export declare function startDevProvider(options: {
  port?: number;
  clients: readonly DevClient[];
  accessTokenTtlS?: number;
}): Promise<DevProvider>;
