import { FSWatcher, watch } from 'node:fs';
import { dirname } from 'node:path';
import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ProblemException } from '../common/problem';
import { APP_CONFIG, AppConfigShape, readTokenFile } from '../config/app.config';
import type { Logger } from 'pino';
import { MetricsService } from '../observability/metrics.service';
import { InjectRootLogger } from '../observability/observability.module';

/** The `exp` of a JWT in ms, or undefined for a token that is not a JWT with one. */
export function jwtExpiryMs(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const { exp } = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as {
      exp?: unknown;
    };
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export interface SessionTokenStatus {
  readonly expired: boolean;
  readonly expiresAt?: string;
}

/**
 * Holds the upstream session token, the one credential that never leaves the server.
 * From a file, it follows rotations without a restart: fs.watch on the folder (Kubernetes swaps
 * secrets by replacing a symlink, which a watch on the file itself would miss) plus a periodic
 * re-read. A bad file keeps the previous token. Values are never logged.
 */
@Injectable()
export class SessionTokenService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger: Logger;
  private readonly file?: string;
  private readonly warnMs: number;
  private readonly pollMs: number;
  private token = '';
  private expiresAtMs?: number;
  private warned = false;
  private watcher?: FSWatcher;
  private poller?: NodeJS.Timeout;

  constructor(
    @Inject(ConfigService) config: ConfigService<AppConfigShape, true>,
    private readonly metrics: MetricsService,
    @InjectRootLogger() rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ context: 'SessionToken' });
    const app = config.getOrThrow(APP_CONFIG, { infer: true });
    const source = app.upstream.sessionToken;
    this.warnMs = app.sessionToken.expiryWarnSeconds * 1000;
    this.pollMs = app.sessionToken.pollMs;
    if ('file' in source) this.file = source.file;
    this.use('file' in source ? readTokenFile(source.file) : source.value);
  }

  onModuleInit(): void {
    if (this.file === undefined) return;
    try {
      this.watcher = watch(dirname(this.file), () => this.reload());
      this.watcher.on('error', () => undefined); // the poll below still covers it
    } catch {
      this.logger.warn('cannot watch the session token folder; relying on the periodic re-read');
    }
    this.poller = setInterval(() => this.reload(), this.pollMs).unref();
  }

  onApplicationShutdown(): void {
    this.watcher?.close();
    clearInterval(this.poller);
  }

  /** The token for the next upstream call; a 503 once it has expired, rather than a doomed call. */
  current(): string {
    if (this.expiresAtMs !== undefined && Date.now() >= this.expiresAtMs) {
      throw new ProblemException('upstream-unavailable', 'upstream session token expired');
    }
    return this.token;
  }

  status(): SessionTokenStatus {
    this.warnIfExpiringSoon();
    if (this.expiresAtMs === undefined) return { expired: false };
    return {
      expired: Date.now() >= this.expiresAtMs,
      expiresAt: new Date(this.expiresAtMs).toISOString(),
    };
  }

  reload(): void {
    if (this.file === undefined) return;
    let next: string;
    try {
      next = readTokenFile(this.file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      this.logger.error(`cannot read the session token file (${code}); keeping the previous token`);
      return;
    }
    if (next === '') {
      this.logger.error('the session token file is empty; keeping the previous token');
      return;
    }
    if (next === this.token) return;
    this.use(next);
    this.logger.info('upstream session token reloaded');
  }

  private use(token: string): void {
    this.token = token;
    this.expiresAtMs = jwtExpiryMs(token);
    this.warned = false;
    this.metrics.setTokenExpiry(
      this.expiresAtMs === undefined ? undefined : this.expiresAtMs / 1000,
    );
    this.warnIfExpiringSoon();
  }

  private warnIfExpiringSoon(): void {
    if (this.warned || this.expiresAtMs === undefined) return;
    const left = this.expiresAtMs - Date.now();
    if (left > this.warnMs) return;
    this.warned = true;
    this.logger.warn(
      left <= 0
        ? 'the upstream session token has expired: rotate it'
        : `the upstream session token expires in ${Math.round(left / 1000)} s: rotate it`,
    );
  }
}
