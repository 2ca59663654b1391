import { Module } from '@nestjs/common';
import { ProxyModule } from '../proxy/proxy.module';
import { InterventionsController } from './interventions.controller';

@Module({
  imports: [ProxyModule],
  controllers: [InterventionsController],
})
export class InterventionsModule {}
