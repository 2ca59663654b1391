import { Module } from '@nestjs/common';
import { CallerBudgets } from './caller-budgets';
import { CallerGuard } from './caller.guard';
import { JwtVerifier } from './jwt-verifier';

/** Who may spend the session token: budgets, JWT verification, and the guard that applies them. */
@Module({
  providers: [CallerBudgets, CallerGuard, JwtVerifier],
  exports: [CallerBudgets, CallerGuard, JwtVerifier],
})
export class ProtectionModule {}
