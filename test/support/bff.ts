import type { Type } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp, listen } from '../../src/app.factory';
import { loadAppConfig } from '../../src/config/app.config';
import type { LogCapture } from './log-capture';

export const SESSION_TOKEN = 'server-side-session-token';
export const CALLER_TOKEN = 'caller-bearer-token';
export const ROUTE = '/interventions/v2/rs/preventive/routine';
export const VALID_BODY = {
  scheduledStart: '2024-12-01T12:34:56.000Z',
  scheduledEnd: '2024-12-05T14:56:23.000Z',
  creationStatus: 1,
  routineId: 1,
} as const;

export interface RunningBff {
  readonly app: NestFastifyApplication;
  readonly url: string;
  /** Where /health/* and /metrics are, when MANAGEMENT_PORT is set. */
  readonly managementUrl?: string;
  close(): Promise<void>;
}

/** Runs `run` against a BFF started with `env` (see startBff), closed afterwards whatever happens. */
export async function withStartedBff<T>(
  env: Record<string, string>,
  run: (bff: RunningBff) => Promise<T>,
  logs?: LogCapture,
): Promise<T> {
  const bff = await startBff(env, logs);
  try {
    return await run(bff);
  } finally {
    await bff.close();
  }
}

/** The whole app, built by the production factory and listening on a free loopback port. */
export async function startBff(
  env: Record<string, string>,
  logs?: LogCapture,
  modules: readonly Type[] = [],
): Promise<RunningBff> {
  const config = loadAppConfig({
    RATE_LIMIT_PER_MINUTE: '0',
    ...(env.UPSTREAM_SESSION_TOKEN_FILE === undefined && { UPSTREAM_SESSION_TOKEN: SESSION_TOKEN }),
    NODE_ENV: 'test',
    LOG_LEVEL: logs ? 'info' : 'silent',
    ...env,
  });
  const app = await createApp(config, { logDestination: logs, modules });
  const host = '127.0.0.1';
  // Any free port, unless the test must know it beforehand (for PUBLIC_BASE_URL).
  const { managementPort } = await listen(app, { ...config, port: Number(env.PORT ?? 0), host });
  return {
    app,
    url: await app.getUrl().then((u) => u.replace('[::1]', '127.0.0.1')),
    managementUrl: managementPort === undefined ? undefined : `http://${host}:${managementPort}`,
    close: () => app.close(),
  };
}
