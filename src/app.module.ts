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
import { RedisModule } from './redis/redis.module';

@Module({})
export class AppModule {
  /** The configuration is validated before the app is built, so a bad one never gets this far. */
  static register(config: AppConfig, logger: Logger, modules: readonly Type[] = []): DynamicModule {
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
        // (it carries the request id), so nestjs-pino's per-request middleware and its
        // AsyncLocalStorage (a hook on every promise on Node 20) are not mounted.
        LoggerModule.forRoot({ useExisting: true, pinoHttp: { logger }, forRoutes: [] }),
        RedisModule,
        ObservabilityModule.forRoot(logger),
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
