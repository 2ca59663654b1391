import { Module } from '@nestjs/common';
import { ProxyModule } from '../../../src/proxy/proxy.module';
import { RescheduleController } from './reschedule.controller';

@Module({ imports: [ProxyModule], controllers: [RescheduleController] })
export class RescheduleModule {}
