/**
 * The example (docs/architecture.md) of calling the BFF from a frontend in session mode
 * (`AUTH_MODE=session`), typed by the generated types (openapi/openapi.d.ts). The page never sees a
 * token: the browser sends the session cookie by itself on same-origin calls, one middleware adds
 * `X-CSRF: 1` to every call, and a 401 (no session, or it ended) sends the user to the login.
 * test/session-mode.e2e-spec.ts runs it against a BFF logged in at a real provider.
 */
import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from '../openapi/openapi';

export function sessionClient(
  /** The page's own origin (`window.location.origin`): the BFF serves the frontend. */
  baseUrl: string,
  /** Where the page navigates to log in: `(url) => window.location.assign(url)` in a browser. */
  goToLogin: (loginUrl: string) => void,
  /** The page's own path, to come back to after the login. */
  currentPath: string,
  /** Tests only: a fetch with a cookie jar (a browser's fetch has one). */
  fetchWithCookies?: typeof fetch,
) {
  const session: Middleware = {
    onRequest: ({ request }) => {
      request.headers.set('X-CSRF', '1');
      return request;
    },
    onResponse: ({ response }) => {
      if (response.status === 401) {
        goToLogin(`/bff/login?returnTo=${encodeURIComponent(currentPath)}`);
      }
      return response;
    },
  };
  // Same origin: the cookie goes with `same-origin` (fetch's default). A frontend on another
  // origin listed in CORS_ORIGINS needs `credentials: 'include'` and the BFF's absolute URL.
  const api = createClient<paths>({
    baseUrl,
    credentials: 'same-origin',
    ...(fetchWithCookies && { fetch: fetchWithCookies }),
  });
  api.use(session);
  return api;
}

export async function createIntervention(
  api: ReturnType<typeof sessionClient>,
  scheduledStart: string,
  scheduledEnd: string,
): Promise<number | undefined> {
  const { data } = await api.POST('/interventions/v2/rs/preventive/routine', {
    body: { scheduledStart, scheduledEnd, creationStatus: 1, routineId: 1 },
  });
  return data?.data.id;
}
