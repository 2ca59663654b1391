import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { ProblemFilter } from './common/problem.filter';
import { ValidateBodyPipe } from './common/validate-body.pipe';
import { AppConfig, appConfig } from './config/app.config';
import { InterventionsModule } from './interventions/interventions.module';

@Module({})
export class AppModule {
  /** The configuration is validated before the app is built, so a bad one never gets this far. */
  static register(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          skipProcessEnv: true,
          load: [appConfig(config)],
        }),
        InterventionsModule,
      ],
      providers: [
        { provide: APP_FILTER, useClass: ProblemFilter },
        { provide: APP_PIPE, useClass: ValidateBodyPipe },
      ],
    };
  }
}
