import { DynamicModule, Global, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { AccessLog } from './access-log';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { ROOT_LOGGER } from './root-logger';
import { Tracing } from './tracing';
import { TracingShutdown } from './tracing-shutdown';

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
