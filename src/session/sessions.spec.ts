import { randomBytes } from 'node:crypto';
import { ConfigService } from '@nestjs/config';
import type { FastifyRequest } from 'fastify';
import pino from 'pino';
import { APP_CONFIG, AppConfigShape, loadAppConfig } from '../config/app.config';
import { Tracing } from '../observability/tracing';
import { MetricsService } from '../observability/metrics.service';
import { SessionRefused } from '../protection/session-authenticator';
import { SESSION_COOKIE } from './cookies';
import { OidcClient } from './oidc-client';
import { SessionMetrics } from './session-metrics';
import { Sessions } from './sessions';

const LOGIN = { iss: 'https://id.example', sub: 'ada', accessToken: 'at-secret' };

function sessions(idle: number, absolute: number): Sessions {
  const config = loadAppConfig({
    UPSTREAM_BASE_URL: 'https://upstream.example',
    UPSTREAM_SESSION_TOKEN: 'unused',
    AUTH_MODE: 'session',
    PUBLIC_BASE_URL: 'https://bff.example',
    OIDC_ISSUER_URL: 'https://id.example',
    OIDC_CLIENT_ID: 'bff',
    OIDC_CLIENT_SECRET: 'secret',
    SESSION_KEYS: randomBytes(32).toString('base64'),
    SESSION_IDLE_TIMEOUT_S: String(idle),
    SESSION_ABSOLUTE_TIMEOUT_S: String(absolute),
  });
  const configService = new ConfigService<AppConfigShape, true>({ [APP_CONFIG]: config });
  return new Sessions(
    configService,
    null,
    new SessionMetrics(new MetricsService(new Tracing(config.tracing, pino({ level: 'silent' })))),
    pino({ level: 'silent' }),
    // Never called: these logins have no refresh token.
    new OidcClient(configService, pino({ level: 'silent' })),
  );
}

/** What Fastify and @fastify/cookie make of a browser's request. */
const requestWith = (id: string | undefined, csrf = '1') =>
  ({
    headers: { 'x-csrf': csrf },
    cookies: id === undefined ? {} : { [SESSION_COOKIE]: id },
  }) as unknown as FastifyRequest;

async function refusal(promise: Promise<unknown>): Promise<[number, boolean]> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof SessionRefused)) throw new Error('expected a SessionRefused');
  return [error.getStatus(), error.attempted];
}

describe('Sessions', () => {
  let store: Sessions;
  beforeEach(() => jest.useFakeTimers({ now: new Date('2026-12-03T08:00:00Z') }));
  afterEach(() => {
    store?.onApplicationShutdown();
    jest.useRealTimers();
  });

  it('ends a session unused for the idle timeout; each use pushes it back', async () => {
    store = sessions(600, 3600);
    const id = await store.create(LOGIN);
    jest.advanceTimersByTime(500_000);
    const { record } = await store.current(requestWith(id));
    expect(record).toMatchObject(LOGIN);
    expect(store.expiresAt(record).toISOString()).toBe('2026-12-03T08:18:20.000Z');
    jest.advanceTimersByTime(599_000);
    await expect(store.authenticate(requestWith(id))).resolves.toMatchObject(LOGIN);
    jest.advanceTimersByTime(601_000);
    expect(await refusal(store.authenticate(requestWith(id)))).toEqual([401, true]);
  });

  it('ends a session at the absolute timeout however often it is used', async () => {
    store = sessions(600, 1200);
    const id = await store.create(LOGIN);
    for (let minute = 0; minute < 19; minute += 1) {
      jest.advanceTimersByTime(60_000);
      await expect(store.authenticate(requestWith(id))).resolves.toMatchObject(LOGIN);
    }
    jest.advanceTimersByTime(61_000);
    expect(await refusal(store.authenticate(requestWith(id)))).toEqual([401, true]);
  });

  it('403 without X-CSRF: 1 before anything else; 401 without a cookie, not an attempt', async () => {
    store = sessions(600, 1200);
    const id = await store.create(LOGIN);
    expect(await refusal(store.authenticate(requestWith(id, '')))).toEqual([403, false]);
    expect(await refusal(store.authenticate(requestWith(undefined)))).toEqual([401, false]);
    expect(await refusal(store.authenticate(requestWith('x'.repeat(43))))).toEqual([401, true]);
  });

  it('a login cookie opens within 10 minutes only', () => {
    store = sessions(600, 1200);
    const sealed = store.sealLogin({ state: 's', nonce: 'n', verifier: 'v' }, '/docs');
    expect(store.openLogin(sealed)).toMatchObject({ state: 's', returnTo: '/docs' });
    jest.advanceTimersByTime(600_001);
    expect(store.openLogin(sealed)).toBeUndefined();
    expect(store.openLogin(undefined)).toBeUndefined();
  });
});
