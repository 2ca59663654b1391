import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { APP_CONFIG, AppConfigShape } from '../config/app.config';
import { Tracing } from './tracing';

/**
 * Exports the last spans once the HTTP server has drained (Nest runs this hook after closing it):
 * shutting the exporter down at SIGTERM would lose the spans of requests still in flight.
 */
@Injectable()
export class TracingShutdown implements OnApplicationShutdown {
  private readonly graceMs: number;

  constructor(
    private readonly tracing: Tracing,
    @Inject(ConfigService) config: ConfigService<AppConfigShape, true>,
  ) {
    this.graceMs = config.getOrThrow(APP_CONFIG, { infer: true }).shutdownGraceMs;
  }

  onApplicationShutdown(): Promise<void> {
    return this.tracing.shutdown(this.graceMs);
  }
}
