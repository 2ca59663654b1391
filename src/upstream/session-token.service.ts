import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { APP_CONFIG, AppConfigShape, readTokenFile } from '../config/app.config';

/** Holds the upstream session token, the one credential that never leaves the server. */
@Injectable()
export class SessionTokenService {
  private token: string;

  constructor(@Inject(ConfigService) config: ConfigService<AppConfigShape, true>) {
    const source = config.getOrThrow(APP_CONFIG, { infer: true }).upstream.sessionToken;
    this.token = 'file' in source ? readTokenFile(source.file) : source.value;
  }

  current(): string {
    return this.token;
  }
}
