import { Module } from '@nestjs/common';
import { UpstreamModule } from '../upstream/upstream.module';
import { InterventionsController } from './interventions.controller';
import { InterventionsService } from './interventions.service';

@Module({
  imports: [UpstreamModule],
  controllers: [InterventionsController],
  providers: [InterventionsService],
})
export class InterventionsModule {}
