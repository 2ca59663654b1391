import { RescheduleModule } from './reschedule/reschedule.module';
import { ROUTE, VALID_BODY } from './bff';

/** One proxied route as a client sees it, for the checks every proxied route must pass. */
export interface ProxiedRouteCase {
  readonly operationId: string;
  readonly method: 'post' | 'patch';
  /** The route template as Swagger and the metrics name it. */
  readonly template: string;
  /** A concrete path on the BFF, and where it lands upstream (same path, below the base URL). */
  readonly path: string;
  readonly validBody: Record<string, unknown>;
  /** Another valid body, and a concrete path to another record where the route has one. */
  readonly otherBody: Record<string, unknown>;
  readonly otherPath?: string;
  readonly successStatus: number;
}

export const ROUTES: readonly ProxiedRouteCase[] = [
  {
    operationId: 'createPreventiveInterventionScheduled',
    method: 'post',
    template: ROUTE,
    path: ROUTE,
    validBody: VALID_BODY,
    otherBody: { ...VALID_BODY, routineId: 2 },
    successStatus: 201,
  },
  {
    operationId: 'reschedulePreventiveIntervention',
    method: 'patch',
    template: `${ROUTE}/{id}`,
    path: `${ROUTE}/42`,
    otherPath: `${ROUTE}/43`,
    validBody: { scheduledStart: '2024-12-02T08:00:00.000Z' },
    otherBody: { scheduledEnd: '2024-12-06T17:00:00.000Z' },
    successStatus: 200,
  },
];

/** The test-only modules that register the routes beyond the shipped one. */
export const TEST_ROUTE_MODULES = [RescheduleModule];
