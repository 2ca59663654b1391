import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { callerOf } from '../common/caller';
import { CallerBudgets, rateLimitHeaders } from './caller-budgets';

/**
 * The address's request budget alone (RATE_LIMIT_PER_ADDRESS_PER_MINUTE), for routes that spend
 * no session token but still cost something: the session mode's /bff/* (a login callback calls
 * the provider's token endpoint). Past it they answer 429 to everyone at that address, a valid
 * session included: only the proxied routes spare a valid session (CallerGuard).
 */
@Injectable()
export class AddressBudgetGuard implements CanActivate {
  constructor(private readonly budgets: CallerBudgets) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const left = await this.budgets.spendAddressRequest(
      callerOf(http.getRequest<FastifyRequest>()),
    );
    void http.getResponse<FastifyReply>().headers(rateLimitHeaders([left]));
    if (left?.refusal !== undefined) throw this.budgets.refused(left.refusal);
    return true;
  }
}
