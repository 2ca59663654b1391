/**
 * The example (docs/architecture.md) of calling the BFF from a frontend, typed by the types generated from the
 * BFF's OpenAPI document (openapi/openapi.d.ts, `npm run openapi`). The body of this function is
 * the documented lines; test/openapi-types.e2e-spec.ts type-checks this file so it cannot rot.
 */
import createClient from 'openapi-fetch';
import type { paths } from '../openapi/openapi';

export async function createIntervention(
  baseUrl: string,
  token: string,
  scheduledStart: string,
  scheduledEnd: string,
): Promise<void> {
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
  const { data, error } = await api.POST('/interventions/v2/rs/preventive/routine', {
    body: { scheduledStart, scheduledEnd, creationStatus: 1, routineId: 1 },
  });
  console.log(data ? data.data.id : error.detail);
}
