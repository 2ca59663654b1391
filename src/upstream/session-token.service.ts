import { hash } from 'node:crypto';
import { FSWatcher, watch } from 'node:fs';
import { dirname } from 'node:path';
import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ProblemException } from '../common/problem';
import { APP_CONFIG, AppConfigShape } from '../config/app.config';
import { readTokenFile, sessionTokenProblem } from '../config/session-token';
import type { Logger } from 'pino';
import { MetricsService } from '../observability/metrics.service';
import { InjectRootLogger } from '../observability/root-logger';
import { echoFormsOf } from './token-echo';

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
  /** Why the token file was last refused, while it still is: the previous token stays in use. */
  readonly reloadFailure?: { readonly reason: string; readonly since: string };
}

/**
 * Holds the upstream session token, the one credential that never leaves the server.
 * From a file, it follows rotations without a restart: fs.watch on the folder (Kubernetes swaps
 * secrets by replacing a symlink, which a watch on the file itself would miss) plus a periodic
 * re-read. A bad file (unreadable, empty, not a header value, too long) keeps the previous token.
 * Values are never logged.
 */
@Injectable()
export class SessionTokenService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger: Logger;
  private readonly file?: string;
  private readonly warnMs: number;
  private readonly pollMs: number;
  private token = '';
  /**
   * What an answer echoing the token, or the one before the last rotation (a call sent before it
   * may be answered after), would show once decoded: see echoFormsOf. Recomputed on each rotation.
   */
  echoForms: readonly string[] = [];
  private expiresAtMs?: number;
  private reloadFailure?: SessionTokenStatus['reloadFailure'];
  /** The refused file, so that each bad rotation is reported once. */
  private refused?: string;
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
    const failure = this.reloadFailure && { reloadFailure: this.reloadFailure };
    if (this.expiresAtMs === undefined) return { expired: false, ...failure };
    return {
      expired: Date.now() >= this.expiresAtMs,
      expiresAt: new Date(this.expiresAtMs).toISOString(),
      ...failure,
    };
  }

  reload(): void {
    if (this.file === undefined) return;
    let next: string;
    try {
      next = readTokenFile(this.file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      return this.refuse(`cannot be read (${code})`);
    }
    const problem = next === this.token ? undefined : sessionTokenProblem(next);
    if (problem !== undefined) return this.refuse(problem, hash('sha256', next));
    this.reloadFailure = this.refused = undefined;
    if (next === this.token) return;
    this.use(next);
    this.logger.info('upstream session token reloaded');
  }

  /**
   * Keeps the token in use. Logged and counted once per bad file, not on each of the several
   * fs.watch events and polls that see the same one.
   */
  private refuse(reason: string, contentHash = ''): void {
    if (this.refused === reason + contentHash) return;
    this.refused = reason + contentHash;
    this.reloadFailure = { reason, since: new Date().toISOString() };
    this.metrics.countTokenReloadFailure();
    this.logger.error(`the session token file ${reason}; keeping the previous token`);
  }

  private use(token: string): void {
    this.echoForms = echoFormsOf([token, this.token]);
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
