import { Module } from '@nestjs/common';
import { CallerBudgets } from './caller-budgets';
import { CallerGuard } from './caller.guard';

/** Who may spend the session token: the budgets and the guard that applies them. */
@Module({
  providers: [CallerBudgets, CallerGuard],
  exports: [CallerBudgets, CallerGuard],
})
export class ProtectionModule {}
