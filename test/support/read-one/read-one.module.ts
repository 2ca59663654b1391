import { Module } from '@nestjs/common';
import { ProxyModule } from '../../../src/proxy/proxy.module';
import { ReadOneController } from './read-one.controller';

@Module({ imports: [ProxyModule], controllers: [ReadOneController] })
export class ReadOneModule {}
