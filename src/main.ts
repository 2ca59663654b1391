import { enableCompileCache } from 'node:module';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ShutdownState } from './health/shutdown-state';
import { ConfigValidationError, loadAppConfig, readEnvironment } from './config/app.config';

/**
 * SIGTERM/SIGINT: stop accepting connections, let in-flight requests finish (bounded by the
 * grace period), then release the upstream agent and exit 0.
 */
function closeGracefullyOnSignals(app: NestFastifyApplication, graceMs: number): void {
  const logger = new Logger('Shutdown');
  const shutdown = (signal: NodeJS.Signals) => {
    logger.log(`${signal} received: draining in-flight requests`);
    app.get(ShutdownState).draining = true;
    // Node closes idle keep-alive sockets once, when closing starts; one that finishes its
    // in-flight request afterwards would otherwise hold the close open until its idle timeout.
    setInterval(() => app.getHttpServer().closeIdleConnections(), 100).unref();
    setTimeout(() => {
      logger.warn(`requests still in flight after ${graceMs} ms: exiting anyway`);
      process.exit(1);
    }, graceMs).unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
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
  // V8's compiled code of the modules loaded from here on is kept on disk (the OS temp folder)
  // and reused by the next start: about a fifth less CPU to ready (docs/performance.md). Where
  // that folder is not writable, Node starts without it.
  enableCompileCache();
  // Only once the config is valid: a bad one exits before Nest, Fastify and pino are even loaded.
  const { createApp, listen } = await import('./app.factory.js');
  const app = await createApp(config);
  closeGracefullyOnSignals(app, config.shutdownGraceMs);
  await listen(app, config);
}

void bootstrap();
