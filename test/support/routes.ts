import { ReadOneModule } from './read-one/read-one.module';
import { RescheduleModule } from './reschedule/reschedule.module';
import { ROUTE, VALID_BODY } from './bff';

/** One proxied route as a client sees it, for the checks every proxied route must pass. */
export interface ProxiedRouteCase {
  readonly operationId: string;
  readonly method: 'get' | 'post' | 'patch';
  /** The route template as Swagger and the metrics name it. */
  readonly template: string;
  /** A concrete path on the BFF, and where it lands upstream (same path, below the base URL). */
  readonly path: string;
  /** A valid body, and another one, for a route that takes a body. */
  readonly validBody?: Record<string, unknown>;
  readonly otherBody?: Record<string, unknown>;
  /** A concrete path to another record, where the route has one. */
  readonly otherPath?: string;
  /** A request the route refuses with 400 (a body, or a path with a query), and the field named. */
  readonly invalid: {
    readonly body?: Record<string, unknown>;
    readonly path?: string;
    readonly field: string;
  };
  readonly successStatus: number;
  /** Whether it honours Idempotency-Key (a POST by default). */
  readonly idempotent: boolean;
}

export const ROUTES: readonly ProxiedRouteCase[] = [
  {
    operationId: 'createPreventiveInterventionScheduled',
    method: 'post',
    template: ROUTE,
    path: ROUTE,
    validBody: VALID_BODY,
    otherBody: { ...VALID_BODY, routineId: 2 },
    invalid: {
      body: { ...VALID_BODY, scheduledEnd: '2024-02-30T00:00:00Z' },
      field: 'scheduledEnd',
    },
    successStatus: 201,
    idempotent: true,
  },
  {
    operationId: 'reschedulePreventiveIntervention',
    method: 'patch',
    template: `${ROUTE}/{id}`,
    path: `${ROUTE}/42`,
    otherPath: `${ROUTE}/43`,
    validBody: { scheduledStart: '2024-12-02T08:00:00.000Z' },
    otherBody: { scheduledEnd: '2024-12-06T17:00:00.000Z' },
    invalid: { body: { scheduledEnd: '2024-02-30T00:00:00Z' }, field: 'scheduledEnd' },
    successStatus: 200,
    idempotent: true, // opted in: a PATCH is not idempotent by default
  },
  {
    operationId: 'getPreventiveIntervention',
    method: 'get',
    template: `${ROUTE}/{id}`,
    path: `${ROUTE}/42`,
    otherPath: `${ROUTE}/43`,
    invalid: { path: `${ROUTE}/42?view=everything`, field: 'view' },
    successStatus: 200,
    idempotent: false,
  },
];

/** The test-only modules that register the routes beyond the shipped one. */
export const TEST_ROUTE_MODULES = [RescheduleModule, ReadOneModule];
