import { Injectable } from '@nestjs/common';

/** Set when a termination signal arrives, so readiness fails before the listener closes. */
@Injectable()
export class ShutdownState {
  draining = false;
}
