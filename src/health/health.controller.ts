import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { SkipThrottle } from '@nestjs/throttler';
import type { FastifyReply } from 'fastify';
import { SessionTokenService } from '../upstream/session-token.service';
import { UpstreamBreaker } from '../upstream/upstream-breaker';
import { ShutdownState } from './shutdown-state';

@ApiExcludeController()
@SkipThrottle()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly sessionToken: SessionTokenService,
    private readonly breaker: UpstreamBreaker,
    private readonly shutdown: ShutdownState,
  ) {}

  /** The process is up and serving HTTP; nothing else, so a failing upstream never restarts it. */
  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Whether this replica can serve the route now; 503 lists the failing checks. */
  @Get('ready')
  async ready(@Res() reply: FastifyReply): Promise<void> {
    try {
      await reply.send(
        await this.health.check([
          () => this.indicator.check('config').up(),
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
        ]),
      );
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      await reply.status(503).send(error.getResponse());
    }
  }
}
