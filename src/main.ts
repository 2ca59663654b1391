import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from './app.factory';
import { ConfigValidationError, loadAppConfig, readEnvironment } from './config/app.config';

/**
 * SIGTERM/SIGINT: stop accepting connections, let in-flight requests finish (bounded by the
 * grace period), then release the upstream agent and exit 0.
 */
function closeGracefullyOnSignals(app: NestFastifyApplication, graceMs: number): void {
  const logger = new Logger('Shutdown');
  const shutdown = (signal: NodeJS.Signals) => {
    logger.log(`${signal} received: draining in-flight requests`);
    setTimeout(() => {
      logger.warn(`requests still in flight after ${graceMs} ms: exiting anyway`);
      process.exit(1);
    }, graceMs).unref();
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

async function bootstrap(): Promise<void> {
  let config;
  try {
    config = loadAppConfig(readEnvironment());
  } catch (error) {
    if (!(error instanceof ConfigValidationError)) throw error;
    for (const problem of error.problems) console.error(`Invalid configuration: ${problem}`);
    process.exit(1);
  }
  const app = await createApp(config);
  closeGracefullyOnSignals(app, config.shutdownGraceMs);
  await app.listen({ port: config.port, host: config.host });
}

void bootstrap();
