import { DynamicModule, Module, Type } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import type { Logger } from 'pino';
import { ProblemFilter } from './common/problem.filter';
import { ValidateBodyPipe } from './common/validate-body.pipe';
import { AppConfig, appConfig } from './config/app.config';
import { HealthModule } from './health/health.module';
import { InterventionsModule } from './interventions/interventions.module';
import { ObservabilityModule } from './observability/observability.module';
import { Tracing } from './observability/tracing';
import { RedisModule } from './redis/redis.module';

@Module({})
export class AppModule {
  /** The configuration is validated before the app is built, so a bad one never gets this far. */
  static register(
    config: AppConfig,
    logger: Logger,
    tracing: Tracing,
    modules: readonly Type[] = [],
  ): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          skipProcessEnv: true,
          load: [appConfig(config)],
        }),
        // Nest's own logs go through pino. Code inside a request logs with Fastify's request.log
        // (it carries the request id), so nestjs-pino's per-request middleware is not mounted:
        // nothing in a request logs through Nest's Logger. Node 24 runs its AsyncLocalStorage on
        // AsyncContextFrame (no hook on every promise, which was the cost on Node 20), but the
        // middleware would still add a pass through Fastify's middleware layer to every request.
        LoggerModule.forRoot({ useExisting: true, pinoHttp: { logger }, forRoutes: [] }),
        RedisModule,
        ObservabilityModule.forRoot(logger, tracing),
        HealthModule,
        InterventionsModule,
        ...modules,
      ],
      providers: [
        { provide: APP_FILTER, useClass: ProblemFilter },
        { provide: APP_PIPE, useClass: ValidateBodyPipe },
      ],
    };
  }
}
