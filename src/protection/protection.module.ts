import { Module } from '@nestjs/common';
import { AddressBudgetGuard } from './address-budget.guard';
import { CallerBudgets } from './caller-budgets';
import { CallerGuard } from './caller.guard';
import { JwtVerifier } from './jwt-verifier';

/** Who may spend the session token: budgets, JWT verification, and the guard that applies them. */
@Module({
  providers: [CallerBudgets, CallerGuard, JwtVerifier, AddressBudgetGuard],
  exports: [CallerBudgets, CallerGuard, JwtVerifier, AddressBudgetGuard],
})
export class ProtectionModule {}
