import { createApp } from './app.factory';
import { ConfigValidationError, loadAppConfig, readEnvironment } from './config/app.config';

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
  await app.listen({ port: config.port, host: config.host });
}

void bootstrap();
