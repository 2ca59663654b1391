import {
  ArgumentsHost,
  Catch,
  Controller,
  ExceptionFilter,
  Get,
  Inject,
  ServiceUnavailableException,
  UseFilters,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { JwtVerifier } from '../protection/jwt-verifier';
import { SessionTokenService } from '../upstream/session-token.service';
import { UpstreamBreaker } from '../upstream/upstream-breaker';
import { ShutdownState } from './shutdown-state';
import type Redis from 'ioredis';
import { InjectRedis } from '../redis/redis.module';
import { RedisDurability } from '../redis/redis-durability';
import { ConfigService } from '@nestjs/config';
import { APP_CONFIG, AppConfigShape } from '../config/app.config';

/**
 * Terminus reports a failing check as a ServiceUnavailableException holding the health report:
 * probes and operators get that report with its 503, not the problem+json of the API's errors.
 */
@Catch(ServiceUnavailableException)
class HealthReportFilter implements ExceptionFilter<ServiceUnavailableException> {
  catch(exception: ServiceUnavailableException, host: ArgumentsHost): void {
    void host.switchToHttp().getResponse<FastifyReply>().status(503).send(exception.getResponse());
  }
}

@ApiExcludeController()
@UseFilters(HealthReportFilter)
@Controller('health')
export class HealthController {
  private readonly requireDurable: boolean;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly sessionToken: SessionTokenService,
    private readonly breaker: UpstreamBreaker,
    private readonly shutdown: ShutdownState,
    @InjectRedis() private readonly redis: Redis | null,
    private readonly durability: RedisDurability,
    private readonly verifier: JwtVerifier,
    @Inject(ConfigService) config: ConfigService<AppConfigShape, true>,
  ) {
    this.requireDurable = config.getOrThrow(APP_CONFIG, { infer: true }).idempotency.requireDurable;
  }

  /** The process is up and serving HTTP; nothing else, so a failing upstream never restarts it. */
  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Whether this replica can serve the route now; 503 lists the failing checks. */
  @Get('ready')
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => {
        const shutdown = this.indicator.check('shutdown');
        return this.shutdown.draining ? shutdown.down({ message: 'draining' }) : shutdown.up();
      },
      () => {
        const token = this.indicator.check('sessionToken');
        const status = this.sessionToken.status();
        return status.expired
          ? token.down({ ...status, message: 'upstream session token expired' })
          : token.up({ ...status });
      },
      () => {
        const circuit = this.indicator.check('upstreamCircuit');
        return this.breaker.isOpen
          ? circuit.down({ state: 'open' })
          : circuit.up({ state: 'closed' });
      },
      ...(this.redis ? [() => this.redisCheck(this.redis as Redis)] : []),
      ...(this.verifier.enabled ? [() => this.jwksCheck()] : []),
    ]);
  }

  /** Down while callers' tokens cannot be verified (the route answers 503 meanwhile). */
  private async jwksCheck() {
    const check = this.indicator.check('jwks');
    const problem = await this.verifier.keySetProblem();
    return problem === undefined ? check.up() : check.down({ message: problem });
  }

  /**
   * Down while Idempotency-Key requests cannot be honoured (they answer 503 meanwhile), and with
   * IDEMPOTENCY_REQUIRE_DURABLE while Redis is not known to persist its keys.
   */
  private redisCheck(redis: Redis) {
    const check = this.indicator.check('redis');
    if (redis.status !== 'ready') return check.down({ state: redis.status });
    const { durable } = this.durability;
    if (this.requireDurable && durable !== true) {
      return check.down({
        durable: durable ?? 'unknown',
        message:
          'IDEMPOTENCY_REQUIRE_DURABLE: Redis is not known to keep an AOF; keyed requests get 503',
      });
    }
    return check.up({ durable });
  }
}
