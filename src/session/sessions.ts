import { hash, randomBytes } from 'node:crypto';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { FastifyRequest } from 'fastify';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { ProblemException } from '../common/problem';
import { APP_CONFIG, AppConfigShape, SessionConfig } from '../config/app.config';
import { SessionAuthenticator, SessionRefused } from '../protection/session-authenticator';
import { InjectRootLogger } from '../observability/root-logger';
import { InjectRedis } from '../redis/redis.module';
import { CSRF_HEADER, LOGIN_TTL_S, SESSION_COOKIE } from './cookies';
import { LoginChecks, LoginResult, OidcClient, RefreshRefused } from './oidc-client';
import { ProcessRefreshLock, RedisRefreshLock, REFRESH_LOCK_MS, RefreshLock } from './refresh-lock';
import { SessionCipher } from './session-cipher';
import { SessionEndReason, SessionMetrics } from './session-metrics';
import { indexNames, MemorySessionIndex, RedisSessionIndex, SessionIndex } from './session-index';
import { MemorySessionStore, RedisSessionStore, SessionStore } from './session.store';

/** One session as stored (sealed): the login's tokens and identity, and its two deadlines (epoch ms). */
export interface SessionRecord extends LoginResult {
  readonly absoluteExpiresAt: number;
  readonly idleExpiresAt: number;
}

/** The login cookie's content: the checks, where to go after, and until when it is good. */
export interface LoginState extends LoginChecks {
  readonly returnTo: string;
  readonly expiresAt: number;
}

/** 256 random bits: a session id cannot be guessed. */
const SESSION_ID_BYTES = 32;
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
const LOGIN_CONTEXT = 'bff-login';
const STORE_KEY_PREFIX = 'bff:session:';
const REFRESH_LOCK_PREFIX = 'bff:session-refresh:';
/** How often a replica waiting for another's refresh reads the stored session again. */
const REFRESH_POLL_MS = 50;

const storeUnavailable = () =>
  new ProblemException('auth-unavailable', 'The session store cannot be reached; retry later.', {
    headers: { 'Retry-After': '5' },
  });

const sessionEnded = () =>
  new SessionRefused(
    'session-ended',
    'The identity provider refused to renew this session, which has ended: log in again at /bff/login.',
    false,
  );

const refreshTimedOut = () =>
  new ProblemException('auth-unavailable', "The session's tokens are being renewed; retry.", {
    headers: { 'Retry-After': '1' },
  });

const noSession = (attempted: boolean) =>
  new SessionRefused(
    'unauthorized',
    attempted
      ? 'The session has ended or is not valid: log in again at /bff/login.'
      : 'A session is required: log in at /bff/login.',
    attempted,
  );

/**
 * The BFF's sessions: created at login, found by the `__Host-bff-session` cookie, sealed with
 * AES-256-GCM under SESSION_KEYS (the record's store key is its context, so records cannot be
 * swapped), kept in Redis when REDIS_URL is set and in this process otherwise. A session ends at
 * its idle deadline (sliding) or its absolute one, whichever comes first.
 */
@Injectable()
export class Sessions implements SessionAuthenticator, OnApplicationShutdown {
  private readonly settings: SessionConfig;
  private readonly cipher: SessionCipher;
  private readonly store: SessionStore;
  private readonly index: SessionIndex;
  private readonly logger: Logger;
  /** The idle deadline is pushed back (a store write) at most this often per session. */
  private readonly touchAfterMs: number;
  private readonly refreshLock: RefreshLock;
  /** This process's refresh in flight per session store key: concurrent requests share it. */
  private readonly refreshing = new Map<string, Promise<SessionRecord>>();

  constructor(
    @Inject(ConfigService) config: ConfigService<AppConfigShape, true>,
    @InjectRedis() redis: Redis | null,
    @Inject(SessionMetrics) private readonly metrics: SessionMetrics,
    @InjectRootLogger() rootLogger: Logger,
    @Inject(OidcClient) private readonly oidc: OidcClient,
  ) {
    this.settings = config.getOrThrow(APP_CONFIG, { infer: true }).session as SessionConfig;
    this.cipher = new SessionCipher(this.settings.keys);
    this.logger = rootLogger.child({ context: 'Sessions' });
    if (redis === null) {
      const memory = new MemorySessionStore();
      metrics.measureActive(() => memory.live);
      this.store = memory;
    } else this.store = new RedisSessionStore(redis);
    this.index = redis === null ? new MemorySessionIndex() : new RedisSessionIndex(redis);
    this.refreshLock = redis === null ? new ProcessRefreshLock() : new RedisRefreshLock(redis);
    this.touchAfterMs = Math.min(60_000, (this.settings.idleTimeoutSeconds * 1000) / 10);
  }

  onApplicationShutdown(): void {
    this.store.close();
    this.index.close();
  }

  /** A new session for this login; resolves with its id, the cookie's value. */
  async create(login: LoginResult): Promise<string> {
    const id = randomBytes(SESSION_ID_BYTES).toString('base64url');
    const now = Date.now();
    const key = storeKey(id);
    const absoluteMs = this.settings.absoluteTimeoutSeconds * 1000;
    await this.save(key, {
      ...login,
      absoluteExpiresAt: now + absoluteMs,
      idleExpiresAt: now + this.settings.idleTimeoutSeconds * 1000,
    });
    await this.guarded(() => this.index.add(indexNames(login), key, absoluteMs));
    this.metrics.countCreated();
    this.logger.info({ session: shortOf(key) }, 'session created');
    return id;
  }

  async authenticate(request: FastifyRequest): Promise<SessionRecord> {
    return (await this.current(request)).record;
  }

  /**
   * The request's session and its store key: a 403 without `X-CSRF: 1` (checked first: it costs no
   * store read), a 401 without a live session.
   */
  async current(request: FastifyRequest): Promise<{ key: string; record: SessionRecord }> {
    if (request.headers[CSRF_HEADER] !== '1') {
      throw new SessionRefused('forbidden', 'The header X-CSRF: 1 is required.', false);
    }
    const id = request.cookies[SESSION_COOKIE];
    if (id === undefined || id === '') throw noSession(false);
    if (!SESSION_ID.test(id)) throw noSession(true);
    const key = storeKey(id);
    const loaded = await this.load(key);
    if (loaded === undefined) throw noSession(true);
    const { record, sealed } = loaded;
    const now = Date.now();
    // The refresh's write also pushes the idle deadline back: it is the one write then.
    if (this.refreshDue(record, now)) return { key, record: await this.refreshOnce(key) };
    const idleMs = this.settings.idleTimeoutSeconds * 1000;
    if (record.idleExpiresAt - now < idleMs - this.touchAfterMs) {
      const touched = { ...record, idleExpiresAt: now + idleMs };
      // Over the record read only: a refresh written meanwhile (a new, rotated refresh token) must
      // not be replaced by this older copy; that write has pushed the idle deadline back anyway.
      await this.swap(key, sealed, touched);
      return { key, record: touched };
    }
    return { key, record };
  }

  /** When the session ends if unused: its idle or its absolute deadline. */
  expiresAt(record: SessionRecord): Date {
    return new Date(Math.min(record.idleExpiresAt, record.absoluteExpiresAt));
  }

  async end(key: string, reason: SessionEndReason): Promise<void> {
    await this.guarded(() => this.store.delete(key));
    this.metrics.countEnded(reason);
    this.logger.info({ session: shortOf(key), reason }, 'session ended');
  }

  /**
   * Ends every session of the provider's session `sid` of issuer `iss`, or, without a `sid`, every
   * session of the user `sub`: a back-channel logout. Resolves with how many were indexed.
   */
  async endAllOf(who: { iss: string; sid?: string; sub?: string }): Promise<number> {
    const [name] = indexNames(who);
    const keys = await this.guarded(() => this.index.take(name));
    await Promise.all(keys.map((key) => this.end(key, 'backchannel_logout')));
    return keys.length;
  }

  /** The login cookie's value: sealed, so neither the browser nor anyone else can read or alter it. */
  sealLogin(checks: LoginChecks, returnTo: string): string {
    const state: LoginState = { ...checks, returnTo, expiresAt: Date.now() + LOGIN_TTL_S * 1000 };
    return this.cipher.seal(JSON.stringify(state), LOGIN_CONTEXT);
  }

  /** The login cookie's content, or undefined when it is missing, altered or out of date. */
  openLogin(sealed: string | undefined): LoginState | undefined {
    const text = sealed === undefined ? undefined : this.cipher.open(sealed, LOGIN_CONTEXT);
    if (text === undefined) return undefined;
    const state = JSON.parse(text) as LoginState;
    return state.expiresAt > Date.now() ? state : undefined;
  }

  /** Whether the access token expires within SESSION_REFRESH_BEFORE_S and can be refreshed. */
  private refreshDue(record: SessionRecord, now: number): boolean {
    return (
      record.refreshToken !== undefined &&
      record.accessTokenExpiresAt !== undefined &&
      record.accessTokenExpiresAt - now <= this.settings.refreshBeforeSeconds * 1000
    );
  }

  /** The session with fresh tokens; one refresh per session in this process, whoever asks. */
  private refreshOnce(key: string): Promise<SessionRecord> {
    let flight = this.refreshing.get(key);
    if (flight === undefined) {
      flight = this.refreshShared(key).finally(() => this.refreshing.delete(key));
      this.refreshing.set(key, flight);
    }
    return flight;
  }

  /**
   * One refresh per session across the replicas sharing the store: the one holding the lock
   * refreshes; the others read the stored session until it carries the new tokens, or take the
   * lock once it is free (its holder failed or died) and look again.
   */
  private async refreshShared(key: string): Promise<SessionRecord> {
    const lockName = `${REFRESH_LOCK_PREFIX}${hashOf(key)}`;
    const giveUpAt = Date.now() + REFRESH_LOCK_MS + 1000;
    for (;;) {
      const release = await this.guarded(() => this.refreshLock.acquire(lockName));
      if (release !== undefined) {
        try {
          return await this.refreshHolding(key, lockName);
        } finally {
          await release().catch(() => undefined);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, REFRESH_POLL_MS));
      const loaded = await this.load(key);
      // Ended meanwhile: another replica's refresh was refused, or a logout.
      if (loaded === undefined) throw await this.endedWhy(lockName);
      if (!this.refreshDue(loaded.record, Date.now())) return loaded.record;
      if (Date.now() > giveUpAt) throw refreshTimedOut();
    }
  }

  /** Holding the lock: the stored session, refreshed unless another replica just did. */
  private async refreshHolding(key: string, lockName: string): Promise<SessionRecord> {
    const loaded = await this.load(key);
    // Ended meanwhile: perhaps by the refusal of the refresh another replica held the lock for.
    if (loaded === undefined) throw await this.endedWhy(lockName);
    const { record } = loaded;
    if (!this.refreshDue(record, Date.now())) return record;
    let tokens: Awaited<ReturnType<OidcClient['refresh']>>;
    try {
      tokens = await this.oidc.refresh(record.refreshToken as string);
    } catch (error) {
      if (!(error instanceof RefreshRefused)) {
        this.metrics.countRefresh('unavailable');
        throw error;
      }
      this.metrics.countRefresh('refused');
      // The requests other replicas held waiting for this refresh answer `session-ended` too.
      await this.guarded(() => this.refreshLock.markRefused(lockName));
      await this.end(key, 'refresh_refused');
      throw sessionEnded();
    }
    const refreshed: SessionRecord = {
      ...record,
      accessToken: tokens.accessToken,
      accessTokenExpiresAt: tokens.accessTokenExpiresAt,
      refreshToken: tokens.refreshToken ?? record.refreshToken,
      idToken: tokens.idToken ?? record.idToken,
      // The absolute deadline stays: no refresh extends a session past it.
      idleExpiresAt: Date.now() + this.settings.idleTimeoutSeconds * 1000,
    };
    const sealed = this.sealRecord(key, refreshed);
    const stored = await this.guarded(() => this.store.replace(key, sealed, ttlOf(refreshed)));
    if (!stored) throw noSession(true);
    this.metrics.countRefresh('refreshed');
    this.logger.info({ session: shortOf(key) }, 'session refreshed');
    return refreshed;
  }

  /** Why a session found gone during a refresh ended: a refused refresh, or anything else. */
  private async endedWhy(lockName: string): Promise<SessionRefused> {
    return (await this.guarded(() => this.refreshLock.wasRefused(lockName)))
      ? sessionEnded()
      : noSession(true);
  }

  private async load(key: string): Promise<{ record: SessionRecord; sealed: string } | undefined> {
    const sealed = await this.guarded(() => this.store.get(key));
    const text = sealed === undefined ? undefined : this.cipher.open(sealed, key);
    if (text === undefined) return undefined;
    const record = JSON.parse(text) as SessionRecord;
    const now = Date.now();
    if (record.idleExpiresAt <= now || record.absoluteExpiresAt <= now) return undefined;
    // Under a key that is no longer first (SESSION_KEYS rotated): sealed again under the new one,
    // so that the old key can be dropped once every session has been used or has ended.
    if (!this.cipher.isCurrent(sealed as string)) {
      return { record, sealed: await this.swap(key, sealed as string, record) };
    }
    return { record, sealed: sealed as string };
  }

  private async save(key: string, record: SessionRecord): Promise<void> {
    const sealed = this.sealRecord(key, record);
    await this.guarded(() => this.store.set(key, sealed, ttlOf(record)));
  }

  /** Writes `record` over `expected` only; resolves with what it wrote. */
  private async swap(key: string, expected: string, record: SessionRecord): Promise<string> {
    const sealed = this.sealRecord(key, record);
    await this.guarded(() => this.store.swap(key, expected, sealed, ttlOf(record)));
    return sealed;
  }

  private sealRecord(key: string, record: SessionRecord): string {
    return this.cipher.seal(JSON.stringify(record), key);
  }

  private async guarded<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch {
      throw storeUnavailable();
    }
  }
}

/** A record lives until the earlier of its deadlines. */
function ttlOf(record: SessionRecord): number {
  return Math.max(1, Math.min(record.idleExpiresAt, record.absoluteExpiresAt) - Date.now());
}

/** The store holds the id's SHA-256, so reading the store gives nobody a cookie to present. */
function storeKey(id: string): string {
  return `${STORE_KEY_PREFIX}${hash('sha256', id, 'base64url')}`;
}

/** The SHA-256 of the session id that names its record, its refresh lock and its log lines. */
function hashOf(key: string): string {
  return key.slice(STORE_KEY_PREFIX.length);
}

/**
 * How log lines name a session: the start of its store key's hash, enough to follow one session
 * through the logs (and find its record in Redis), never its id, which is the cookie.
 */
function shortOf(key: string): string {
  return hashOf(key).slice(0, 10);
}
