import { isIP } from 'node:net';
import type { AppConfig, SessionConfig } from './app.config';
import type { EnvironmentVariables } from './environment';
import { readTokenFile, sessionTokenProblem } from './session-token';

/*
 * The rules that relate variables to each other (one source of the token, JWT verification's
 * three variables, the session mode's set...) and the values derived from several of them. Each
 * returns problems that name variables, never a value.
 */

export function tokenSourceProblems(env: EnvironmentVariables): string[] {
  const { UPSTREAM_SESSION_TOKEN: value, UPSTREAM_SESSION_TOKEN_FILE: file } = env;
  if (value !== undefined && file !== undefined) {
    return ['set only one of UPSTREAM_SESSION_TOKEN and UPSTREAM_SESSION_TOKEN_FILE, not both'];
  }
  if (value === undefined && file === undefined) {
    return ['UPSTREAM_SESSION_TOKEN or UPSTREAM_SESSION_TOKEN_FILE is required'];
  }
  if (file === undefined) {
    const problem = sessionTokenProblem(value as string);
    return problem ? [`UPSTREAM_SESSION_TOKEN ${problem}`] : [];
  }
  try {
    const problem = sessionTokenProblem(readTokenFile(file));
    return problem ? [`UPSTREAM_SESSION_TOKEN_FILE (${file}) ${problem}`] : [];
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return [`UPSTREAM_SESSION_TOKEN_FILE (${file}) cannot be read: ${code}`];
  }
}

export function tracesUrl(env: EnvironmentVariables): string | undefined {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return base === undefined ? undefined : `${base.replace(/\/+$/, '')}/v1/traces`;
}

export function trustProxyOf(value: string | undefined): AppConfig['trustProxy'] {
  if (value === undefined) return false;
  return /^[0-9]+$/.test(value) ? Number(value) : value.split(',').map((entry) => entry.trim());
}

export function trustProxyProblems({ TRUST_PROXY: value }: EnvironmentVariables): string[] {
  const trusted = trustProxyOf(value);
  if (trusted === false) return [];
  if (!Array.isArray(trusted)) {
    return trusted >= 1 && trusted <= 99 ? [] : ['TRUST_PROXY hops must be between 1 and 99'];
  }
  const invalid = trusted.filter((entry) => {
    const [address, bits, extra] = entry.split('/');
    const version = isIP(address);
    const max = version === 4 ? 32 : 128;
    return (
      version === 0 ||
      extra !== undefined ||
      (bits !== undefined && !(/^[0-9]{1,3}$/.test(bits) && Number(bits) <= max))
    );
  });
  return invalid.length === 0
    ? []
    : [`TRUST_PROXY has entries that are not an address or a CIDR: ${invalid.join(', ')}`];
}

/** Whether a URL's host is this machine: what travels to it never leaves the loopback interface. */
function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

export function upstreamProblems(env: EnvironmentVariables): string[] {
  const url = URL.parse(env.UPSTREAM_BASE_URL);
  // Another scheme is already refused by the URL check.
  return url?.protocol !== 'http:' ||
    isLoopbackHost(url.hostname) ||
    env.UPSTREAM_ALLOW_INSECURE_HTTP
    ? []
    : [
        'UPSTREAM_BASE_URL must be an https:// URL: the session token would travel in clear ' +
          '(http:// only on the loopback interface, or with UPSTREAM_ALLOW_INSECURE_HTTP=true)',
      ];
}

export function warningsOf(env: EnvironmentVariables): string[] {
  const warnings: string[] = [];
  if (typeof trustProxyOf(env.TRUST_PROXY) === 'number') {
    warnings.push(
      'TRUST_PROXY is a hop count: any client that reaches this service without the proxy can ' +
        'name any address in X-Forwarded-For and escape every per-address budget; list the ' +
        "proxies' addresses or CIDRs instead",
    );
  }
  const upstream = new URL(env.UPSTREAM_BASE_URL);
  if (upstream.protocol === 'http:' && !isLoopbackHost(upstream.hostname)) {
    warnings.push(
      'UPSTREAM_ALLOW_INSECURE_HTTP=true: the upstream session token travels in clear over http://',
    );
  }
  return warnings;
}

export function jwtProblems(env: EnvironmentVariables): string[] {
  const set = [env.AUTH_JWKS_URL, env.AUTH_ISSUER, env.AUTH_AUDIENCE].filter(
    (v) => v !== undefined,
  );
  if (set.length === 0) return [];
  if (set.length < 3) {
    return ['set all three of AUTH_JWKS_URL, AUTH_ISSUER and AUTH_AUDIENCE, or none of them'];
  }
  const url = URL.parse(env.AUTH_JWKS_URL as string);
  // Keys fetched over plain http could be swapped on the way: anyone could then sign tokens.
  return url === null || url.protocol === 'https:' || isLoopbackHost(url.hostname)
    ? []
    : ['AUTH_JWKS_URL must be an https:// URL (http:// only on the loopback interface)'];
}

/** One of a value and a file holding it: the value, or a problem naming the variables. */
function secretOf(
  name: string,
  value: string | undefined,
  file: string | undefined,
): { secret?: string; problem?: string } {
  if (value !== undefined && file !== undefined) {
    return { problem: `set only one of ${name} and ${name}_FILE, not both` };
  }
  if (value !== undefined) return { secret: value };
  if (file === undefined) return { problem: `${name} or ${name}_FILE is required` };
  try {
    const secret = readTokenFile(file);
    return secret === '' ? { problem: `${name}_FILE (${file}) is empty` } : { secret };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return { problem: `${name}_FILE (${file}) cannot be read: ${code}` };
  }
}

const BASE64_32_BYTES = /^[A-Za-z0-9+/]{43}=$/;

/** The session configuration, or the problems that prevent it; never quotes a secret or a key. */
export function sessionOf(
  env: EnvironmentVariables,
  publicBaseUrl: string | undefined,
): { session?: SessionConfig; problems: string[] } {
  if (env.AUTH_MODE !== 'session') return { problems: [] };
  const problems: string[] = [];
  // The provider redirects the browser back to an absolute address: no relative default here.
  if (publicBaseUrl === undefined)
    problems.push('PUBLIC_BASE_URL is required in session mode (the redirect URI is built on it)');
  if (env.OIDC_ISSUER_URL === undefined)
    problems.push('OIDC_ISSUER_URL is required in session mode');
  else if (!env.OIDC_ISSUER_URL.startsWith('https://') && !env.OIDC_ALLOW_INSECURE_HTTP) {
    problems.push('OIDC_ISSUER_URL must be https:// (http:// needs OIDC_ALLOW_INSECURE_HTTP=true)');
  }
  if (env.OIDC_CLIENT_ID === undefined) problems.push('OIDC_CLIENT_ID is required in session mode');
  const secret = secretOf(
    'OIDC_CLIENT_SECRET',
    env.OIDC_CLIENT_SECRET,
    env.OIDC_CLIENT_SECRET_FILE,
  );
  const keys = secretOf('SESSION_KEYS', env.SESSION_KEYS, env.SESSION_KEYS_FILE);
  if (secret.problem) problems.push(secret.problem);
  if (keys.problem) problems.push(keys.problem);
  const keyTexts = keys.secret?.split(',').map((key) => key.trim()) ?? [];
  const badKeys = keyTexts.filter((key) => !BASE64_32_BYTES.test(key)).length;
  if (badKeys > 0) {
    const name = env.SESSION_KEYS_FILE === undefined ? 'SESSION_KEYS' : 'SESSION_KEYS_FILE';
    problems.push(`${name}: ${badKeys} of ${keyTexts.length} keys are not base64 of 32 bytes`);
  }
  if (env.SESSION_IDLE_TIMEOUT_S > env.SESSION_ABSOLUTE_TIMEOUT_S) {
    problems.push('SESSION_IDLE_TIMEOUT_S must not exceed SESSION_ABSOLUTE_TIMEOUT_S');
  }
  if (env.AUTH_JWKS_URL !== undefined) {
    problems.push(
      'AUTH_JWKS_URL (bearer-mode JWT verification) does not apply with AUTH_MODE=session',
    );
  }
  if (problems.length > 0) return { problems };
  return {
    problems,
    session: {
      issuerUrl: env.OIDC_ISSUER_URL as string,
      clientId: env.OIDC_CLIENT_ID as string,
      clientSecret: secret.secret as string,
      scopes: env.OIDC_SCOPES,
      allowInsecureHttp: env.OIDC_ALLOW_INSECURE_HTTP,
      redirectUri: `${publicBaseUrl}/bff/callback`,
      postLogoutRedirectUri: `${publicBaseUrl}/`,
      keys: keyTexts.map((key) => Buffer.from(key, 'base64')),
      idleTimeoutSeconds: env.SESSION_IDLE_TIMEOUT_S,
      absoluteTimeoutSeconds: env.SESSION_ABSOLUTE_TIMEOUT_S,
      refreshBeforeSeconds: env.SESSION_REFRESH_BEFORE_S,
    },
  };
}
