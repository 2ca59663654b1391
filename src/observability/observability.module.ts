import { DynamicModule, Global, Inject, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { AccessLog } from './access-log';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { Tracing } from './tracing';
import { TracingShutdown } from './tracing-shutdown';

const ROOT_LOGGER = Symbol('ROOT_LOGGER');

/**
 * This app's own pino logger, for services that log outside a request (token reloads, breaker
 * state). nestjs-pino's out-of-request logger is one per process, which several apps in one test
 * process would share.
 */
export const InjectRootLogger = () => Inject(ROOT_LOGGER);

@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(logger: Logger, tracing: Tracing): DynamicModule {
    return {
      module: ObservabilityModule,
      controllers: [MetricsController],
      providers: [
        MetricsService,
        AccessLog,
        TracingShutdown,
        { provide: ROOT_LOGGER, useValue: logger },
        { provide: Tracing, useValue: tracing },
      ],
      exports: [MetricsService, AccessLog, ROOT_LOGGER, Tracing],
    };
  }
}
