import { Global, Module } from '@nestjs/common';
import { AccessLog } from './access-log';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

@Global()
@Module({
  controllers: [MetricsController],
  providers: [MetricsService, AccessLog],
  exports: [MetricsService, AccessLog],
})
export class ObservabilityModule {}
