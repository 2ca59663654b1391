import { Inject } from '@nestjs/common';

export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

/**
 * This app's own pino logger, for services that log outside a request (token reloads, breaker
 * state). nestjs-pino's out-of-request logger is one per process, which several apps in one test
 * process would share.
 */
export const InjectRootLogger = () => Inject(ROOT_LOGGER);
